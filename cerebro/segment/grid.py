"""Moving volumes between the input grid and a network's grid (orientation + spacing) with SimpleITK.

A network grid keeps the input's physical extent: the image is reoriented by axis permutation/flips
only (``DICOMOrient``, whose codes name where each axis points: RAS means index x grows to the Right,
y Anterior, z Superior, as MONAI's ``Orientation(axcodes="RAS")``), then resampled to the network
spacing (linear). Network arrays are channel-first ``(C, x, y, z)`` like MONAI's; results go back to
the input grid by linear resampling in physical space, so shape, spacing, origin and direction match the input exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk

from cerebro.io import volume_to_sitk
from cerebro.volume import Volume


def network_grid(volume: Volume, orientation: str | None, spacing_mm: Sequence[float] | None) -> sitk.Image:
    """The input as a float32 SimpleITK image reoriented to ``orientation`` and resampled to ``spacing_mm``."""
    image = sitk.Cast(volume_to_sitk(volume), sitk.sitkFloat32)
    if orientation is not None:
        image = sitk.DICOMOrient(image, orientation.upper())
    if spacing_mm is not None and not np.allclose(image.GetSpacing(), spacing_mm, rtol=1e-6, atol=0):
        old_size = np.array(image.GetSize())
        old_spacing = np.array(image.GetSpacing())
        new_spacing = np.asarray(spacing_mm, dtype=float)
        new_size = np.maximum(np.round(old_size * old_spacing / new_spacing), 1).astype(int)
        # keep the physical centre of the field of view where it was
        centre = image.TransformContinuousIndexToPhysicalPoint(((old_size - 1) / 2.0).tolist())
        direction = np.array(image.GetDirection()).reshape(3, 3)
        origin = np.array(centre) - direction @ (new_spacing * (new_size - 1) / 2.0)
        image = sitk.Resample(image, [int(n) for n in new_size], sitk.Transform(), sitk.sitkLinear,
                              origin.tolist(), new_spacing.tolist(), image.GetDirection(), 0.0, sitk.sitkFloat32)
    return image


def to_channel_first(image: sitk.Image) -> np.ndarray:
    """A SimpleITK image as a MONAI-style ``(1, x, y, z)`` float32 array."""
    return np.ascontiguousarray(sitk.GetArrayFromImage(image).transpose(2, 1, 0)[None], dtype=np.float32)


def back_to_input(channels: np.ndarray, grid: sitk.Image, volume: Volume, default: Sequence[float]) -> np.ndarray:
    """Resample ``(C, x, y, z)`` maps on ``grid`` onto the input volume's grid; returns ``(C, k, j, i)`` float32.

    ``default[c]`` fills input voxels outside the network grid (e.g. 1 for background probability).
    """
    reference = volume_to_sitk(volume)
    out = np.empty((channels.shape[0], *volume.shape), dtype=np.float32)
    for c, channel in enumerate(channels):
        image = sitk.GetImageFromArray(np.ascontiguousarray(channel.transpose(2, 1, 0), dtype=np.float32))
        image.CopyInformation(grid)
        resampled = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, float(default[c]),
                                  sitk.sitkFloat32)
        out[c] = sitk.GetArrayFromImage(resampled)
    return out


def network_input(volume: Volume, spec: Mapping[str, Any]) -> tuple[sitk.Image, np.ndarray]:
    """The input recipe shared by the MONAI-style families: check finite, resample to the catalog's
    orientation/spacing, and scale intensities with ``spec["intensity"]`` (MONAI ScaleIntensityRange kwargs).

    Returns the network grid (for mapping results back) and the (1, z, y, x) float32 network input."""
    from monai.transforms import ScaleIntensityRange

    volume.require_finite()
    grid = network_grid(volume, spec.get("orientation"), spec.get("spacing_mm"))
    image = np.asarray(ScaleIntensityRange(**spec["intensity"])(to_channel_first(grid)), dtype=np.float32)
    return grid, image
