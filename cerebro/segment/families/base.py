"""The small interface every segmentation family implements, shared by the API, CLI and Slicer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from cerebro.progress import Progress
from cerebro.segment.catalog import ModelEntry
from cerebro.segment.result import SegmentationResult
from cerebro.volume import Volume

if TYPE_CHECKING:
    from torch import nn


class SegmentationModel(ABC):
    """A loaded model: ``predict`` turns a Volume into a mask (and optional probabilities) on its grid."""

    def __init__(self, entry: ModelEntry) -> None:
        self.entry = entry

    @property
    def labels(self) -> dict[int, str]:
        """Label value -> name of the masks this model writes."""
        return dict(self.entry.labels or {0: "background", 1: "vessel"})

    @abstractmethod
    def predict(self, volume: Volume, tta: bool = True, progress: Progress | None = None,
                return_probabilities: bool = False) -> SegmentationResult:
        """Segment ``volume``; the mask (uint8 labels) and probabilities (float32 foreground probability,
        only when asked for) have exactly the input's shape and geometry."""


class NetworkModel(SegmentationModel):
    """A SegmentationModel around a PyTorch network, kept in eval mode and run on ``device``.

    ``half_precision``: whether inference may autocast to float16 (on CUDA); each family sets it.
    """

    half_precision = False

    def __init__(self, entry: ModelEntry, network: nn.Module, device: Any) -> None:
        super().__init__(entry)
        self.network = network.eval()
        self.device = device
