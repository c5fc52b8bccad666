"""Held-out evaluation families for the default model: generators built for the evaluation only and never used
in training (their code is not imported by the training recipe). Each case is a :class:`HeldOutCase` with an
image Volume in scanner units and the exact 0/1 vessel mask (voxels at least half inside a vessel).

- ``ct-tubes``: straight and circular-arc tubes of 1-3 in-plane voxels radius at about 350 HU in 30 HU tissue,
  a 1200 HU skull shell and air outside, anisotropic 0.42-0.5 x 0.6 mm voxels, an oblique direction (the
  simple CT-like volume that the first default model failed on);
- ``mr-tubes``: the same analytic tubes, TOF-MRA-like: bright blood (3-4x tissue) in textured tissue, a bias
  field, Rician noise, no bright bone;
- ``tree-fine``: our vessel tree at 0.2 mm isotropic (finer than any training case), TOF-MRA appearance;
- ``tree-coarse``: our vessel tree at 1.1 x 1.1 x 1.2 mm (coarser than any training case), CTA appearance with
  the whole skull in view;
- ``mni-vessels``: our vessel tree painted as inflowing blood into the real MR intensities of the MNI152 T1
  template (nilearn's wheel; brain, CSF, skull, bright scalp fat) upsampled to 0.5 mm, with Rician noise;
- ``cta-bone``: skull-base CTA: a carotid-like vessel through a bony canal that touches it in places, smaller
  vessels lying on a bone plate, trabecular bone texture and air cells, 0.45 x 0.45 x 0.6 mm;
- ``ct-head``: a whole head in CTA (about 125 x 155 x 135 mm at 0.6-0.7 x 0.6-0.7 x 0.8-1.0 mm): an ellipsoidal
  skull with tables and diploe, scalp and air, a skull-base shelf with air cells, two carotid-like arteries rising
  through it in bony canals, arteries as straight tubes and arcs in the brain, the superior sagittal sinus and the
  falx (neither labelled), oblique direction;
- ``ct-calcified``: CTA arteries (1.2-2.5 mm radius) with calcified plaques (900-1500 HU) along their walls
  narrowing the lumen (the label is the lumen), next to a skull shell;
- ``ct-venous``: low arterial contrast (arteries 150-190 HU, as in a late or venous-phase scan) with a bright
  unlabelled venous sinus against the skull shell and noise 15-20 HU.

The CT families are in HU: a row also gives the share of predicted voxels on bone (> 700 HU).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, zoom
from scipy.spatial.transform import Rotation

from cerebro.errors import CerebroError
from cerebro.phantoms import generate_phantom
from cerebro.phantoms.render import render_fraction
from cerebro.train.synthetic import grid_coordinates
from cerebro.train.tubes import Segments
from cerebro.volume import Volume

HELD_OUT_SEED_BASE = 700_000


@dataclass
class HeldOutCase:
    """One evaluation case: image (scanner units), exact mask (uint8) on the same grid, its family and modality."""

    family: str
    seed: int
    image: Volume
    mask: Volume
    modality: str = ""


CT_FAMILIES = ("ct-tubes", "tree-coarse", "cta-bone", "ct-head", "ct-calcified", "ct-venous")


def _analytic_tubes(extent_xyz: np.ndarray, rng: np.random.Generator, radii_mm: tuple[float, float],
                    count: int) -> Segments:
    """Straight tubes and circular arcs across the box (not the training's random walks)."""
    segments = Segments()
    centre = extent_xyz / 2
    for n in range(count):
        radius = float(rng.uniform(*radii_mm))
        if n % 2 == 0:  # straight line through a random point
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            point = centre + rng.uniform(-0.35, 0.35, 3) * extent_xyz
            length = float(np.linalg.norm(extent_xyz))
            ts = np.linspace(-length, length, 80)
            points = point + ts[:, None] * direction
        else:  # circular arc of radius 8-30 mm in a random plane
            bend = float(rng.uniform(8, 30))
            u, v = np.linalg.qr(rng.normal(size=(3, 2)))[0].T
            middle = centre + rng.uniform(-0.3, 0.3, 3) * extent_xyz
            angles = np.linspace(0, 2 * np.pi, 120)
            points = middle + bend * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * v)
        for a, b in zip(points[:-1], points[1:]):
            segments.add(a, b, radius, radius)
    return segments


