"""The public phantom generator: one seeded vessel tree, voxelised, seen as CTA or TOF-MRA, with exact labels."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cerebro.errors import CerebroError
from cerebro.phantoms.appearance import MODALITIES, brain_region, render_image
from cerebro.phantoms.render import centerline_samples, centerline_voxels, render_fraction
from cerebro.phantoms.tree import BRAIN_SEMI_AXES_MM, SCALP_SKULL_MM, VesselTree, build_tree
from cerebro.progress import Progress
from cerebro.resources import require_memory
from cerebro.volume import Volume

DEFAULT_SPACING = {"mra": (0.35, 0.35, 0.5), "cta": (0.45, 0.45, 0.6)}
# LPS position (mm) of the brain centre: a plausible scanner placement, so origins are not zero.
BRAIN_CENTER_LPS = np.array([1.5, 18.0, 26.0])


BYTES_PER_VOXEL = 40
"""Peak memory of generating one phantom, per voxel (measured: about 34 bytes at 160^3)."""


@dataclass(eq=False)
class Phantom:
    """A synthetic angiogram and its ground truth, all on the same grid.

    ``image`` (int16 HU for CTA, uint16 for MRA), ``mask`` (uint8, 1 = vessel: voxels at least half inside a
    vessel), ``centerline_mask`` (uint8), ``fraction`` (float32 vessel volume fraction per voxel, in [0, 1]),
    ``centerline_points`` (N, 3) LPS mm of centreline samples (every half voxel) inside the field of view and
    ``radii`` (N,) the vessel radius there in mm; ``tree`` the full tree in grid-frame mm; ``stats`` summary numbers.
    """

    image: Volume
    mask: Volume
    centerline_mask: Volume
    centerline_points: np.ndarray
    radii: np.ndarray
    fraction: Volume
    modality: str
    seed: int
    tree: VesselTree
    stats: dict[str, Any] = field(default_factory=dict)


def generate_phantom(
    shape: int | tuple[int, int, int],
    modality: str,
    seed: int,
    spacing: tuple[float, float, float] | None = None,
    supersample: int = 4,
    progress: Progress | None = None,
) -> Phantom:
    """Generate a cerebrovascular phantom deterministically from ``seed``.

    ``shape`` is the array shape (nz, ny, nx) or one int for a cube; ``modality`` 'cta' or 'mra';
    ``spacing`` (si, sj, sk) mm defaults to 0.45 x 0.45 x 0.6 (CTA) or 0.35 x 0.35 x 0.5 (MRA). The same seed
    gives the same tree for both modalities. ``supersample`` is the sub-samples per axis for border voxels.
    The anatomy is at real size and the grid is a field of view onto it: the whole head is centred when it fits
    (about 190 mm), smaller grids are crops centred on the circle of Willis. Reports progress; cancellable.
    """
    if modality not in MODALITIES:
        raise CerebroError(f"unknown phantom modality {modality!r}; use one of: {', '.join(MODALITIES)}")
    shape_kji = _shape3(shape)
    spacing_ijk = tuple(float(s) for s in (spacing if spacing is not None else DEFAULT_SPACING[modality]))
    if len(spacing_ijk) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing_ijk):
        raise CerebroError(f"spacing must be three positive finite numbers in mm, got {spacing!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise CerebroError(f"the seed must be a whole number >= 0, got {seed!r}")
    require_memory(BYTES_PER_VOXEL * math.prod(shape_kji), f"a {'x'.join(map(str, shape_kji))} phantom",
                   "choose a smaller --size or --shape")
    if not 1 <= supersample <= 8:
        raise CerebroError(f"supersample must be 1..8 sub-samples per axis, got {supersample}")
    progress = progress or Progress()
    tree_rng, image_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))

    progress.update(0.0, "growing vessel tree")
    extent = np.asarray(spacing_ijk) * (np.asarray(shape_kji[::-1]) - 1)
    center = _brain_center(extent)
    tree = build_tree(center, tree_rng)

    fraction = render_fraction(tree, shape_kji, spacing_ijk, supersample, progress.sub(0.02, 0.75))
    image = render_image(fraction, tree, spacing_ijk, modality, image_rng, progress.sub(0.75, 0.97))
    mask = (fraction >= 0.5).astype(np.uint8)
    samples, sample_radii = centerline_samples(tree, 0.5 * min(spacing_ijk))
    centerline = centerline_voxels(samples, shape_kji, spacing_ijk)

    origin = BRAIN_CENTER_LPS - center  # identity direction: LPS = origin + spacing * index
    geometry = {"spacing": spacing_ijk, "origin": tuple(origin), "direction": np.eye(3)}
    meta = {"phantom": {"modality": modality, "seed": int(seed)}}
    half_voxel = 0.5 * np.asarray(spacing_ijk)
    inside = np.all((samples >= -half_voxel) & (samples < extent + half_voxel), axis=1)
    points = origin + samples[inside]
    brain = brain_region(shape_kji, spacing_ijk, tree)
    stats = _stats(tree, mask, fraction, brain, spacing_ijk)
    progress.update(1.0, "phantom ready")
    return Phantom(
        image=Volume(image, metadata={**meta, "modality": modality}, **geometry),
        mask=Volume(mask, metadata=dict(meta), **geometry),
        centerline_mask=Volume(centerline, metadata=dict(meta), **geometry),
        centerline_points=points,
        radii=sample_radii[inside],
        fraction=Volume(fraction, metadata=dict(meta), **geometry),
        modality=modality,
        seed=int(seed),
        tree=tree,
        stats=stats,
    )


def _brain_center(extent: np.ndarray) -> np.ndarray:
    """Grid-frame brain centre: the head is centred when it fits the field of view, else the view is centred
    on the circle of Willis (blending in between, per axis)."""
    head = BRAIN_SEMI_AXES_MM + SCALP_SKULL_MM[-1]
    ring_offset = np.array([0.0, -8.0, -0.45 * BRAIN_SEMI_AXES_MM[2]])
    weight = np.clip((2 * head - extent) / head, 0.0, 1.0)
    return extent / 2 - weight * ring_offset


def _stats(tree: VesselTree, mask: np.ndarray, fraction: np.ndarray, brain: np.ndarray,
           spacing: tuple[float, float, float]) -> dict[str, Any]:
    brain_voxels = int(np.count_nonzero(brain))
    radii = np.concatenate([tree.radius_start, tree.radius_end])
    return {
        "segments": tree.n_segments,
        "independent_cycles": tree.independent_cycles(),
        "vessel_voxels": int(np.count_nonzero(mask)),
        "vessel_fraction_of_brain": float(np.count_nonzero(mask & brain) / brain_voxels) if brain_voxels else 0.0,
        "vessel_fraction_of_volume": float(np.count_nonzero(mask) / mask.size),
        "partial_volume_sum_mm3": float(fraction.sum(dtype=np.float64) * np.prod(spacing)),
        "radius_min_mm": float(radii.min()),
        "radius_max_mm": float(radii.max()),
    }


def _shape3(shape: int | tuple[int, ...]) -> tuple[int, int, int]:
    values = (int(shape),) * 3 if np.isscalar(shape) else tuple(int(s) for s in shape)  # type: ignore[arg-type]
    if len(values) != 3 or min(values) < 8 or max(values) > 2048:
        raise CerebroError(f"phantom shape must be three sizes (nz, ny, nx) of 8..2048 voxels, got {shape!r}")
    return values  # type: ignore[return-value]
