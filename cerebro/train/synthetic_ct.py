"""Whole-head-like CTA training cases in Hounsfield units, for the CT default model.

A case is a window of 40-56 mm (per axis) somewhere in a head, generated once as *geometry* on a random
acquisition grid (in-plane 0.35-0.8 mm, slices 0.4-1.5 mm) and resampled to the plans' grid like
:mod:`cerebro.train.synthetic`; every draw composes a new *CT appearance* in HU from the maps:

- arteries (the label): tube fields or our vessel tree; calcified plaques (600-1600 HU) on the walls of the
  larger ones, narrowing the lumen (the label is the lumen);
- veins, never labelled: one or two venous sinuses (radius 2-5 mm) along the inner table of the skull in most
  cases with a vault, their voxels hard-negative patch centres like bone;
- skull vault: inner and outer tables of cortical bone (1200-2200 HU) around the diploe (trabecular, 350-1000 HU,
  textured), then scalp with fat and air; a dense falx (dura, 40-120 HU, calcified in 20 % of draws);
- skull base: a thresholded smooth random field of cortical rim and trabecular bone with air cells, that
  vessels pass through, and a bony canal (carotid-canal-like) around part of one artery with a 0-0.8 mm gap;
- beam-hardening streaks (in-plane bands, -150 to +60 HU) where there is bone;
- contrast phase: arterial (arteries 250-600 HU, veins 80-250) or late / venous-like (arteries 130-250,
  veins 120-300); brain 20-45 HU with MNI152 or random texture; noise 5-40 HU, sometimes correlated; blur.

The CT model normalises with fixed dataset statistics (nnU-Net's ``CTNormalization``), so a window is normalised
exactly as the whole head it was cut from would be.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter, zoom

from cerebro.phantoms.render import render_fraction
from cerebro.phantoms.tree import VesselTree
from cerebro.segment.families.nnunet.preprocess import new_shape_for_spacing, resample
from cerebro.train.cases import MAX_BONE_CENTRES
from cerebro.train.synthetic import (
    grid_coordinates,
    smooth_field,
    soft_edge,
    tissue_texture,
    tree_geometry,
)
from cerebro.train.tubes import Segments, random_direction, tube_segments

CT_CHANNELS = ("artery", "vein", "cortical", "trabecular", "plaque", "falx", "air", "fat", "texture",
               "bone_texture", "streak", "field1", "field2")
CT_INDEX = {name: n for n, name in enumerate(CT_CHANNELS)}


@dataclass
class CTLook:
    """The HU values of one draw."""

    artery: float
    vein: float
    brain: float
    texture: float
    cortical: float
    trabecular: float
    trabecular_texture: float
    plaque: float
    falx: float
    fat: float
    air: float
    streak: float
    noise: float
    noise_blur: float
    blur: float
    modulation: float
    field_weights: np.ndarray = field(default_factory=lambda: np.zeros((2, 2)))


def draw_ct_look(rng: np.random.Generator) -> CTLook:
    """A random CT appearance: contrast phase, tissue, bone, noise (HU)."""
    if rng.random() < 0.7:  # arterial phase
        artery, vein = rng.uniform(250, 600), rng.uniform(80, 250)
    else:  # late arterial / venous-like: low arterial contrast, veins as bright or brighter
        artery, vein = rng.uniform(130, 250), rng.uniform(120, 300)
    falx = rng.uniform(300, 900) if rng.random() < 0.2 else rng.uniform(40, 120)
    return CTLook(float(artery), float(vein), float(rng.uniform(20, 45)), float(rng.uniform(1, 8)),
                  float(rng.uniform(1200, 2200)), float(rng.uniform(350, 1000)), float(rng.uniform(80, 300)),
                  float(rng.uniform(600, 1600)), float(falx), float(rng.uniform(-120, -60)),
                  float(rng.uniform(-1024, -950)), float(rng.uniform(-150, 60)), float(rng.uniform(5, 40)),
                  float(rng.uniform(0.5, 1.2)) if rng.random() < 0.4 else 0.0,
                  float(rng.uniform(0.3, 0.8)) if rng.random() < 0.3 else 0.0, float(rng.uniform(0, 0.15)),
                  rng.normal(size=(2, 2)))


def compose_ct(channels: np.ndarray, look: CTLook, rng: np.random.Generator) -> np.ndarray:
    """HU image (float32) of the maps ``channels`` (13, ...) under ``look``, noise and blur included."""
    c = {name: channels[n].astype(np.float32) for n, name in enumerate(CT_CHANNELS)}
    fields = np.stack([c["field1"], c["field2"]])
    modulation = 1.0 + look.modulation * np.tanh(np.tensordot(look.field_weights[0], fields, axes=1))
    occupied = sum(c[n] for n in ("artery", "vein", "cortical", "trabecular", "plaque", "falx", "air", "fat"))
    image = (np.clip(1.0 - occupied, 0.0, 1.0) * (look.brain + look.texture * c["texture"])
             + c["artery"] * look.artery * modulation + c["vein"] * look.vein + c["cortical"] * look.cortical
             + c["trabecular"] * (look.trabecular + look.trabecular_texture * c["bone_texture"])
             + c["plaque"] * look.plaque + c["falx"] * look.falx + c["fat"] * look.fat + c["air"] * look.air
             + c["streak"] * look.streak)
    if look.blur > 0:
        image = gaussian_filter(image, look.blur)
    noise = rng.normal(0.0, 1.0, image.shape).astype(np.float32)
    if look.noise_blur > 0:
        noise = gaussian_filter(noise, look.noise_blur)
        noise /= max(float(noise.std()), 1e-6)
    return (image + look.noise * noise).astype(np.float32)


@dataclass
class CTCase:
    """One CT case on the plans' grid: maps (13, x, y, z) float16, the 0/1 artery label, patch centres."""

    name: str
    channels: np.ndarray
    label: np.ndarray
    foreground: np.ndarray
    bone: np.ndarray
    spacing: tuple[float, float, float]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.label.shape)  # type: ignore[return-value]

    def draw(self, rng: np.random.Generator) -> tuple[CTLook, float, float]:
        """A new CT appearance; the z-score statistics are unused (the CT model normalises with fixed ones)."""
        return draw_ct_look(rng), 0.0, 1.0

    def raw_patch(self, box: tuple[slice, ...], look: CTLook, rng: np.random.Generator) -> np.ndarray:
        """The HU image inside ``box``."""
        return compose_ct(self.channels[(slice(None), *box)], look, rng)


