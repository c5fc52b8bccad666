"""The value every segmentation model returns: a label mask on the input grid, optional probabilities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cerebro.volume import Volume


@dataclass
class SegmentationResult:
    """Output of a segmentation model, on the grid of the input volume.

    ``mask``: uint8 label volume (0 = background) with the input's geometry.
    ``probabilities``: float32 foreground probability volume (the sum over all non-background classes)
    on the same grid, or None when not requested.
    ``labels``: label value -> name (e.g. ``{0: "background", 1: "vessel"}``).
    ``route``: the :class:`cerebro.segment.routing.Route` that picked the model (set by ``segment()``).
    """

    mask: Volume
    probabilities: Volume | None = None
    labels: dict[int, str] = field(default_factory=dict)
    route: Any = None
