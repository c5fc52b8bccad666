"""Surface distances between binary masks in millimetres: the 95th-percentile Hausdorff distance (HD95) and the
average symmetric surface distance, computed as MONAI and the Medical Segmentation Decathlon do (border voxels
= mask minus its 6-connected erosion; Euclidean distance to the other mask's border, with the voxel spacing)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cerebro.metrics.overlap import cropped_pair
from cerebro.volume import Volume


def _spacing_kji(reference: np.ndarray | Volume, spacing: Sequence[float] | None) -> tuple[float, float, float]:
    """Voxel size along the array axes (k, j, i): a Volume's own spacing (x, y, z) reversed, else ``spacing``
    (x, y, z) reversed, else 1 mm."""
    if spacing is None:
        spacing = reference.spacing if isinstance(reference, Volume) else (1.0, 1.0, 1.0)
    return tuple(float(s) for s in reversed(tuple(spacing)))  # type: ignore[return-value]


def _border(mask: np.ndarray) -> np.ndarray:
    from scipy.ndimage import binary_erosion

    return mask & ~binary_erosion(mask)


def surface_distances(reference: np.ndarray | Volume, test: np.ndarray | Volume,
                      spacing: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distances (mm) from each border voxel of ``reference`` to the border of ``test``, and the other way round.

    ``spacing`` (x, y, z) mm is taken from a Volume when not given (1 mm for bare arrays). Both arrays are
    empty when either mask is empty. The work is done in the bounding box of the two masks (exact)."""
    from scipy.ndimage import distance_transform_edt

    a, b = cropped_pair(reference, test)
    if not a.any() or not b.any():
        return np.zeros(0), np.zeros(0)
    sampling = _spacing_kji(reference, spacing)
    border_a, border_b = _border(a), _border(b)
    a_to_b = distance_transform_edt(~border_b, sampling=sampling)[border_a]
    b_to_a = distance_transform_edt(~border_a, sampling=sampling)[border_b]
    return a_to_b, b_to_a


def surface_metrics(reference: np.ndarray | Volume, test: np.ndarray | Volume,
                    spacing: Sequence[float] | None = None) -> dict[str, float]:
    """``hd95_mm``: the symmetric 95th-percentile Hausdorff distance (the larger of the two directed 95th
    percentiles); ``assd_mm``: the average symmetric surface distance. Both are 0 for two empty masks and
    infinite when exactly one is empty."""
    a_to_b, b_to_a = surface_distances(reference, test, spacing)
    if a_to_b.size == 0 or b_to_a.size == 0:
        a, b = cropped_pair(reference, test)
        value = 0.0 if not a.any() and not b.any() else math.inf
        return {"hd95_mm": value, "assd_mm": value}
    return {"hd95_mm": float(max(np.percentile(a_to_b, 95), np.percentile(b_to_a, 95))),
            "assd_mm": float((a_to_b.sum() + b_to_a.sum()) / (a_to_b.size + b_to_a.size))}


def hausdorff95(reference: np.ndarray | Volume, test: np.ndarray | Volume,
                spacing: Sequence[float] | None = None) -> float:
    """Symmetric 95th-percentile Hausdorff distance (mm); see :func:`surface_metrics`."""
    return surface_metrics(reference, test, spacing)["hd95_mm"]
