"""Voxelise a vessel tree: the fraction of each voxel inside the vessels (partial volume), by sub-voxel sampling.

Each segment is a tapered capsule (the points within ``r0 + t (r1 - r0)`` of the segment ``a + t (b - a)``).
The volume is processed in slabs of slices; per slab:
1. at voxel centres, the signed distance to the union of capsules (minimum over segments), evaluated only in
   each segment's bounding box;
2. voxels deeper than half a voxel diagonal inside are fully vessel, farther outside fully background;
3. the others (the border) are sampled on an ``n x n x n`` sub-grid and their fraction is the share of
   sub-samples inside any capsule.
Memory beyond the output is a few slab-sized arrays; time grows with the number of segments in the field of view.
"""

from __future__ import annotations

import numpy as np

from cerebro.phantoms.tree import VesselTree
from cerebro.progress import Progress

SLAB_SLICES = 32


def render_fraction(
    tree: VesselTree,
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    supersample: int = 4,
    progress: Progress | None = None,
) -> np.ndarray:
    """Vessel volume fraction in [0, 1] per voxel, float32 array of ``shape`` (nz, ny, nx).

    ``spacing`` is (si, sj, sk) in mm; the tree is in grid-frame mm (index * spacing, see :mod:`tree`).
    """
    spacing_kji = np.asarray(spacing, dtype=np.float64)[::-1]
    shape_kji = np.asarray(shape, dtype=np.int64)
    a = tree.nodes[tree.edges[:, 0]][:, ::-1]  # (k, j, i)-ordered mm, matching the array axes
    b = tree.nodes[tree.edges[:, 1]][:, ::-1]
    r0, r1 = tree.radius_start, tree.radius_end
    reach = np.maximum(r0, r1)[:, None]
    lo = np.floor((np.minimum(a, b) - reach) / spacing_kji).astype(np.int64) - 1
    hi = np.ceil((np.maximum(a, b) + reach) / spacing_kji).astype(np.int64) + 2
    lo, hi = np.maximum(lo, 0), np.minimum(hi, shape_kji)
    visible = np.all(hi > lo, axis=1)
    a, b, r0, r1, lo, hi = a[visible], b[visible], r0[visible], r1[visible], lo[visible], hi[visible]

    fraction = np.zeros(tuple(shape), dtype=np.float32)
    half_diagonal = 0.5 * float(np.linalg.norm(spacing_kji))
    offsets = _subsample_offsets(supersample, spacing_kji)
    n_slabs = -(-int(shape[0]) // SLAB_SLICES)
    for s in range(n_slabs):
        z0, z1 = s * SLAB_SLICES, min(int(shape[0]), (s + 1) * SLAB_SLICES)
        in_slab = np.nonzero((lo[:, 0] < z1) & (hi[:, 0] > z0))[0]
        slab_lo = lo[in_slab].copy()
        slab_hi = hi[in_slab].copy()
        slab_lo[:, 0] = np.maximum(slab_lo[:, 0], z0) - z0
        slab_hi[:, 0] = np.minimum(slab_hi[:, 0], z1) - z0
        origin = np.array([z0, 0, 0]) * spacing_kji
        segments = (a[in_slab] - origin, b[in_slab] - origin, r0[in_slab], r1[in_slab], slab_lo, slab_hi)
        fraction[z0:z1] = _render_slab((z1 - z0, int(shape[1]), int(shape[2])), spacing_kji, segments,
                                       half_diagonal, offsets)
        if progress is not None:
            progress.update((s + 1) / n_slabs, "voxelising vessels")
    return fraction


def _render_slab(shape: tuple[int, int, int], spacing: np.ndarray, segments: tuple, half_diagonal: float,
                 offsets: np.ndarray) -> np.ndarray:
    a, b, r0, r1, lo, hi = segments
    distance = np.full(shape, np.inf, dtype=np.float32)
    for n in range(len(a)):
        box = tuple(slice(lo[n, d], hi[n, d]) for d in range(3))
        grid = [(np.arange(lo[n, d], hi[n, d]) * spacing[d]).reshape([-1 if d == e else 1 for e in range(3)])
                for d in range(3)]
        sd = _capsule_distance(grid, a[n], b[n], r0[n], r1[n])
        np.minimum(distance[box], sd, out=distance[box])

    fraction = (distance <= -half_diagonal).astype(np.float32)
    border = np.abs(distance) < half_diagonal * 1.01
    n_border = int(np.count_nonzero(border))
    if n_border == 0:
        return fraction
    border_row = np.full(shape, -1, dtype=np.int64)
    border_row[border] = np.arange(n_border)
    sub_distance = np.full((n_border, len(offsets)), np.inf, dtype=np.float32)
    for n in range(len(a)):
        box = tuple(slice(lo[n, d], hi[n, d]) for d in range(3))
        rows = border_row[box]
        local = np.nonzero(rows >= 0)
        if len(local[0]) == 0:
            continue
        centres = (np.stack(local, axis=1) + lo[n]) * spacing  # (m, 3) mm
        points = centres[:, None, :] + offsets[None, :, :]  # (m, s, 3)
        grid = [points[..., d] for d in range(3)]
        sd = _capsule_distance(grid, a[n], b[n], r0[n], r1[n])
        target = rows[local]
        sub_distance[target] = np.minimum(sub_distance[target], sd)
    fraction[border] = (sub_distance <= 0).mean(axis=1, dtype=np.float32)
    return fraction


def _capsule_distance(grid: list[np.ndarray], a: np.ndarray, b: np.ndarray, r0: float, r1: float) -> np.ndarray:
    """Signed distance (mm, negative inside) from broadcastable coordinate arrays to a tapered capsule."""
    ab = b - a
    length2 = float(ab @ ab) or 1e-12
    p = [grid[d] - a[d] for d in range(3)]
    t = np.clip((p[0] * ab[0] + p[1] * ab[1] + p[2] * ab[2]) / length2, 0.0, 1.0)
    d2 = (p[0] - t * ab[0]) ** 2 + (p[1] - t * ab[1]) ** 2 + (p[2] - t * ab[2]) ** 2
    return (np.sqrt(d2) - (r0 + t * (r1 - r0))).astype(np.float32)


def _subsample_offsets(n: int, spacing: np.ndarray) -> np.ndarray:
    """(n^3, 3) offsets (mm) of a regular n x n x n sub-grid within a voxel, around its centre."""
    steps = (np.arange(n) + 0.5) / n - 0.5
    grid = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), axis=-1).reshape(-1, 3)
    return grid * spacing


def centerline_voxels(tree: VesselTree, shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> np.ndarray:
    """uint8 mask (nz, ny, nx) of the voxels that the segment centrelines pass through (sampled every 1/2 voxel)."""
    spacing_ijk = np.asarray(spacing, dtype=np.float64)
    a = tree.nodes[tree.edges[:, 0]] / spacing_ijk
    b = tree.nodes[tree.edges[:, 1]] / spacing_ijk
    counts = np.ceil(np.linalg.norm(b - a, axis=1) * 2).astype(np.int64) + 1
    which = np.repeat(np.arange(len(a)), counts)
    t = (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)) / np.repeat(counts - 1, counts)
    points = np.rint(a[which] + t[:, None] * (b - a)[which]).astype(np.int64)
    inside = np.all((points >= 0) & (points < np.asarray(shape)[::-1]), axis=1)
    i, j, k = points[inside].T
    mask = np.zeros(tuple(shape), dtype=np.uint8)
    mask[k, j, i] = 1
    return mask