def _inflated(segments: Segments, indices: np.ndarray, add_mm: np.ndarray) -> Segments:
    """The capsules ``indices`` of ``segments`` with ``add_mm`` (per capsule) added to both radii."""
    out = Segments()
    for n, extra in zip(indices, add_mm):
        out.add(segments.a[n], segments.b[n], segments.r0[n] + extra, segments.r1[n] + extra)
    return out


def _segments_of(tree: VesselTree) -> Segments:
    """A tree's edges as capsules."""
    out = Segments()
    for (i, j), r0, r1 in zip(tree.edges, tree.radius_start, tree.radius_end):
        out.add(tree.nodes[i], tree.nodes[j], r0, r1)
    return out


def _render(segments: Segments, shape: tuple[int, ...], spacing: np.ndarray, supersample: int = 2) -> np.ndarray:
    if not segments.a:
        return np.zeros(shape, np.float32)
    return render_fraction(segments.tree(), shape, tuple(spacing[::-1]), supersample=supersample)


def _canal(arteries: Segments, shape: tuple[int, ...], spacing: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A bony sleeve around 10-40 mm of the thickest artery: gap 0-0.8 mm, wall 1-4 mm."""
    radii = np.maximum(arteries.r0, arteries.r1)
    start = int(np.argmax(radii))
    length = 0.0
    chosen = [start]
    for n in range(start + 1, len(arteries.a)):  # a walk's capsules follow each other
        if np.linalg.norm(arteries.a[n] - arteries.b[chosen[-1]]) > 1e-6 or length > rng.uniform(10, 40):
            break
        chosen.append(n)
        length += float(np.linalg.norm(arteries.b[n] - arteries.a[n]))
    idx = np.asarray(chosen)
    gap = rng.uniform(0.0, 0.8, len(idx))
    inner = _render(_inflated(arteries, idx, gap), shape, spacing)
    outer = _render(_inflated(arteries, idx, gap + rng.uniform(1.0, 4.0)), shape, spacing)
    return np.clip(outer - inner, 0.0, 1.0)


def _plaques(arteries: Segments, rng: np.random.Generator) -> Segments:
    """1-5 calcified plaques: short capsules sitting on the wall of arteries of radius >= 0.8 mm."""
    out = Segments()
    large = [n for n in range(len(arteries.a)) if min(arteries.r0[n], arteries.r1[n]) >= 0.8
             and np.linalg.norm(arteries.b[n] - arteries.a[n]) > 0]
    for n in rng.choice(large, size=min(len(large), int(rng.integers(1, 6))), replace=False) if large else []:
        a, b, r = arteries.a[n], arteries.b[n], arteries.r0[n]
        axis = (b - a) / np.linalg.norm(b - a)
        side = np.cross(axis, random_direction(rng))
        side /= max(float(np.linalg.norm(side)), 1e-9)
        size = rng.uniform(0.4, min(1.2, 0.7 * r))
        centre = a + side * (r + 0.2 * size)
        out.add(centre - axis * rng.uniform(0.5, 2.0), centre + axis * rng.uniform(0.5, 2.0), size, size)
    return out


def _vault(shape: tuple[int, ...], spacing: np.ndarray, grid: list[np.ndarray], rng: np.random.Generator
           ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, float]:
    """Skull vault maps (cortical, trabecular, fat, air), the inside share, the sphere centre (k, j, i) and radius."""
    extent = np.asarray(shape) * spacing
    radius = rng.uniform(60, 90)
    centre = extent / 2 + random_direction(rng) * (radius + rng.uniform(-20, 2))
    distance = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, centre)))
    edge = float(np.mean(spacing))
    depth = distance - radius
    inner_table, diploe, outer_table = rng.uniform(0.8, 2.5), rng.uniform(0.0, 6.0), rng.uniform(0.8, 2.5)
    scalp = rng.uniform(3, 8)
    inside = soft_edge(depth, edge)
    bone_inner = soft_edge(depth - inner_table, edge)
    bone_diploe = soft_edge(depth - inner_table - diploe, edge)
    bone_outer = soft_edge(depth - inner_table - diploe - outer_table, edge)
    head = soft_edge(depth - inner_table - diploe - outer_table - scalp, edge)
    fat_depth = rng.uniform(0.2, 0.8) * scalp
    maps = {"cortical": (bone_inner - inside) + (bone_outer - bone_diploe), "trabecular": bone_diploe - bone_inner,
            "fat": (soft_edge(depth - inner_table - diploe - outer_table - fat_depth, edge) - bone_outer),
            "air": 1.0 - head}
    return maps, inside, centre, radius


def _sinus(centre_kji: np.ndarray, radius: float, rng: np.random.Generator) -> Segments:
    """A venous sinus: an arc just inside the skull sphere (grid-frame mm, x y z order)."""
    out = Segments()
    r_sinus = rng.uniform(2.0, 5.0)
    u, v = np.linalg.qr(rng.normal(size=(3, 2)))[0].T
    at = radius - r_sinus - rng.uniform(0.0, 0.5)
    centre_xyz = centre_kji[::-1]
    angles = np.linspace(0, 2 * np.pi, 360)
    points = centre_xyz + at * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * v)
    for a, b in zip(points[:-1], points[1:]):
        out.add(a, b, r_sinus, r_sinus)
    return out


def _skull_base(shape: tuple[int, ...], spacing: np.ndarray, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cortical rim, trabecular interior, air cells) of skull-base-like bone from a thresholded random field."""
    values = zoom(rng.normal(size=(5, 5, 5)), np.asarray(shape) / 5.0, order=3)
    level = np.quantile(values, rng.uniform(0.6, 0.9))
    slope = float(np.percentile(np.abs(np.diff(values, axis=0)), 50)) / float(spacing[0]) + 1e-6
    edge = float(np.mean(spacing))
    outer = soft_edge(-(values - level) / slope, edge)
    interior = soft_edge(-(values - level) / slope + rng.uniform(1.0, 3.0), edge)
    cells = (gaussian_filter(rng.normal(size=shape), 2.5) > rng.uniform(0.03, 0.08)).astype(np.float32)
    cells *= float(rng.random() < 0.5)
    return outer - interior, interior * (1 - cells), interior * cells


def _streaks(shape: tuple[int, ...], spacing: np.ndarray, grid: list[np.ndarray], bone: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """1-4 in-plane bands (unit amplitude, signed profile) near bone, across a range of slices."""
    out = np.zeros(shape, np.float32)
    if bone.max() < 0.5:
        return out
    points = np.argwhere(bone > 0.5)
    for _ in range(int(rng.integers(1, 5))):
        k, j, i = points[rng.integers(len(points))] * spacing
        angle = rng.uniform(0, np.pi)
        across = (grid[1] - j) * np.cos(angle) - (grid[2] - i) * np.sin(angle)
        width = rng.uniform(0.5, 2.0)
        band = np.exp(-(across / width) ** 2) * np.exp(-((grid[0] - k) / rng.uniform(2, 10)) ** 2)
        out += (band * rng.choice([-1.0, 1.0, 1.0])).astype(np.float32)
    return out


def generate_ct_case(seed: int, plan_spacing: list[float]) -> CTCase:
    """One whole-head-like CTA window from ``seed`` on the plans' grid."""
    rng = np.random.default_rng(seed)
    inplane = rng.uniform(0.35, 0.8)
    spacing = np.array([rng.uniform(max(0.4, inplane * 0.9), 1.5), inplane, inplane])
    if rng.random() < 0.15:  # sagittal / coronal acquisitions: the thick axis elsewhere
        spacing = np.roll(spacing, int(rng.integers(1, 3)))
    fov = rng.uniform(40, 56, 3)
    shape = tuple(int(v) for v in np.round(fov / spacing))
    extent_xyz = (np.asarray(shape) * spacing)[::-1]
    grid = grid_coordinates(shape, spacing)
    arteries = tube_segments(extent_xyz, rng) if rng.random() < 0.55 else _segments_of(tree_geometry(extent_xyz, rng))
    maps = {name: np.zeros(shape, np.float32) for name in CT_CHANNELS}
    inside = np.ones(shape, np.float32)
    if rng.random() < 0.6:
        vault, inside, centre, radius = _vault(shape, spacing, grid, rng)
        maps.update(vault)
        if rng.random() < 0.85:  # venous sinuses: bright, large and unlabelled (hard negatives below)
            sinuses = [_sinus(centre, radius, rng) for _ in range(int(rng.integers(1, 3)))]
            maps["vein"] = np.clip(sum(_render(v, shape, spacing) for v in sinuses), 0, 1) * inside
        if rng.random() < 0.3:
            normal = random_direction(rng)
            offset = sum((g - e / 2) * n for g, e, n in zip(grid, np.asarray(shape) * spacing, normal))
            maps["falx"] = soft_edge(np.abs(offset) - rng.uniform(0.4, 1.0), float(np.mean(spacing))) * inside
    if rng.random() < 0.45:
        rim, trabecular, cells = _skull_base(shape, spacing, rng)
        maps["cortical"] = np.maximum(maps["cortical"], rim * inside)
        maps["trabecular"] = np.maximum(maps["trabecular"], trabecular * inside)
        maps["air"] = np.maximum(maps["air"], cells * inside)
    artery = _render(arteries, shape, spacing, supersample=3) * inside
    if arteries.a and rng.random() < 0.4:
        maps["cortical"] = np.maximum(maps["cortical"], _canal(arteries, shape, spacing, rng) * inside)
    if arteries.a and rng.random() < 0.3:
        maps["plaque"] = _render(_plaques(arteries, rng), shape, spacing) * inside
    artery = artery * (1.0 - maps["plaque"])
    for name in ("vein", "cortical", "trabecular", "plaque", "falx", "air", "fat"):  # arteries come first
        maps[name] = np.clip(maps[name], 0.0, 1.0) * (1.0 - artery)
    bone = maps["cortical"] + maps["trabecular"]
    if rng.random() < 0.35:
        maps["streak"] = _streaks(shape, spacing, grid, bone, rng)
    maps["artery"] = artery
    maps["texture"] = tissue_texture(shape, spacing, rng)
    maps["bone_texture"] = gaussian_filter(rng.normal(size=shape), rng.uniform(0.7, 1.5)).astype(np.float32)
    maps["bone_texture"] /= max(float(maps["bone_texture"].std()), 1e-6)
    target = new_shape_for_spacing(shape, list(spacing), plan_spacing)
    kwargs = {"is_seg": False, "order_z": 0, "force_separate_z": None}
    geometry = [n for n in CT_CHANNELS if not n.startswith("field")]
    plan = resample(np.stack([maps[n] for n in geometry]), target, list(spacing), plan_spacing, order=3, **kwargs)
    fraction = resample(artery[None], target, list(spacing), plan_spacing, order=1, **kwargs)[0]
    fields = np.stack([smooth_field(tuple(target), rng) for _ in range(2)])
    label = (fraction >= 0.5).astype(np.uint8)
    negative = plan[CT_INDEX["cortical"]] + plan[CT_INDEX["trabecular"]] + plan[CT_INDEX["plaque"]]
    bone_voxels = np.argwhere((negative > 0.5) | (plan[CT_INDEX["vein"]] > 0.5))  # bone and sinus: hard negatives
    if len(bone_voxels) > MAX_BONE_CENTRES:
        bone_voxels = bone_voxels[rng.choice(len(bone_voxels), MAX_BONE_CENTRES, replace=False)]
    channels = np.concatenate([plan, fields]).astype(np.float16)
    return CTCase(f"synthetic_ct_{seed}", channels, label, np.argwhere(label > 0), bone_voxels,
                  tuple(float(s) for s in spacing))