def _rician(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return np.sqrt((image + rng.normal(0, sigma, image.shape)) ** 2 + rng.normal(0, sigma, image.shape) ** 2)


def _volume(array: np.ndarray, spacing_kji: np.ndarray, rng: np.random.Generator, oblique: bool = False) -> Volume:
    direction = Rotation.from_euler("xyz", rng.uniform(-25, 25, 3), degrees=True).as_matrix() if oblique \
        else np.eye(3)
    return Volume(array, spacing=tuple(float(s) for s in spacing_kji[::-1]),
                  origin=tuple(float(v) for v in rng.uniform(-80, 80, 3)), direction=direction)


def _tubes_case(seed: int, mr: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    inplane = rng.uniform(0.42, 0.5) if not mr else rng.uniform(0.35, 0.45)
    spacing = np.array([0.6 if not mr else inplane * 1.3, inplane, inplane])
    shape = (96, 112, 112)
    extent_xyz = (np.asarray(shape) * spacing)[::-1]
    tubes = _analytic_tubes(extent_xyz, rng, (1.0 * inplane, 3.0 * inplane), int(rng.integers(6, 11)))
    fraction = render_fraction(tubes.tree(), shape, tuple(spacing[::-1]), supersample=4)
    inside, bone, air = _shell_box(shape, spacing)
    fraction = fraction * inside
    rest = 1 - fraction - bone - air
    if not mr:
        image = rest * 30 + fraction * rng.uniform(320, 380) + bone * 1200 - 1000 * air
        image = image + rng.normal(0, 12, shape)
        return np.clip(np.rint(image), -1024, 3071).astype(np.int16), (fraction >= 0.5).astype(np.uint8), spacing
    texture = gaussian_filter(rng.normal(size=shape), 4) * 60
    bias = 1 + 0.25 * np.tanh(zoom(rng.normal(size=(3, 3, 3)), np.asarray(shape) / 3, order=3))
    image = (rest * (120 + texture) + fraction * rng.uniform(380, 480) + bone * 25 + air * 0) * bias
    image = _rician(image, 10.0, rng)
    return np.clip(np.rint(image), 0, 65535).astype(np.uint16), (fraction >= 0.5).astype(np.uint8), spacing


def _tree(seed: int, modality: str, shape: int, spacing: tuple[float, float, float]) -> tuple[Volume, Volume]:
    phantom = generate_phantom(shape, modality, seed, spacing=spacing)
    return phantom.image, phantom.mask


def _mni_case(seed: int) -> tuple[Volume, Volume]:
    from cerebro.train.synthetic import mni_template

    template = mni_template()
    if template is None:
        raise CerebroError("the mni-vessels family needs nilearn (pip install nilearn) for the MNI152 template")
    rng = np.random.default_rng(seed)
    spacing = (0.5, 0.5, 0.5)
    shape = 128  # 64 mm field of view, around the circle of Willis
    phantom = generate_phantom(shape, "mra", seed, spacing=spacing)
    # MNI voxel (i, j, k) of the circle of Willis is about (98, 120, 60); a 64 mm crop, upsampled x2
    centre = np.array([60, 120, 98]) + rng.integers(-6, 7, 3)  # (k, j, i) in the template's array order
    half = shape // 4
    crop = template.transpose(2, 1, 0)[tuple(slice(c - half, c + half) for c in centre)].astype(np.float32)
    tissue = zoom(crop, 2.0, order=3)[:shape, :shape, :shape]
    white = float(np.percentile(tissue, 90))
    fraction = phantom.fraction.array
    image = (1 - fraction) * tissue * (250.0 / white) + fraction * rng.uniform(550, 650)
    image = _rician(image, 12.0, rng)
    array = np.clip(np.rint(image), 0, 65535).astype(np.uint16)
    return phantom.image.with_array(array), phantom.mask


def _cta_bone_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    spacing = np.array([0.6, 0.45, 0.45])
    shape = (96, 112, 112)
    extent_xyz = (np.asarray(shape) * spacing)[::-1]
    # carotid-like S-curve through the volume
    t = np.linspace(0, 1, 100)
    path = np.stack([extent_xyz[0] * (0.5 + 0.2 * np.sin(2 * np.pi * t + rng.uniform(0, 6))),
                     extent_xyz[1] * (0.5 + 0.15 * np.cos(3 * np.pi * t)),
                     extent_xyz[2] * (-0.05 + 1.1 * t)], axis=1)
    radius = float(rng.uniform(2.0, 2.5))
    vessel, canal_inner, canal_outer = Segments(), Segments(), Segments()
    gap = rng.uniform(0.0, 0.6, len(path))
    for n, (a, b) in enumerate(zip(path[:-1], path[1:])):
        vessel.add(a, b, radius, radius)
        canal_inner.add(a, b, radius + gap[n], radius + gap[n + 1])
        canal_outer.add(a, b, radius + 4.0, radius + 4.0)
    # smaller vessels lying on a bone plate (the plate: the half space below a tilted plane)
    plate_normal = np.array([0.2, 0.1, 1.0])
    plate_normal /= np.linalg.norm(plate_normal)
    plate_point = extent_xyz * np.array([0.5, 0.5, 0.3])
    for _ in range(4):
        r = float(rng.uniform(0.8, 1.5))
        u = np.cross(plate_normal, rng.normal(size=3))
        u /= np.linalg.norm(u)
        start = plate_point + rng.uniform(-0.3, 0.3, 3) * extent_xyz * np.array([1, 1, 0])
        start = start - plate_normal * float((start - plate_point) @ plate_normal) + plate_normal * r * 0.9
        ts = np.linspace(-40, 40, 60)
        points = start + ts[:, None] * u
        for a, b in zip(points[:-1], points[1:]):
            vessel.add(a, b, r, r)
    s = tuple(spacing[::-1])
    fraction = render_fraction(vessel.tree(), shape, s, supersample=4)
    canal = np.clip(render_fraction(canal_outer.tree(), shape, s, 2) - render_fraction(canal_inner.tree(), shape, s,
                                                                                          2), 0, 1)
    grid = grid_coordinates(shape, spacing)
    xyz = [grid[2], grid[1], grid[0]]
    height = sum((xyz[d] - plate_point[d]) * plate_normal[d] for d in range(3))
    plate = np.clip(0.5 - height / 0.45, 0, 1) * np.clip(0.5 + (height + 8.0) / 0.45, 0, 1)
    bone = np.clip(np.maximum(canal, plate) - fraction, 0, 1)
    air_cells = (gaussian_filter(rng.normal(size=shape), 3) > 0.045) * (plate > 0.5)
    trabecular = 1100 + 350 * gaussian_filter(rng.normal(size=shape), 1.2) / 0.12
    rest = 1 - fraction - bone
    image = rest * 35 + fraction * rng.uniform(300, 420) + bone * np.where(air_cells, -900, trabecular)
    image = image + rng.normal(0, 12, shape)
    return np.clip(np.rint(image), -1024, 3071).astype(np.int16), (fraction >= 0.5).astype(np.uint8), spacing


def _ellipsoid_depth(grid: list[np.ndarray], centre: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Approximate signed distance (mm) to an ellipsoid surface, negative inside."""
    r = np.sqrt(sum(((g - c) / a) ** 2 for g, c, a in zip(grid, centre, axes)))
    return (r - 1.0) * float(np.mean(axes))


def _ct_head_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    inplane = rng.uniform(0.6, 0.7)
    spacing = np.array([rng.uniform(0.8, 1.0), inplane, inplane])
    brain_axes = np.array([rng.uniform(50, 56), rng.uniform(64, 70), rng.uniform(54, 60)])  # (k, j, i) mm
    extent = 2 * (brain_axes + 12.0)
    shape = tuple(int(v) for v in np.round(extent / spacing))
    grid = grid_coordinates(shape, spacing)
    centre = extent / 2
    depth = _ellipsoid_depth(grid, centre, brain_axes)
    edge = float(inplane)
    inner, diploe, outer = rng.uniform(1.2, 2.0), rng.uniform(1.5, 4.0), rng.uniform(1.2, 2.0)
    inside = np.clip(0.5 - depth / edge, 0, 1)
    tables = np.clip(0.5 - (depth - inner) / edge, 0, 1) - inside
    middle = np.clip(0.5 - (depth - inner - diploe) / edge, 0, 1) - np.clip(0.5 - (depth - inner) / edge, 0, 1)
    outside = np.clip(0.5 - (depth - inner - diploe - outer) / edge, 0, 1)
    tables = tables + outside - np.clip(0.5 - (depth - inner - diploe) / edge, 0, 1)
    head = np.clip(0.5 - (depth - inner - diploe - outer - 5.0) / edge, 0, 1)
    # skull-base shelf: a wavy slab across the lower third of the head, with air cells
    k_mm, j_mm, i_mm = grid
    level = centre[0] - 0.35 * brain_axes[0] + 4.0 * np.sin(j_mm / 11.0 + rng.uniform(0, 6)) * np.cos(i_mm / 13.0)
    shelf = np.clip(0.5 - (k_mm - level) / edge, 0, 1) * np.clip(0.5 + (k_mm - level + 9.0) / edge, 0, 1) * inside
    cells = (gaussian_filter(rng.normal(size=shape), 2.0) > 0.06) * (shelf > 0.5)
    tubes = Segments()
    for side in (-1.0, 1.0):  # carotid-like arteries rising through the shelf, then turning inwards
        x0 = centre[2] + side * rng.uniform(12, 18)
        y0 = centre[1] + rng.uniform(-8, 4)
        path = [np.array([x0, y0, 0.0]), np.array([x0, y0, level.mean() - 4.0]),
                np.array([x0 - side * 4.0, y0 + 3.0, centre[0] - 0.1 * brain_axes[0]]),
                np.array([x0 - side * 10.0, y0 + 10.0, centre[0] + 0.05 * brain_axes[0]])]
        radius = float(rng.uniform(1.8, 2.4))
        for a, b in zip(path[:-1], path[1:]):
            tubes.add(a, b, radius, radius)
    canal = Segments()
    for a, b, r0, r1 in zip(tubes.a, tubes.b, tubes.r0, tubes.r1):
        canal.add(a, b, r0 + 2.5, r1 + 2.5)
    brain_xyz = (brain_axes * 0.8)[::-1]
    arcs = _analytic_tubes(2 * brain_xyz, rng, (0.8, 2.0), int(rng.integers(8, 13)))
    for a, b, r0, r1 in zip(arcs.a, arcs.b, arcs.r0, arcs.r1):
        offset = (centre[::-1] - brain_xyz)
        tubes.add(a + offset, b + offset, r0, r1)
    s = tuple(spacing[::-1])
    fraction = render_fraction(tubes.tree(), shape, s, supersample=3) * inside
    canal_bone = np.clip(render_fraction(canal.tree(), shape, s, 2) - fraction, 0, 1) * (shelf > 0.01)
    sinus = Segments()
    angles = np.linspace(0.15 * np.pi, 0.85 * np.pi, 60)
    sinus_r = rng.uniform(2.5, 4.0)
    # the superior sagittal sinus under the vault's midline (x y z order: i, j, k)
    points = centre[::-1] + np.stack([np.zeros_like(angles), -np.cos(angles) * (brain_axes[1] - sinus_r),
                                      np.sin(angles) * (brain_axes[0] - sinus_r)], axis=1)
    for p0, p1 in zip(points[:-1], points[1:]):
        sinus.add(p0, p1, sinus_r, sinus_r)
    vein = np.clip(render_fraction(sinus.tree(), shape, s, 2) * inside - fraction, 0, 1)
    falx = np.clip(0.5 - (np.abs(i_mm - centre[2]) - 0.6) / edge, 0, 1) * (k_mm > centre[0]) * inside
    bone = np.clip(tables + middle + np.maximum(shelf * ~cells, canal_bone), 0, 1) * (1 - fraction)
    air_cells = shelf * cells * (1 - fraction)
    rest = np.clip(head - fraction - bone - vein - air_cells, 0, 1)
    cortical = np.clip(tables + canal_bone, 0, 1) * (1 - fraction)
    image = (rest * (35 + 4 * gaussian_filter(rng.normal(size=shape), 3) / 0.05 * 0.01) + falx * 40
             + fraction * rng.uniform(280, 420) + vein * rng.uniform(150, 230) + cortical * 1600
             + np.clip(bone - cortical, 0, 1) * 700 * (1 + 0.3 * gaussian_filter(rng.normal(size=shape), 1) / 0.2)
             - 1000 * (1 - head) - 900 * air_cells)
    image = image + rng.normal(0, rng.uniform(10, 18), shape)
    return np.clip(np.rint(image), -1024, 3071).astype(np.int16), (fraction >= 0.5).astype(np.uint8), spacing


def _shell_box(shape: tuple[int, ...], spacing: np.ndarray, thickness: float = 6.0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inside, bone, air) of a skull shell (62 mm inner radius) crossing the far i side of a box."""
    grid = grid_coordinates(shape, spacing)
    extent = np.asarray(shape) * spacing
    centre = np.array([extent[0] / 2, extent[1] / 2, 0.75 * extent[2] - 62.0])
    depth = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, centre))) - 62.0
    edge = float(spacing[1])
    inside = np.clip(0.5 - depth / edge, 0, 1)
    bone = np.clip(0.5 - (depth - thickness) / edge, 0, 1) - inside
    air = 1 - np.clip(0.5 - (depth - thickness - 4.0) / edge, 0, 1)
    return inside, bone, air


