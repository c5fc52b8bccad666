"""Multi-scale Hessian vesselness (Frangi or Sato, scikit-image): the classical segmentation baseline
(:mod:`cerebro.segment.families.vesselness`) and the region of interest of the ``roi`` codec.

The volume is windowed and normalised to 0..1, resampled to isotropic voxels (the finest input spacing) so
that the scales can be given in millimetres, filtered for bright tubes at every scale (maximum over scales),
resampled back to the input grid, scaled to 0..1 by its maximum and thresholded. The documented rules:

- window: in a CT in Hounsfield units (air at -1000: :func:`cerebro.modality.in_hounsfield_units`) bone
  (> 700 HU) and the voxels within 2 mm of it are set to 0 HU and the rest clipped to the contrast-vessel window
  0-600 HU first, so that the skull is no bright structure and bone and air edges do not set Frangi's structure
  scale (vessels within 2 mm of bone are hidden too); every volume is then scaled by its 1st-99.9th percentiles;
- scales: geometric from the finest voxel size to max(2 mm, 3 voxels), four scales (:func:`default_sigmas`);
- threshold: Otsu's threshold over the voxels with a response (:func:`threshold_response`).
No weights are needed.
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk
from skimage.filters import frangi, sato, threshold_otsu

from cerebro.errors import CerebroError
from cerebro.io import volume_to_sitk
from cerebro.modality import BONE_HU, in_hounsfield_units
from cerebro.progress import Progress
from cerebro.volume import Volume

FILTERS = {"frangi": frangi, "sato": sato}
CT_VESSEL_WINDOW_HU = (0.0, 600.0)
BONE_MARGIN_MM = 2.0  # around bone (> 700 HU), also hidden from the filter: diploe and partial-volume rims


def window_for(volume: Volume, window: str | tuple[float, float] | None = "auto") -> tuple[float, float] | None:
    """The intensity window applied before normalisation: ``"auto"`` gives the CT vessel window for HU volumes
    (:func:`cerebro.modality.in_hounsfield_units`) and none otherwise; a pair is used as given; None means none."""
    if window == "auto":
        return CT_VESSEL_WINDOW_HU if in_hounsfield_units(volume) else None
    return None if window is None else (float(window[0]), float(window[1]))


def windowed(volume: Volume, window: str | tuple[float, float] | None = "auto") -> np.ndarray:
    """The intensities the filter sees: for a CT in HU under the ``"auto"`` window, bone (> 700 HU) and everything
    within :data:`BONE_MARGIN_MM` of it (the diploe between the skull's tables, the partial-volume rim) set to the
    window's low end (0 HU, so the skull is no bright structure) and the rest clipped to 0-600 HU; a given pair
    clips; no window leaves the array as it is."""
    clip = window_for(volume, window)
    if clip is None:
        return volume.array
    array = np.clip(volume.array.astype(np.float32), *clip)
    if window == "auto":
        array[grow_region(volume.array > BONE_HU, volume.spacing, BONE_MARGIN_MM)] = clip[0]
    return array


def vesselness(volume: Volume, sigmas_mm: list[float], method: str = "frangi",
               percentiles: tuple[float, float] = (1.0, 99.9), progress: Progress | None = None,
               window: str | tuple[float, float] | None = "auto", intensity: tuple[float, float] | None = None,
               normalise: bool = True) -> np.ndarray:
    """Bright-tube vesselness (k, j, i) float32 on the input grid, scales ``sigmas_mm`` in millimetres;
    ``window`` as :func:`window_for`. The windowed intensities are scaled to 0..1 between ``intensity`` (low, high),
    by default this volume's ``percentiles``; the response is divided by its maximum when ``normalise`` (0..1).
    A part of a larger volume is filtered as the whole would be when it is given the whole's ``intensity`` and
    ``normalise=False``."""
    if method not in FILTERS:
        raise CerebroError(f"unknown vesselness method '{method}'; use one of {', '.join(FILTERS)}")
    progress = progress or Progress()
    volume.require_finite()
    if window_for(volume, window) is not None:
        volume = volume.with_array(windowed(volume, window))
    low, high = np.percentile(volume.array, percentiles) if intensity is None else intensity
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
    peak = float(result.max()) if normalise else 0.0
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


REGION_VOXELS = 8 * 1024 * 1024
"""About this many voxels are filtered at a time by :func:`vessel_region` (whole slices, plus a halo on each
side), which bounds its memory on whole-head scans; smaller volumes are filtered whole."""


def intensity_range(volume: Volume, percentiles: tuple[float, float] = (1.0, 99.9),
                    window: str | tuple[float, float] | None = "auto") -> tuple[float, float]:
    """The (low, high) intensities :func:`vesselness` scales to 0..1: the ``percentiles`` after the ``window``."""
    low, high = np.percentile(windowed(volume, window), percentiles)
    return float(low), float(high)


def vessel_region(volume: Volume, threshold: float, margin_mm: float, progress: Progress | None = None) -> np.ndarray:
    """Voxels (bool, the volume's shape) of bright tubes: :func:`vesselness` at :func:`default_sigmas` (the CT
    vessel window for HU volumes) above ``threshold`` of its maximum, grown by ``margin_mm`` (:func:`grow_region`).

    The volume is filtered in slabs of about :data:`REGION_VOXELS` voxels with a halo of four times the largest
    scale on each side, so memory stays bounded on whole-head scans."""
    progress = progress or Progress()
    volume.require_finite()
    sigmas = default_sigmas(volume.spacing)
    window = window_for(volume)
    intensity = intensity_range(volume, window=window)
    depth = volume.shape[0]
    halo = int(math.ceil(4 * max(sigmas) / volume.spacing[2])) + 1
    response = np.empty(volume.shape, dtype=np.float32)
    slab = max(8, REGION_VOXELS // max(1, volume.shape[1] * volume.shape[2]))
    starts = range(0, depth, slab)
    for n, start in enumerate(starts):
        progress.update(n / len(starts), f"vesselness, slices {start}-{min(start + slab, depth) - 1}")
        low, high = max(0, start - halo), min(depth, start + slab + halo)
        part = Volume(volume.array[low:high], spacing=volume.spacing, direction=volume.direction)
        filtered = vesselness(part, sigmas, window=window, intensity=intensity, normalise=False)
        stop = min(start + slab, depth)
        response[start:stop] = filtered[start - low:stop - low]
    peak = float(response.max())
    progress.update(1.0, "vessel region")
    return grow_region(response > threshold * peak if peak > 0 else np.zeros(volume.shape, bool), volume.spacing,
                       margin_mm)


def grow_region(region: np.ndarray, spacing: tuple[float, float, float], margin_mm: float) -> np.ndarray:
    """``region`` (bool, (k, j, i)) grown by every voxel whose centre lies within ``margin_mm`` millimetres of it
    (Euclidean distance with the voxel ``spacing`` (si, sj, sk)); a margin of 0 leaves it unchanged."""
    from scipy import ndimage

    if margin_mm <= 0 or not region.any() or region.all():
        return region
    distance = ndimage.distance_transform_edt(~region, sampling=(spacing[2], spacing[1], spacing[0]))
    return distance <= margin_mm
