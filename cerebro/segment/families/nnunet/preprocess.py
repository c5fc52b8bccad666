"""nnU-Net v2's inference preprocessing and its inverse, on numpy arrays of shape (channels, x, y, z):
crop to the nonzero region, intensity normalization (CT / z-score / none / 0-1), resampling to the plans'
spacing (order 3, slice-wise with nearest-neighbour across slices when anisotropy > 3) and back."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_fill_holes, map_coordinates
from skimage.transform import resize

from cerebro.errors import CerebroError

ANISOTROPY_THRESHOLD = 3.0


def mask_bbox(mask: np.ndarray, margin: int = 0) -> tuple[slice, ...] | None:
    """Bounding box (slices) of the True voxels of ``mask``, grown by ``margin`` voxels on each side within it;
    None when there are none."""
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        nz = np.flatnonzero(mask.any(axis=other))
        if nz.size == 0:
            return None
        box.append(slice(max(int(nz[0]) - margin, 0), min(int(nz[-1]) + 1 + margin, mask.shape[axis])))
    return tuple(box)


def nonzero_bbox(data: np.ndarray) -> tuple[tuple[slice, ...], np.ndarray]:
    """Bounding box (slices) of the hole-filled nonzero mask of all channels, and that mask inside the box.

    An all-zero image keeps its full extent (nothing to crop)."""
    mask = binary_fill_holes(np.any(data != 0, axis=0))
    box = mask_bbox(mask)
    if box is None:
        return tuple(slice(0, n) for n in mask.shape), np.ones(mask.shape, dtype=bool)
    return box, mask[box]


def normalize(image: np.ndarray, scheme: str, properties: dict[str, float] | None, use_mask: bool,
              nonzero: np.ndarray | None) -> np.ndarray:
    """One channel normalised in float32 the way nnU-Net's scheme ``scheme`` does it.

    CTNormalization: clip to [percentile_00_5, percentile_99_5] of the training foreground, then
    (x - mean) / std. ZScoreNormalization: (x - mean) / std of this image, inside ``nonzero`` only when
    ``use_mask`` (outside stays unchanged). RescaleTo01Normalization: min-max to [0, 1].
    """
    image = image.astype(np.float32, copy=True)
    eps = 1e-8
    if scheme == "CTNormalization":
        if properties is None:
            raise CerebroError("CT normalization needs the plans' foreground intensity properties")
        np.clip(image, properties["percentile_00_5"], properties["percentile_99_5"], out=image)
        image -= properties["mean"]
        image /= max(properties["std"], eps)
    elif scheme == "ZScoreNormalization":
        if use_mask and nonzero is not None:
            values = image[nonzero]
            image[nonzero] = (values - values.mean()) / max(float(values.std()), eps)
        else:
            image -= image.mean()
            image /= max(float(image.std()), eps)
    elif scheme == "RescaleTo01Normalization":
        image -= image.min()
        image /= max(float(image.max()), eps)
    elif scheme != "NoNormalization":
        raise CerebroError(f"unsupported nnU-Net normalization '{scheme}'")
    return image


def new_shape_for_spacing(shape, spacing, target_spacing) -> list[int]:
    """Voxel counts after resampling ``shape`` from ``spacing`` to ``target_spacing`` (nnU-Net's rounding)."""
    return [int(round(s / t * n)) for n, s, t in zip(shape, spacing, target_spacing)]


def _separate_z_axis(current_spacing, new_spacing, force_separate_z) -> int | None:
    """The axis to resample separately (nearest across slices), or None (nnU-Net's decision rule)."""

    def low_res_axes(spacing):
        spacing = np.asarray(spacing, dtype=float)
        return np.flatnonzero(spacing.max() / spacing == 1)

    if force_separate_z is not None:
        axes = low_res_axes(current_spacing) if force_separate_z else None
    elif max(current_spacing) / min(current_spacing) > ANISOTROPY_THRESHOLD:
        axes = low_res_axes(current_spacing)
    elif max(new_spacing) / min(new_spacing) > ANISOTROPY_THRESHOLD:
        axes = low_res_axes(new_spacing)
    else:
        axes = None
    if axes is None or len(axes) != 1:
        return None
    return int(axes[0])


def resample(data: np.ndarray, new_shape, current_spacing, new_spacing, order: int = 3, order_z: int = 0,
              force_separate_z: bool | None = None, **_ignored) -> np.ndarray:
    """Resample (channels, x, y, z) ``data`` to ``new_shape`` like nnU-Net; returns float32.

    Without anisotropy: skimage ``resize`` (spline ``order``, edge mode, no anti-aliasing). When the
    spacing is anisotropic (> 3x) along one axis: 2D resize of every slice across it, then ``order_z``
    interpolation along it.
    """
    new_shape = [int(n) for n in new_shape]
    if list(data.shape[1:]) == new_shape:
        return data.astype(np.float32, copy=False)
    axis = _separate_z_axis(current_spacing, new_spacing, force_separate_z)
    out = np.empty((data.shape[0], *new_shape), dtype=np.float32)
    for c in range(data.shape[0]):
        channel = data[c].astype(np.float64, copy=False)
        if axis is None:
            out[c] = resize(channel, new_shape, order=order, mode="edge", anti_aliasing=False)
            continue
        in_plane = [n for a, n in enumerate(new_shape) if a != axis]
        moved = np.moveaxis(channel, axis, 0)
        slices = np.stack([resize(s, in_plane, order=order, mode="edge", anti_aliasing=False) for s in moved])
        slices = np.moveaxis(slices, 0, axis)
        if slices.shape[axis] == new_shape[axis]:
            out[c] = slices
            continue
        scale = np.array(slices.shape, dtype=float) / np.array(new_shape, dtype=float)
        grid = np.meshgrid(*[np.arange(n, dtype=float) for n in new_shape], indexing="ij")
        coords = [scale[a] * (grid[a] + 0.5) - 0.5 for a in range(3)]
        out[c] = map_coordinates(slices, coords, order=order_z, mode="nearest")
    return out