def _ct_calcified_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    spacing = np.array([0.6, 0.45, 0.45])
    shape = (96, 112, 112)
    extent_xyz = (np.asarray(shape) * spacing)[::-1]
    tubes = _analytic_tubes(extent_xyz, rng, (1.2, 2.5), int(rng.integers(4, 7)))
    plaques = Segments()
    for n in rng.choice(len(tubes.a), size=min(len(tubes.a), 30), replace=False):
        a, b, r = tubes.a[n], tubes.b[n], tubes.r0[n]
        axis = (b - a) / max(float(np.linalg.norm(b - a)), 1e-9)
        side = np.cross(axis, rng.normal(size=3))
        side /= max(float(np.linalg.norm(side)), 1e-9)
        size = float(rng.uniform(0.5, 0.9)) * min(r, 1.6)
        plaques.add(a + side * (r + 0.1 * size), b + side * (r + 0.1 * size), size, size)
    s = tuple(spacing[::-1])
    plaque = render_fraction(plaques.tree(), shape, s, supersample=3)
    inside, bone, air = _shell_box(shape, spacing)
    fraction = render_fraction(tubes.tree(), shape, s, supersample=4) * (1 - plaque) * inside
    plaque = plaque * inside
    rest = np.clip(1 - fraction - plaque - bone - air, 0, 1)
    image = (rest * 32 + fraction * rng.uniform(300, 450) + plaque * rng.uniform(900, 1500) + bone * 1300
             - 1000 * air + rng.normal(0, 12, shape))
    return np.clip(np.rint(image), -1024, 3071).astype(np.int16), (fraction >= 0.5).astype(np.uint8), spacing


