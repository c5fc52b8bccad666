"""Classical baseline: multi-scale Hessian vesselness (Frangi or Sato, scikit-image) plus a threshold.

The volume is windowed and normalised to 0..1, resampled to isotropic voxels (the finest input spacing) so
that the scales can be given in millimetres, filtered for bright tubes at every scale (maximum over scales),
resampled back to the input grid, scaled to 0..1 by its maximum and thresholded. The documented rules:

- window: a CT in Hounsfield units (minimum <= -500, i.e. air at -1000) is clipped to the contrast-vessel window
  0-600 HU first, so that bone and air edges do not set Frangi's structure scale; every volume is then scaled by
  its 1st-99.9th percentiles;
- scales: geometric from the finest voxel size to max(2 mm, 3 voxels), four scales (:func:`default_sigmas`);
- threshold: Otsu's threshold over the voxels with a response (:func:`threshold_response`).
No weights are needed.
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
CT_VESSEL_WINDOW_HU = (0.0, 600.0)
HU_AIR_BELOW = -500.0



def window_for(volume: Volume, window: str | tuple[float, float] | None = "auto") -> tuple[float, float] | None:
    """The intensity window applied before normalisation: ``"auto"`` gives the CT vessel window for HU volumes
    (minimum <= -500) and none otherwise; a pair is used as given; None means none."""
    if window == "auto":
        return CT_VESSEL_WINDOW_HU if float(volume.array.min()) <= HU_AIR_BELOW else None
    return None if window is None else (float(window[0]), float(window[1]))


def vesselness(volume: Volume, sigmas_mm: list[float], method: str = "frangi",
               percentiles: tuple[float, float] = (1.0, 99.9), progress: Progress | None = None,
               window: str | tuple[float, float] | None = "auto") -> np.ndarray:
    """Bright-tube vesselness (k, j, i) float32 in 0..1 on the input grid, scales ``sigmas_mm`` in millimetres;
    ``window`` as :func:`window_for`."""
    if method not in FILTERS:
        raise CerebroError(f"unknown vesselness method '{method}'; use one of {', '.join(FILTERS)}")
    progress = progress or Progress()
    volume.require_finite()
    clip = window_for(volume, window)
    if clip is not None:
        volume = volume.with_array(np.clip(volume.array.astype(np.float32), *clip))
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


def default_sigmas(spacing: tuple[float, ...], count: int = 4, largest_mm: float = 2.0) -> list[float]:
    """Scales (mm) from the spacing: geometric from the finest voxel size to ``max(largest_mm, 3 voxels)``."""
    finest = float(min(spacing))
    return [float(v) for v in np.geomspace(finest, max(largest_mm, 3 * finest), count)]


def threshold_response(response: np.ndarray, threshold: float | str = "otsu") -> float:
    """The decision threshold on a 0..1 response: a number as given, or 'otsu' (Otsu's threshold over the voxels
    with a response > 0; 0.5 when they are all equal)."""
    if threshold != "otsu":
        return float(threshold)
    positive = response[response > 0]
    return float(threshold_otsu(positive)) if positive.size and positive.max() > positive.min() else 0.5


def vesselness_mask(volume: Volume, sigmas_mm: list[float] | None = None, method: str = "frangi",
                    percentiles: tuple[float, float] = (1.0, 99.9), threshold: float | str = "otsu",
                    progress: Progress | None = None, window: str | tuple[float, float] | None = "auto") -> Volume:
    """0/1 uint8 mask of bright tubes on ``volume``'s grid: vesselness at ``sigmas_mm`` (default from the
    spacing, :func:`default_sigmas`) above :func:`threshold_response`."""
    sigmas = list(sigmas_mm) if sigmas_mm else default_sigmas(volume.spacing)
    response = vesselness(volume, sigmas, method, percentiles, progress, window)
    return volume.with_array((response > threshold_response(response, threshold)).astype(np.uint8))


def centreline_prior(image: Volume) -> Volume:
    """The centreline prior channel: the skeleton of :func:`vesselness_mask` (0/1 float32 on the image's grid),
    made from the image alone so that training and inference compute the same channel."""
    from cerebro.metrics.topology import skeleton

    return image.with_array(skeleton(vesselness_mask(image).array > 0).astype(np.float32))


class VesselnessModel(CatalogModel):
    """The classical baseline as a SegmentationModel (options: method, sigmas_mm (null: from the spacing),
    percentiles, window, threshold)."""

    def predict(self, volume: Volume, tta: bool = True, progress: Progress | None = None,
                return_probabilities: bool = False) -> SegmentationResult:
        """Segment bright tubes; ``tta`` has no meaning for a filter and is ignored."""
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
