"""Classical baseline model: the multi-scale Hessian vesselness of :mod:`cerebro.vesselness` plus a threshold
(the rules of the window, scales and threshold are documented there). No weights are needed."""

from __future__ import annotations

import numpy as np

from cerebro.progress import Progress
from cerebro.segment.catalog import ModelEntry
from cerebro.segment.network_model import CatalogModel
from cerebro.segment.registry import register_family
from cerebro.segment.result import SegmentationResult
from cerebro.vesselness import default_sigmas, threshold_response, vesselness
from cerebro.volume import Volume


class VesselnessModel(CatalogModel):
    """The classical baseline as a SegmentationModel (options: method, sigmas_mm (null: from the spacing),
    percentiles, window, threshold)."""

    def predict(self, volume: Volume, tta: bool = True, progress: Progress | None = None,
                return_probabilities: bool = False, precision: str = "auto") -> SegmentationResult:
        """Segment bright tubes; ``tta`` and ``precision`` have no meaning for a filter (float64 / float32 throughout)
        and are ignored."""
        progress = progress or Progress()
        opts = self.entry.options
        sigmas = list(opts.get("sigmas_mm") or default_sigmas(volume.spacing))
        response = vesselness(volume, sigmas, opts.get("method", "frangi"),
                              tuple(opts.get("percentiles", (1.0, 99.9))), progress.sub(0.0, 0.95),
                              opts.get("window", "auto"))
        threshold = threshold_response(response, opts.get("threshold", "otsu"))
        mask = volume.with_array((response > threshold).astype(np.uint8))
        progress.update(1.0, "done")
        return SegmentationResult(mask=mask, probabilities=volume.with_array(response) if return_probabilities
                                  else None, labels=self.labels)


@register_family("vesselness")
def load(entry: ModelEntry, weights: object, device: object, allow_pickle: bool = False) -> VesselnessModel:
    """The filter has no weights and runs with NumPy on the CPU."""
    return VesselnessModel(entry)
