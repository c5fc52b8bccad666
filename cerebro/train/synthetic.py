"""Domain-randomised training cases (in the style of SynthSeg / vesselFM) for a vessel model that must work on
angiograms our phantom generator never made.

A case is generated once as *geometry*: partial-volume maps of vessel, bone and air, a tissue texture and three
smooth random fields, rendered on a random acquisition grid (spacing 0.25-1.0 mm per axis, anisotropic) and
resampled to the plans' grid with the inference resampling (cubic for the maps, linear for the vessel label
fraction). Resampling is linear, so an image composed from the resampled maps is exactly the resampled image
composed on the acquisition grid. Every time a patch is drawn, a new *appearance* is drawn for the whole case:

- style CT-like (tissue 0-60 HU, contrast vessels 150-600 HU, bone 400-1900 HU, air -1000 HU, Gaussian noise),
  MR-like (tissue 80-250, inflowing blood 1.6-5x tissue, dark bone and air, Rician noise, bias field up to
  +-35 %) or random (bright vessels on any background, bone anywhere from darker than tissue to 4x the vessel
  contrast);
- texture from the MNI152 T1 template (nilearn's wheel) or from random waves, a smooth modulation of the vessel
  intensity, blur.
The z-score of the inference preprocessing uses the statistics of the whole composed case (from every second
voxel), so a patch is normalised as the full volume would be; optionally (``wider_view``) as if the case were
part of a larger field of view with more air and tissue around it.

Geometry sources: tube fields (:mod:`cerebro.train.tubes`; tortuous, branching, stenoses, aneurysm-like blobs)
and our vessel tree (:mod:`cerebro.phantoms.tree`) seen through a 40 mm field of view at a random place and
orientation. Head structures: an optional skull shell (a sphere through the field of view, 2-8 mm of bone, then
scalp and air) and optional skull-base-like bone (a thresholded smooth random field) that vessels pass through.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import zoom
from scipy.spatial.transform import Rotation

from cerebro.phantoms.render import render_fraction
from cerebro.phantoms.tree import VesselTree, build_tree
from cerebro.segment.families.nnunet.preprocess import new_shape_for_spacing, resample
from cerebro.train.cases import MAX_BONE_CENTRES
from cerebro.train.tubes import random_direction, tube_field

FIELD_OF_VIEW_MM = np.array([40.0, 38.4, 38.4])  # (k, j, i)
SPACING_RANGE_MM = (0.25, 1.0)
TREE_SPACING_RANGE_MM = (0.3, 0.8)  # the vessel-tree source; held-out tree cases lie outside it
CHANNELS = ("vessel", "bone", "air", "texture", "field1", "field2", "field3")
STYLES = ("ct", "mr", "random")


@dataclass
class Appearance:
    """Intensities of one draw: tissue, vessel, bone, air; texture amplitude; noise; fields; blur (voxels)."""

    tissue: float
    vessel: float
    bone: float
    air: float
    texture: float
    noise: float
    rician: bool
    bias: float
    vessel_modulation: float
    field_weights: np.ndarray
    blur: float


def draw_appearance(rng: np.random.Generator, style: str | None = None) -> Appearance:
    """A random appearance (values in scanner-like units that fit int16)."""
    style = style or str(rng.choice(STYLES, p=(0.35, 0.35, 0.3)))
    weights = rng.normal(size=(2, 3))
    if style == "ct":
        tissue = rng.uniform(0, 60)
        vessel = tissue + rng.uniform(120, 550)
        bone, air = rng.uniform(400, 1900), rng.uniform(-1000, -800)
        texture, noise, rician, bias = rng.uniform(0, 12), rng.uniform(3, 45), False, rng.uniform(0, 0.05)
    elif style == "mr":
        tissue = rng.uniform(80, 250)
        vessel = tissue * rng.uniform(1.6, 5.0)
        bone, air = tissue * rng.uniform(0.05, 0.6), tissue * rng.uniform(0.0, 0.1)
        texture, noise = tissue * rng.uniform(0.0, 0.3), tissue * rng.uniform(0.02, 0.15)
        rician, bias = True, rng.uniform(0, 0.35)
    else:
        tissue = rng.uniform(20, 400)
        contrast = tissue * rng.uniform(0.25, 2.5)
        vessel = tissue + contrast
        bone = tissue + contrast * rng.uniform(-0.9, 4.0)
        air = max(tissue + contrast * rng.uniform(-3.0, 0.3), 0.0)
        texture, noise = contrast * rng.uniform(0, 0.4), contrast * rng.uniform(0.02, 0.35)
        rician, bias = bool(rng.random() < 0.5), rng.uniform(0, 0.3)
    return Appearance(float(tissue), float(vessel), float(bone), float(air), float(texture), float(noise),
                      rician, float(bias), float(rng.uniform(0, 0.3)), weights,
                      float(rng.uniform(0.3, 1.0)) if rng.random() < 0.3 else 0.0)


def compose(channels: np.ndarray, look: Appearance, rng: np.random.Generator) -> np.ndarray:
    """Raw image (float32, channels' spatial shape) of the maps ``channels`` (7, ...) under ``look``."""
    vessel, bone, air, texture = (channels[i].astype(np.float32) for i in range(4))
    fields = channels[4:].astype(np.float32)
    bias = 1.0 + look.bias * np.tanh(np.tensordot(look.field_weights[0], fields, axes=1))
    modulation = 1.0 + look.vessel_modulation * np.tanh(np.tensordot(look.field_weights[1], fields, axes=1))
    tissue_share = 1.0 - vessel - bone - air
    image = (tissue_share * (look.tissue + look.texture * texture) + vessel * look.vessel * modulation
             + bone * look.bone + air * look.air) * bias
    noise = rng.normal(0.0, look.noise, image.shape).astype(np.float32)
    if look.rician:
        image = np.sqrt((image + noise) ** 2 + rng.normal(0.0, look.noise, image.shape).astype(np.float32) ** 2)
    else:
        image = image + noise
    return image.astype(np.float32)


@dataclass
class SyntheticCase:
    """One randomised case on the plans' grid: maps (7, x, y, z) float16 and the 0/1 vessel label."""

    name: str
    channels: np.ndarray
    label: np.ndarray
    foreground: np.ndarray  # (n, 3) label voxels
    bone: np.ndarray  # (n, 3) voxels mostly bone (hard-negative patch centres)
    spacing: tuple[float, float, float]  # acquisition spacing (k, j, i) mm
    wider_view: float = 0.0  # probability that a draw normalises as if seen in a larger field of view
    style: str | None = None  # every draw in this style (one of STYLES); None: a random style per draw

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.label.shape)  # type: ignore[return-value]

    def draw(self, rng: np.random.Generator) -> tuple[Appearance, float, float]:
        """A new appearance for the whole case and the z-score statistics (mean, std) of the composed case.

        With probability ``wider_view``, the statistics are those of a larger field of view around the case
        (a whole head with air around it, say): 0.2-3x the case's voxel count more of air and 0-2x more of
        tissue (each with the noise) join the case's voxels, as the per-case z-score of inference would see them.
        """
        look = draw_appearance(rng, self.style)
        sample = compose(self.channels[:, ::2, ::2, ::2], look, rng)
        mean, square = float(sample.mean()), float(np.mean(sample.astype(np.float64) ** 2))
        if self.wider_view > 0 and rng.random() < self.wider_view:  # no draw when off: stage A's stream
            shares = np.array([1.0, rng.uniform(0.2, 3.0), rng.uniform(0.0, 2.0)])
            values = np.array([mean, look.air, look.tissue])
            squares = np.array([square, look.air**2 + look.noise**2, look.tissue**2 + look.noise**2])
            mean = float(shares @ values / shares.sum())
            square = float(shares @ squares / shares.sum())
        return look, mean, max(float(np.sqrt(max(square - mean**2, 0.0))), 1e-6)

    def raw_patch(self, box: tuple[slice, ...], look: Appearance, rng: np.random.Generator) -> np.ndarray:
        """The composed raw image inside ``box`` (before normalisation)."""
        image = compose(self.channels[(slice(None), *box)], look, rng)
        if look.blur > 0:
            from scipy.ndimage import gaussian_filter

            image = gaussian_filter(image, look.blur)
        return image