def _ct_venous_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    spacing = np.array([0.7, 0.45, 0.45])
    shape = (88, 112, 112)
    extent_xyz = (np.asarray(shape) * spacing)[::-1]
    tubes = _analytic_tubes(extent_xyz, rng, (0.7, 2.0), int(rng.integers(6, 10)))
    inside, bone, air = _shell_box(shape, spacing, thickness=5.0)
    sinus = Segments()
    extent = np.asarray(shape) * spacing
    sinus_r = float(rng.uniform(3.0, 4.5))
    centre_xyz = np.array([0.75 * extent[2] - 62.0, extent[1] / 2, extent[0] / 2])
    for t0, t1 in zip(np.linspace(-0.6, 0.6, 40)[:-1], np.linspace(-0.6, 0.6, 40)[1:]):
        p0 = centre_xyz + (62.0 - sinus_r) * np.array([np.cos(t0), np.sin(t0), 0.0])
        p1 = centre_xyz + (62.0 - sinus_r) * np.array([np.cos(t1), np.sin(t1), 0.0])
        sinus.add(p0, p1, sinus_r, sinus_r)
    s = tuple(spacing[::-1])
    fraction = render_fraction(tubes.tree(), shape, s, supersample=4) * inside
    vein = np.clip(render_fraction(sinus.tree(), shape, s, 2) * inside - fraction, 0, 1)
    rest = np.clip(1 - fraction - vein - bone - air, 0, 1)
    image = (rest * 38 + fraction * rng.uniform(150, 190) + vein * rng.uniform(220, 280) + bone * 1100
             - 1000 * air + rng.normal(0, rng.uniform(15, 20), shape))
    return np.clip(np.rint(image), -1024, 3071).astype(np.int16), (fraction >= 0.5).astype(np.uint8), spacing


