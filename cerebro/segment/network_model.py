"""What the catalog families share: a model built from a catalog entry and, for the networks, one predict skeleton
(image -> network grid -> sliding windows -> input grid -> labels) whose steps each family fills in."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from cerebro.progress import Progress
from cerebro.segment.catalog import ModelEntry
from cerebro.segment.device import effective_precision
from cerebro.segment.result import SegmentationResult
from cerebro.volume import Volume

if TYPE_CHECKING:
    import torch
    from torch import nn


class CatalogModel(ABC):
    """A loaded model of a catalog entry (implements :class:`cerebro.segment.registry.SegmentationModel`)."""

    device: Any = "cpu"

    def __init__(self, entry: ModelEntry) -> None:
        self.entry = entry

    @property
    def labels(self) -> dict[int, str]:
        """Label value -> name of the masks this model writes."""
        return dict(self.entry.labels or {0: "background", 1: "vessel"})

    @property
    def input_recipe(self) -> dict[str, Any]:
        """What the model expects of an image (the catalog entry's ``input``: spacing, orientation, intensities)."""
        return dict(self.entry.input)

    @abstractmethod
    def predict(self, volume: Volume, tta: bool = True, progress: Progress | None = None,
                return_probabilities: bool = False, precision: str = "auto") -> SegmentationResult:
        """Segment ``volume``; the mask (uint8 labels) and probabilities (float32 foreground probability,
        only when asked for) have exactly the input's shape and geometry; ``precision`` as
        :func:`cerebro.segment.device.effective_precision`."""


class NetworkModel(CatalogModel):
    """A PyTorch network run over the image in sliding windows (MONAI), kept in eval mode on ``device``.

    A family sets the window defaults (overridden by the entry's ``window`` / ``overlap`` / ``sw_batch_size``
    options), ``half_precision`` (whether inference may autocast to float16 on CUDA) and fills in
    :meth:`to_network`, :meth:`activation`, :meth:`to_input` and :meth:`decide`."""

    half_precision = False
    default_window: tuple[int, int, int] = (64, 64, 64)
    default_overlap = 0.5
    default_batch = 1
    patch_transform: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __init__(self, entry: ModelEntry, network: nn.Module, device: Any) -> None:
        super().__init__(entry)
        self.network = network.eval()
        self.device = device

    def predict(self, volume: Volume, tta: bool = True, progress: Progress | None = None,
                return_probabilities: bool = False, precision: str = "auto") -> SegmentationResult:
        progress = progress or Progress()
        volume.require_finite()
        progress.update(0.0, "preparing the network input")
        image, context = self.to_network(volume)
        probs = self.windows(image, tta, progress.sub(0.05, 0.9), precision)
        progress.update(0.9, "resampling back to the input grid")
        mask, foreground = self.decide(self.to_input(probs, context, volume))
        progress.update(1.0, "done")
        result_mask = volume.with_array(mask.astype(np.uint8))
        result_mask.metadata["segmentation_model"] = {
            "precision": effective_precision(self.device, precision, self.half_precision)}
        return SegmentationResult(mask=result_mask,
                                  probabilities=volume.with_array(foreground.astype(np.float32))
                                  if return_probabilities else None, labels=self.labels)

    def windows(self, image: np.ndarray, tta: bool, progress: Progress, precision: str = "auto") -> np.ndarray:
        """Activated network outputs (C_out, x, y, z) of ``image`` (C, x, y, z) on the network grid."""
        from cerebro.segment.sliding import sliding_window_predict

        opts = self.entry.options
        return sliding_window_predict(
            self.network, image, opts.get("window", list(self.default_window)), self.overlap(),
            opts.get("sw_batch_size", self.default_batch), self.device, self.activation, tta=tta,
            half_precision=self.half_precision, patch_transform=type(self).patch_transform, progress=progress,
            precision=precision)

    def overlap(self) -> float | list[float]:
        """Window overlap (a fraction, or one per network axis)."""
        return self.entry.options.get("overlap", self.default_overlap)

    @abstractmethod
    def to_network(self, volume: Volume) -> tuple[np.ndarray, Any]:
        """The network's input array (C, x, y, z) float32 and what :meth:`to_input` needs to go back."""

    @abstractmethod
    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        """Window logits (B, C, ...) -> probabilities."""

    @abstractmethod
    def to_input(self, probs: np.ndarray, context: Any, volume: Volume) -> np.ndarray:
        """Probabilities on the network grid -> (C, k, j, i) on ``volume``'s grid."""

    @abstractmethod
    def decide(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (C, k, j, i) on the input grid -> label mask and foreground probability (k, j, i)."""
