"""Turn a vessel partial-volume fraction into a TOF-MRA-like or CTA-like image.

Both modalities share a head model around the brain ellipsoid of the tree: brain, a CSF rim, the skull and the
scalp (thicknesses in :data:`cerebro.phantoms.tree.SCALP_SKULL_MM`), then air; borders are softened over one voxel.
Each voxel is ``(1 - f) * tissue + f * vessel`` with ``f`` the vessel fraction (partial volume).

- CTA (Hounsfield units, int16): brain 32 +- 4 HU, CSF 8, skull 1150, scalp 40, air -1000, contrast-filled
  vessels 260-400 HU, additive Gaussian noise (sigma 10 HU).
- TOF-MRA (arbitrary units, uint16): brain 140 +- 15, CSF 50, skull 25, scalp fat 180, air 0, inflowing blood
  520-680; a smooth multiplicative bias field (+-20 %), Rician noise (sigma 12).
Work is done slab by slab so that large volumes need little memory beyond the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cerebro.errors import CerebroError
from cerebro.phantoms.tree import SCALP_SKULL_MM, VesselTree
from cerebro.progress import Progress

SLAB_VOXELS = 4_000_000  # voxels processed at once (bounds the temporary memory)
MODALITIES = ("cta", "mra")

# Tissue values inside-out: brain, CSF, skull, scalp, air (at boundaries 0 mm and SCALP_SKULL_MM beyond the brain).
CTA_TISSUE = (32.0, 8.0, 1150.0, 40.0, -1000.0)
MRA_TISSUE = (140.0, 50.0, 25.0, 180.0, 0.0)


@dataclass
class _Waves:
    """A smooth random field: a sum of plane cosine waves, evaluable on any slab (values about in [-1, 1])."""

    wavenumbers: np.ndarray  # (m, 3) rad/mm, (k, j, i) order
    phases: np.ndarray  # (m,)

    @classmethod
    def random(cls, rng: np.random.Generator, count: int, wavelength_mm: tuple[float, float]) -> _Waves:
        directions = rng.normal(size=(count, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        wavelengths = rng.uniform(*wavelength_mm, count)
        return cls(directions * (2 * np.pi / wavelengths)[:, None], rng.uniform(0, 2 * np.pi, count))

    def evaluate(self, coordinates: list[np.ndarray]) -> np.ndarray:
        total = np.zeros(np.broadcast_shapes(*(c.shape for c in coordinates)), dtype=np.float32)
        for k, phase in zip(self.wavenumbers.astype(np.float32), self.phases.astype(np.float32)):
            total += np.cos(coordinates[0] * k[0] + coordinates[1] * k[1] + coordinates[2] * k[2] + phase)
        return total * np.float32(np.sqrt(2.0 / len(self.phases)))


def render_image(
    fraction: np.ndarray,
    tree: VesselTree,
    spacing: tuple[float, float, float],
    modality: str,
    rng: np.random.Generator,
    progress: Progress | None = None,
) -> np.ndarray:
    """Image array (nz, ny, nx) for ``modality`` ('cta' int16 HU, 'mra' uint16) from a vessel ``fraction`` array."""
    if modality not in MODALITIES:
        raise CerebroError(f"unknown phantom modality {modality!r}; use one of: {', '.join(MODALITIES)}")
    spacing_kji = np.asarray(spacing, dtype=np.float64)[::-1]
    center = tree.brain_center[::-1].astype(np.float32)
    axes = tree.brain_semi_axes[::-1].astype(np.float32)
    texture = _Waves.random(rng, 8, (12.0, 40.0))
    vessel_texture = _Waves.random(rng, 4, (40.0, 120.0))
    bias = _Waves.random(rng, 4, (150.0, 300.0))
    is_cta = modality == "cta"
    out = np.empty(fraction.shape, dtype=np.int16 if is_cta else np.uint16)
    edge = float(np.mean(spacing_kji))
    slabs = _slabs(fraction.shape)
    for s, (z0, z1) in enumerate(slabs):
        coordinates = _coordinates((z0, z1), fraction.shape, spacing_kji)
        depth = _depth_below_brain_surface(coordinates, center, axes)
        f = fraction[z0:z1]
        if is_cta:
            tissue = _layers(depth, CTA_TISSUE, edge) + 4.0 * texture.evaluate(coordinates) * (depth < 0)
            vessel = 330.0 + 70.0 * vessel_texture.evaluate(coordinates)
            image = (1 - f) * tissue + f * vessel + rng.normal(0.0, 10.0, f.shape).astype(np.float32)
            out[z0:z1] = np.clip(np.rint(image), -1024, 3071).astype(np.int16)
        else:
            tissue = _layers(depth, MRA_TISSUE, edge) + 15.0 * texture.evaluate(coordinates) * (depth < 0)
            vessel = 600.0 + 80.0 * vessel_texture.evaluate(coordinates)
            clean = ((1 - f) * tissue + f * vessel) * (1.0 + 0.2 * np.tanh(bias.evaluate(coordinates)))
            real = clean + rng.normal(0.0, 12.0, f.shape).astype(np.float32)
            imaginary = rng.normal(0.0, 12.0, f.shape).astype(np.float32)
            out[z0:z1] = np.clip(np.rint(np.sqrt(real**2 + imaginary**2)), 0, 65535).astype(np.uint16)
        if progress is not None:
            progress.update((s + 1) / len(slabs), f"{modality.upper()} appearance")
    return out


def brain_region(shape: tuple[int, int, int], spacing: tuple[float, float, float], tree: VesselTree) -> np.ndarray:
    """Boolean array (nz, ny, nx): voxel centres inside the brain ellipsoid of ``tree``."""
    spacing_kji = np.asarray(spacing, dtype=np.float64)[::-1]
    center = tree.brain_center[::-1].astype(np.float32)
    axes = tree.brain_semi_axes[::-1].astype(np.float32)
    region = np.empty(shape, dtype=bool)
    for z0, z1 in _slabs(shape):
        coordinates = _coordinates((z0, z1), shape, spacing_kji)
        region[z0:z1] = _depth_below_brain_surface(coordinates, center, axes) < 0
    return region


def _slabs(shape: tuple[int, ...]) -> list[tuple[int, int]]:
    """Ranges of slices of about SLAB_VOXELS voxels each."""
    step = max(1, SLAB_VOXELS // (int(shape[1]) * int(shape[2])))
    return [(z, min(int(shape[0]), z + step)) for z in range(0, int(shape[0]), step)]


def _coordinates(slab: tuple[int, int], shape: tuple[int, ...], spacing_kji: np.ndarray) -> list[np.ndarray]:
    """Broadcastable float32 grid-frame coordinates (mm) of the voxel centres of slices slab[0]:slab[1]."""
    ranges = (np.arange(*slab), np.arange(shape[1]), np.arange(shape[2]))
    return [(r * spacing_kji[d]).astype(np.float32).reshape([-1 if d == e else 1 for e in range(3)])
            for d, r in enumerate(ranges)]


def _depth_below_brain_surface(coordinates: list[np.ndarray], center: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Radial distance (mm) to the brain ellipsoid surface along the ray from its centre; negative inside."""
    rel = [coordinates[d] - center[d] for d in range(3)]
    radius = np.sqrt(rel[0] ** 2 + rel[1] ** 2 + rel[2] ** 2)
    level = np.sqrt((rel[0] / axes[0]) ** 2 + (rel[1] / axes[1]) ** 2 + (rel[2] / axes[2]) ** 2)
    return radius * (1.0 - 1.0 / np.maximum(level, np.float32(1e-6)))


def _layers(depth: np.ndarray, values: tuple[float, ...], edge_mm: float) -> np.ndarray:
    """Nested tissue shells: ``values[0]`` inside the brain, then one value per shell of SCALP_SKULL_MM."""
    boundaries = (0.0, *SCALP_SKULL_MM)
    tissue = np.full(depth.shape, values[-1], dtype=np.float32)
    for boundary, inner, outer in zip(boundaries, values[:-1], values[1:]):
        inside = np.clip(0.5 + (boundary - depth) / edge_mm, 0.0, 1.0)
        tissue += inside * np.float32(inner - outer)
    return tissue
