"""Voxel-wise quality metrics between an original volume and its decompressed copy.

All functions take two arrays of the same shape (any numeric dtype; computed in float64, slab by slab
so that large volumes need little extra memory) and return plain Python floats.
"""

from __future__ import annotations

import math

import numpy as np

from cerebro.errors import CerebroError

# Slabs along axis 0 processed at a time by the error metrics (bounds the float64 temporaries).
_SLAB_VOXELS = 4_000_000
# Volumes above this many voxels get SSIM on evenly spaced slabs (see ssim3d_details).
SSIM_FULL_VOLUME_MAX_VOXELS = 16_000_000
_SSIM_WINDOW = 7


def _check_pair(reference: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference, test = np.asarray(reference), np.asarray(test)
    if reference.shape != test.shape:
        raise CerebroError(f"cannot compare arrays of shapes {reference.shape} and {test.shape}; resample first")
    if reference.size == 0:
        raise CerebroError("cannot compare empty arrays")
    return reference, test


def _slabs(shape: tuple[int, ...]) -> list[slice]:
    per_slice = max(1, int(np.prod(shape[1:])))
    step = max(1, _SLAB_VOXELS // per_slice)
    return [slice(s, min(s + step, shape[0])) for s in range(0, shape[0], step)]


def _sum_sq_and_max(reference: np.ndarray, test: np.ndarray, unit: float = 1.0) -> tuple[float, float]:
    """Sum of squared differences in units of ``unit`` (so values near the float64 limit do not overflow) and
    the largest absolute difference in image units."""
    total, peak = 0.0, 0.0
    for s in _slabs(reference.shape):
        diff = reference[s].astype(np.float64) - test[s].astype(np.float64)
        peak = max(peak, float(np.abs(diff).max()))
        diff /= unit
        total += float(np.dot(diff.ravel(), diff.ravel()))
    return total, peak


def default_data_range(reference: np.ndarray) -> float:
    """The data range used by PSNR/SSIM when none is given: ``reference.max() - reference.min()``."""
    reference = np.asarray(reference)
    return float(reference.max()) - float(reference.min())


def max_abs_error(reference: np.ndarray, test: np.ndarray) -> float:
    """Largest absolute voxel difference, in the image's intensity units: exact, counted slab by slab in integers
    for two integer arrays of one type (a quarter of the work of float64 on int16), else in float64."""
    reference, test = _check_pair(reference, test)
    integers = reference.dtype == test.dtype and reference.dtype.kind in "iu"
    wide = np.int64 if reference.dtype.itemsize >= 4 else np.int32
    peak = 0.0
    for s in _slabs(reference.shape):
        if integers:
            diff = np.subtract(test[s], reference[s], dtype=wide)
        else:
            diff = test[s].astype(np.float64) - reference[s].astype(np.float64)
        peak = max(peak, float(diff.max()), -float(diff.min()))
    return peak


def rmse(reference: np.ndarray, test: np.ndarray) -> float:
    """Root-mean-square voxel difference, in the image's intensity units."""
    reference, test = _check_pair(reference, test)
    return math.sqrt(_sum_sq_and_max(reference, test)[0] / reference.size)


def psnr(reference: np.ndarray, test: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range**2 / MSE)``; ``inf`` for identical arrays.

    ``data_range`` defaults to ``reference.max() - reference.min()`` (the original's own range).
    """
    reference, test = _check_pair(reference, test)
    peak = default_data_range(reference) if data_range is None else float(data_range)
    if not peak > 0:
        raise CerebroError(f"PSNR needs a positive data range, got {peak}; the reference volume is constant")
    relative_mse = _sum_sq_and_max(reference, test, unit=peak)[0] / reference.size  # MSE / peak^2
    if relative_mse == 0:
        return math.inf
    return -10.0 * math.log10(relative_mse)


def ssim3d(reference: np.ndarray, test: np.ndarray, data_range: float | None = None) -> float:
    """Mean 3D structural similarity (scikit-image, 7x7x7 uniform window); 1.0 for identical arrays.

    Volumes larger than ``SSIM_FULL_VOLUME_MAX_VOXELS`` are scored on evenly spaced slabs along axis 0
    (see :func:`ssim3d_details`, which also says how it was computed).
    """
    return ssim3d_details(reference, test, data_range)[0]


def ssim3d_details(
    reference: np.ndarray, test: np.ndarray, data_range: float | None = None
) -> tuple[float, str]:
    """3D SSIM and a one-line description of how it was computed (full volume or which slabs).

    Uses ``skimage.metrics.structural_similarity`` with a cubic uniform window of 7 voxels (smaller, odd,
    when a dimension is shorter), ``data_range`` defaulting to the reference's max - min. Volumes above
    ``SSIM_FULL_VOLUME_MAX_VOXELS`` voxels: the mean over 2 to 8 slabs of 16 slices (about that many voxels
    in all), evenly spaced along axis 0 (deterministic).
    """
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        raise CerebroError("SSIM needs scikit-image; install it with: pip install scikit-image") from None

    reference, test = _check_pair(reference, test)
    peak = default_data_range(reference) if data_range is None else float(data_range)
    if not peak > 0:
        raise CerebroError(f"SSIM needs a positive data range, got {peak}; the reference volume is constant")
    window = min(_SSIM_WINDOW, *reference.shape)
    window -= 1 - window % 2  # largest odd size that fits
    if window < 3:
        raise CerebroError(f"SSIM needs at least 3 voxels along every axis, got shape {reference.shape}")

    def score(a: np.ndarray, b: np.ndarray) -> float:
        # SSIM is unchanged by dividing both volumes and the data range by the same number; in units of the
        # data range, values near the float64 limit (1e200) cannot overflow skimage's squares.
        scaled_a, scaled_b = a.astype(np.float64) / peak, b.astype(np.float64) / peak
        return float(structural_similarity(scaled_a, scaled_b, win_size=window, data_range=1.0, channel_axis=None))

    if reference.size <= SSIM_FULL_VOLUME_MAX_VOXELS:
        return score(reference, test), f"full volume, {window}^3 window, data range {peak:g}"
    thickness = min(16, reference.shape[0])
    slab_voxels = thickness * reference.size // reference.shape[0]
    count = min(max(2, SSIM_FULL_VOLUME_MAX_VOXELS // slab_voxels), 8, reference.shape[0] // thickness)
    starts = np.linspace(0, reference.shape[0] - thickness, count).round().astype(int)
    values = [score(reference[s:s + thickness], test[s:s + thickness]) for s in starts]
    note = (f"mean over {count} slabs of {thickness} slices evenly spaced along axis 0 "
            f"(of {reference.shape[0]}), {window}^3 window, data range {peak:g}")
    return float(np.mean(values)), note