@functools.lru_cache(maxsize=1)
def mni_template() -> np.ndarray | None:
    """The MNI152 2009a T1 template (1 mm, uint8) from nilearn's wheel, or None when nilearn is not installed."""
    try:
        import nilearn
    except ImportError:
        return None
    import nibabel

    path = os.path.join(os.path.dirname(nilearn.__file__), "datasets", "data",
                        "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")
    if not os.path.exists(path):
        return None
    return np.asarray(nibabel.load(path).dataobj).astype(np.float32)


def tissue_texture(shape: tuple[int, ...], spacing: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-scale tissue texture on the acquisition grid: an MNI152 crop at a random scale (when
    nilearn is there and by a coin flip) or a random smooth field."""
    extent = np.asarray(shape) * spacing
    template = mni_template()
    if template is not None and rng.random() < 0.6:
        scale = rng.uniform(0.6, 1.6)  # template mm per field-of-view mm
        size = np.ceil(extent * scale).astype(int) + 2
        centre = np.array([98, 116, 94]) + rng.integers(-35, 36, 3)
        lo = np.clip(centre - size // 2, 0, np.array(template.shape) - size)
        crop = template[tuple(slice(a, a + s) for a, s in zip(lo, size))]
        out = zoom(crop, np.asarray(shape) / np.asarray(crop.shape), order=1)[tuple(slice(0, n) for n in shape)]
    else:
        coarse = rng.normal(size=tuple(int(v) for v in np.maximum(extent / rng.uniform(2.0, 8.0), 2)))
        out = zoom(coarse, np.asarray(shape) / np.asarray(coarse.shape), order=3)
    out = out - out.mean()
    return (out / max(float(out.std()), 1e-6)).astype(np.float32)


def smooth_field(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    coarse = rng.normal(size=(3, 3, 3))
    return zoom(coarse, np.asarray(shape) / 3.0, order=3).astype(np.float32)


def grid_coordinates(shape: tuple[int, ...], spacing: np.ndarray) -> list[np.ndarray]:
    """Broadcastable float32 coordinates (mm) of the voxel centres of a grid, one array per axis (k, j, i)."""
    return [(np.arange(n) * s).astype(np.float32).reshape([-1 if d == e else 1 for e in range(3)])
            for d, (n, s) in enumerate(zip(shape, spacing))]


def soft_edge(distance: np.ndarray, edge: float) -> np.ndarray:
    """Partial-volume share of a half space (distance < 0 inside), softened over ``edge`` mm."""
    return np.clip(0.5 - distance / edge, 0.0, 1.0).astype(np.float32)


def _head(shape: tuple[int, ...], spacing: np.ndarray, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bone, air, inside) maps on the acquisition grid: skull shell and/or skull-base-like bone."""
    bone = np.zeros(shape, np.float32)
    air = np.zeros(shape, np.float32)
    inside = np.ones(shape, np.float32)
    edge = float(np.mean(spacing))
    if rng.random() < 0.45:  # skull shell through the field of view
        extent = np.asarray(shape) * spacing
        radius = rng.uniform(45, 90)
        centre = extent / 2 + random_direction(rng) * (radius + rng.uniform(-25, 2))
        grid = grid_coordinates(shape, spacing)
        depth = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, centre))) - radius
        thickness, scalp = rng.uniform(2, 8), rng.uniform(0, 6)
        inside = soft_edge(depth, edge)
        outer_bone = soft_edge(depth - thickness, edge)
        bone = outer_bone - inside
        air = 1.0 - soft_edge(depth - thickness - scalp, edge)
    if rng.random() < 0.35:  # skull-base-like bone: a thresholded smooth random field
        field = zoom(rng.normal(size=(5, 5, 5)), np.asarray(shape) / 5.0, order=3)
        level = np.quantile(field, rng.uniform(0.7, 0.92))
        slope = float(np.percentile(np.abs(np.diff(field, axis=0)), 50)) / float(spacing[0]) + 1e-6
        base = soft_edge(-(field - level) / slope, edge) * (1.0 - air)
        bone = np.maximum(bone, base * inside)
    return bone, air, inside