def _from_arrays(family: str, seed: int, make: Callable[[int], tuple[np.ndarray, np.ndarray, np.ndarray]],
                 oblique: bool = False) -> HeldOutCase:
    image, mask, spacing = make(seed)
    volume = _volume(image, spacing, np.random.default_rng(seed + 1), oblique)
    return HeldOutCase(family, seed, volume, volume.with_array(mask), modality_of(family))


def modality_of(family: str) -> str:
    """'cta' for the CT families (HU), else 'mra'."""
    return "cta" if family in CT_FAMILIES else "mra"


def make_case(family: str, n: int) -> HeldOutCase:
    """Case ``n`` of ``family`` (deterministic)."""
    seed = HELD_OUT_SEED_BASE + 1000 * FAMILIES.index(family) + n if family in FAMILIES else -1
    if family == "ct-tubes":
        return _from_arrays(family, seed, lambda s: _tubes_case(s, mr=False), oblique=True)
    if family == "mr-tubes":
        return _from_arrays(family, seed, lambda s: _tubes_case(s, mr=True))
    if family == "tree-fine":
        return HeldOutCase(family, seed, *_tree(seed, "mra", 160, (0.2, 0.2, 0.2)), "mra")
    if family == "tree-coarse":
        return HeldOutCase(family, seed, *_tree(seed, "cta", 96, (1.1, 1.1, 1.2)), "cta")
    if family == "mni-vessels":
        return HeldOutCase(family, seed, *_mni_case(seed), "mra")
    if family == "cta-bone":
        return _from_arrays(family, seed, _cta_bone_case)
    if family == "ct-head":
        return _from_arrays(family, seed, _ct_head_case, oblique=True)
    if family == "ct-calcified":
        return _from_arrays(family, seed, _ct_calcified_case)
    if family == "ct-venous":
        return _from_arrays(family, seed, _ct_venous_case)
    raise CerebroError(f"unknown held-out family '{family}'; choose one of: {', '.join(FAMILIES)}")


FAMILIES = ("ct-tubes", "mr-tubes", "tree-fine", "tree-coarse", "mni-vessels", "cta-bone", "ct-head", "ct-calcified",
            "ct-venous")
