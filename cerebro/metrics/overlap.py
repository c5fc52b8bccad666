"""Overlap between binary segmentation masks (numpy arrays or Volumes of the same shape)."""

from __future__ import annotations

import numpy as np

from cerebro.errors import CerebroError
from cerebro.volume import Volume


def dice(reference: np.ndarray | Volume, test: np.ndarray | Volume) -> float:
    """Dice coefficient 2|A and B| / (|A| + |B|) of two binary masks (nonzero = foreground), in [0, 1].

    Two empty masks agree perfectly (1.0). Raises CerebroError when the shapes differ.
    """
    a = np.asarray(reference.array if isinstance(reference, Volume) else reference) != 0
    b = np.asarray(test.array if isinstance(test, Volume) else test) != 0
    if a.shape != b.shape:
        raise CerebroError(f"masks have different shapes {a.shape} and {b.shape}; compare masks on the same grid")
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    if total == 0:
        return 1.0
    return 2.0 * int(np.count_nonzero(a & b)) / total