def tree_geometry(extent_xyz: np.ndarray, rng: np.random.Generator) -> VesselTree:
    """Our vessel tree, the field of view placed at a random spot around the circle of Willis, randomly rotated."""
    offset = rng.uniform(-30, 30, 3) * np.array([1.0, 1.0, 0.7])
    ring_offset = np.array([0.0, -8.0, -27.0])
    tree = build_tree(extent_xyz / 2 - ring_offset - offset, rng)
    rotation = Rotation.from_rotvec(random_direction(rng) * rng.uniform(0, np.pi / 4)).as_matrix()
    centre = extent_xyz / 2
    tree.nodes = (tree.nodes - centre) @ rotation.T + centre
    return tree


def generate_case(seed: int, plan_spacing: list[float], source: str | None = None) -> SyntheticCase:
    """Generate one randomised case from ``seed``: ``source`` 'tubes' or 'tree' (None: random, 60/40)."""
    rng = np.random.default_rng(seed)
    source = source or ("tubes" if rng.random() < 0.6 else "tree")
    low, high = TREE_SPACING_RANGE_MM if source == "tree" else SPACING_RANGE_MM
    inplane = rng.uniform(low, min(high, 0.85))
    spacing = np.full(3, inplane)
    spacing[rng.integers(3)] = min(inplane * rng.uniform(1.0, 2.2), high)  # the through-plane axis
    shape = tuple(int(v) for v in np.round(FIELD_OF_VIEW_MM / spacing))
    extent_xyz = (np.asarray(shape) * spacing)[::-1]
    tree = tube_field(extent_xyz, rng) if source == "tubes" else tree_geometry(extent_xyz, rng)
    vessel = render_fraction(tree, shape, tuple(spacing[::-1]), supersample=3) if tree.n_segments else \
        np.zeros(shape, np.float32)
    bone, air, inside = _head(shape, spacing, rng)
    vessel = vessel * inside
    bone = bone * (1.0 - vessel)
    air = air * (1.0 - vessel)
    texture = tissue_texture(shape, spacing, rng)
    target = new_shape_for_spacing(shape, list(spacing), plan_spacing)
    maps = np.stack([vessel, bone, air, texture])
    kwargs = {"is_seg": False, "order_z": 0, "force_separate_z": None}
    plan = resample(maps, target, list(spacing), plan_spacing, order=3, **kwargs)
    fraction = resample(vessel[None], target, list(spacing), plan_spacing, order=1, **kwargs)[0]
    fields = np.stack([smooth_field(tuple(target), rng) for _ in range(3)])
    label = (fraction >= 0.5).astype(np.uint8)
    bone_voxels = np.argwhere(plan[1] > 0.5)
    if len(bone_voxels) > MAX_BONE_CENTRES:
        bone_voxels = bone_voxels[rng.choice(len(bone_voxels), MAX_BONE_CENTRES, replace=False)]
    channels = np.concatenate([plan, fields]).astype(np.float16)
    return SyntheticCase(f"synthetic_{source}_{seed}", channels, label, np.argwhere(label > 0), bone_voxels,
                         tuple(float(s) for s in spacing))
