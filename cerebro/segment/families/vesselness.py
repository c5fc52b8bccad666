"""Classical baseline: multi-scale Hessian vesselness (Frangi or Sato, scikit-image) plus a threshold.

The volume is normalised by percentiles to 0..1, resampled to isotropic voxels (the finest input
spacing) so that the scales can be given in millimetres, filtered for bright tubes at every scale
(maximum over scales), resampled back to the input grid, scaled to 0..1 by its maximum and
thresholded (Otsu over the voxels with a response, or a fixed value). No weights are needed.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from skimage.filters import frangi, sato, threshold_otsu

from cerebro.errors import CerebroError
from cerebro.io import volume_to_sitk
from cerebro.progress import Progress
from cerebro.segment.catalog import ModelEntry
from cerebro.segment.families.base import CatalogModel
from cerebro.segment.registry import register_family
from cerebro.segment.result import SegmentationResult
from cerebro.volume import Volume

FILTERS = {"frangi": frangi, "sato": sato}


def vesselness(volume: Volume, sigmas_mm: list[float], method: str = "frangi",
               percentiles: tuple[float, float] = (1.0, 99.9), progress: Progress | None = None) -> np.ndarray:
    """Bright-tube vesselness (k, j, i) float32 in 0..1 on the input grid, scales ``sigmas_mm`` in millimetres."""
    if method not in FILTERS:
        raise CerebroError(f"unknown vesselness method '{method}'; use one of {', '.join(FILTERS)}")
    progress = progress or Progress()
    volume.require_finite()
    low, high = np.percentile(volume.array, percentiles)
    scale = float(high - low) if high > low else 1.0
    image = sitk.Cast(volume_to_sitk(volume), sitk.sitkFloat32)
    iso = float(min(volume.spacing))
    size = [max(int(round(n * s / iso)), 1) for n, s in zip(image.GetSize(), image.GetSpacing())]
    resampled = sitk.Resample(image, size, sitk.Transform(), sitk.sitkLinear, image.GetOrigin(), (iso,) * 3,
                              image.GetDirection(), float(low), sitk.sitkFloat32)
    array = np.clip((sitk.GetArrayFromImage(resampled) - low) / scale, 0.0, 1.0)
    response = np.zeros_like(array)
    for n, sigma in enumerate(sigmas_mm):
        progress.update(n / len(sigmas_mm), f"vesselness at {sigma:g} mm")
        kwargs = {"black_ridges": False}
        if method == "frangi":
            kwargs["gamma"] = None
        np.maximum(response, FILTERS[method](array, sigmas=[sigma / iso], **kwargs).astype(np.float32), out=response)
    back = sitk.GetImageFromArray(response)
    back.CopyInformation(resampled)
    result = sitk.GetArrayFromImage(sitk.Resample(back, image, sitk.Transform(), sitk.sitkLinear, 0.0,
                                                  sitk.sitkFloat32))
    peak = float(result.max())
    progress.update(1.0, "vesselness done")
    return (result / peak if peak > 0 else result).astype(np.float32)


class VesselnessModel(CatalogModel):
    """The classical baseline as a SegmentationModel (options: method, sigmas_mm, percentiles, threshold)."""

    def predict(self, volume: Volume, tta: bool = True, progress: Progress | None = None,
                return_probabilities: bool = False) -> SegmentationResult:
        """Segment bright tubes; ``tta`` has no meaning for a filter and is ignored."""
        progress = progress or Progress()
        opts = self.entry.options
        response = vesselness(volume, list(opts.get("sigmas_mm", [0.5, 1.0, 1.5, 2.5])), opts.get("method", "frangi"),
                              tuple(opts.get("percentiles", (1.0, 99.9))), progress.sub(0.0, 0.95))
        threshold = opts.get("threshold", "otsu")
        if threshold == "otsu":
            positive = response[response > 0]
            threshold = threshold_otsu(positive) if positive.size and positive.max() > positive.min() else 0.5
        mask = volume.with_array((response > float(threshold)).astype(np.uint8))
        progress.update(1.0, "done")
        return SegmentationResult(mask=mask, probabilities=volume.with_array(response) if return_probabilities
                                  else None, labels=self.labels)


@register_family("vesselness")
def load(entry: ModelEntry, weights: object, device: object, allow_pickle: bool = False) -> VesselnessModel:
    """The filter has no weights and runs with NumPy on the CPU."""
    return VesselnessModel(entry)
