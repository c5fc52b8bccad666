"""Every segmentation metric of a test mask against a reference, in one call (what the benchmark tabulates)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cerebro.metrics.overlap import confusion, cropped_pair
from cerebro.metrics.surface import surface_metrics
from cerebro.metrics.topology import betti_errors, cldice
from cerebro.volume import Volume


def segmentation_metrics(reference: np.ndarray | Volume, test: np.ndarray | Volume,
                         spacing: Sequence[float] | None = None, surface: bool = True,
                         topology: bool = True) -> dict[str, float]:
    """Dice, IoU, sensitivity, precision, volume similarity, and optionally HD95 / ASSD (mm; ``spacing`` (x, y, z)
    or a Volume's own) and clDice with the Betti-number errors. Keys: ``dice``, ``iou``, ``sensitivity``,
    ``precision``, ``volume_similarity``, ``hd95_mm``, ``assd_mm``, ``cldice``, ``b0_error``, ``b1_error``,
    ``b2_error``; ``tp``/``fp``/``fn``/``tn`` voxel counts for pooling over cases."""
    counts = confusion(reference, test)
    result: dict[str, float] = {**counts.ratios(), "tp": counts.tp, "fp": counts.fp, "fn": counts.fn,
                                "tn": counts.tn}
    if surface or topology:  # both are exact on the union's bounding box: cut the volumes once
        if spacing is None:
            spacing = reference.spacing if isinstance(reference, Volume) else (1.0, 1.0, 1.0)
        a, b = cropped_pair(reference, test)
        if surface:
            result.update(surface_metrics(a, b, spacing))
        if topology:
            result["cldice"] = cldice(a, b)
            result.update(betti_errors(a, b))
    return result
