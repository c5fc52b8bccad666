"""Vessel-aware compression: a loose bound everywhere, a tight bound where a segmentation looks.

A vessel segmentation decides from the vessels and a margin around them; the brain, air and bone far from any
vessel can be coded far more coarsely. The ``roi`` codec stores

1. the **region** of interest as a map of 2x2x2-voxel blocks (one bit each, zstd), built from the *original*
   volume at encode time: bright tubes of the multi-scale vesselness (:func:`cerebro.vesselness.vessel_region`,
   the CT vessel window for HU volumes) above ``threshold``, or a given ``mask`` volume, dilated by ``margin``
   millimetres;
2. a **base** layer of the whole volume with an error-bounded codec (SPERR, SZ3 or ZFP accuracy) at the loose
   bound ``tolerance``;
3. a **refinement** inside the region: the base layer's residual, less a prediction from the base layer's value
   (:data:`CLASSES` classes of value, each with its median residual), quantised with a step of ``2 t + 1``
   (integer voxels; ``2 t`` for float voxels) so that every region voxel is within ``roi_tolerance`` = t;
   one zstd chunk per class.

Decoding needs the file alone. Both bounds are checked on the decoded voxels before an encoding is returned:
``max |error| <= tolerance`` everywhere and ``<= roi_tolerance`` in the region (``floor`` of each for integer
voxels). Outside the region the volume is degraded on purpose (see docs/roi.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from cerebro.codecs._slices import guaranteed_error, restore_dtype, tolerance_setting
from cerebro.codecs.base import Codec, Encoded, Mode, Setting, accepted_options, get_codec, lazy_module, register
from cerebro.codecs.meta import MAX_DIMENSION, corrupt, meta_choice, meta_dict, meta_float, meta_int
from cerebro.codecs.setting import format_value
from cerebro.errors import CerebroError
from cerebro.progress import Progress
from cerebro.volume import Volume, same_geometry

imagecodecs = lazy_module("imagecodecs")
BLOCK = 2
"""Edge of the region map's blocks in voxels: a block is refined when any of its voxels is in the region."""

BASES = {"sperr": "pwe", "sz3": "abs", "zfp": "accuracy"}
"""The error-bounded codecs a base layer may use, with the mode whose ``tolerance`` setting it sets."""

REFINEMENT_TYPES = ("int8", "int16", "int32", "int64")
"""Types of the stored refinement steps (the narrowest that holds the largest step count)."""

MAX_MARGIN_MM = 10.0

EMPTY = b""
"""The refinement chunk of a class without region voxels."""

CLASSES = 16
"""The refinement codes the region's voxels in this many classes of their base-layer value, each with its own
predicted residual (:func:`class_offsets`) and its own zstd chunk (so each gets its own entropy code)."""

_COMMON = (
    Setting("base", kind=str, default="sperr", choices=tuple(BASES),
            help="error-bounded codec of the whole volume at the loose tolerance"),
    replace(tolerance_setting(), default=50.0,
            help="max absolute error outside the region in the image's units (HU for CT); integer volumes get "
                 "floor(t)"),
    Setting("roi_tolerance", kind=float, default=10.0, minimum=0.0, maximum=1e9, unit="image units",
            help="max absolute error in the region (0: lossless there); at most the tolerance"),
    Setting("margin", kind=float, default=0.0, minimum=0.0, maximum=MAX_MARGIN_MM, unit="mm",
            help="the region is grown by this distance (the vesselness already reaches past the vessel wall, and "
                 "the region is rounded up to 2-voxel blocks)"),
)


class RoiCodec(Codec):
    """A base layer at a loose bound plus a refinement to a tight bound inside a vessel region (module doc)."""

    name = "roi"
    requires = ("imagecodecs",)
    requires_feature = "imagecodecs.ZSTD"
    description = ("vessel-aware: a loose error bound outside a vessel region (vesselness or a mask), a tight one "
                   "inside; base layer SPERR / SZ3 / ZFP")
    modes = {
        "vesselness": Mode("vesselness", settings=(*_COMMON, Setting(
            "threshold", kind=float, default=0.02, minimum=1e-4, maximum=0.99,
            help="vesselness (0..1 of its maximum) above which a voxel is a vessel; lower keeps fainter vessels")),
            help="region: bright tubes of the original's multi-scale vesselness, grown by the margin"),
        "mask": Mode("mask", settings=(*_COMMON, Setting(
            "mask", kind=str, help="a label volume on the image's grid (e.g. a segmentation); nonzero = region")),
            help="region: a given mask (nonzero voxels) on the image's grid, grown by the margin"),
    }

    def resolve_settings(self, mode: str, settings: dict[str, Any] | None = None) -> dict[str, Any]:
        """As :meth:`Codec.resolve_settings`, and the region bound may not exceed the base bound."""
        resolved = super().resolve_settings(mode, settings)
        if resolved["roi_tolerance"] > resolved["tolerance"]:
            raise CerebroError(f"roi_tolerance={resolved['roi_tolerance']:g} is larger than tolerance="
                               f"{resolved['tolerance']:g}: the region's bound must be the tighter one")
        return resolved

    def setting_range(self, mode: str, name: str, others: dict[str, Any]) -> tuple[float, float]:
        """The base ``tolerance`` starts at the region's bound (the rest as declared)."""
        low, high = super().setting_range(mode, name, others)
        return (max(low, float(others["roi_tolerance"])), high) if name == "tolerance" else (low, high)

    def encode(
        self, volume: Volume, mode: str, settings: dict[str, Any], progress: Progress | None = None,
        workers: int | None = None,
    ) -> Encoded:
        """Region, base layer and refinement (module doc); both bounds checked on the decoded voxels. ``workers``
        is handed to a base codec that codes chunks in parallel."""
        progress = progress or Progress()
        region = _region(volume, mode, settings, progress.sub(0.0, 0.35))
        blocks = block_map(region)
        voxels = expand_blocks(blocks, volume.shape)
        share = float(voxels.mean())
        if not voxels.any():
            raise CerebroError("the region is empty (no vessel found); lower the threshold, give a mask with "
                               "vessels, or use the base codec alone")
        if voxels.all():
            raise CerebroError("the region covers the whole volume, so nothing would be coded coarsely; raise the "
                               "threshold, lower the margin, or use the base codec alone")
        base = get_codec(settings["base"])
        base_mode = BASES[base.name]
        base_settings = base.resolve_settings(base_mode, {"tolerance": settings["tolerance"]})
        layer = base.encode(volume, base_mode, base_settings, progress.sub(0.35, 0.75),
                            **accepted_options(base.encode, workers=workers))
        decoded = base.decode(layer, volume.shape, volume.dtype, **accepted_options(base.decode, workers=workers))
        if not decoded.flags.writeable:
            decoded = decoded.copy()
        progress.update(0.8, "refining the region")
        step = quantisation_step(settings["roi_tolerance"], volume.dtype)
        if not step > 0:
            raise CerebroError("roi_tolerance=0 (lossless in the region) needs integer voxels; give this "
                               f"{volume.dtype} volume a positive roi_tolerance")
        outside_error = _largest_error(volume.array[~voxels], decoded[~voxels])
        base_values = decoded[voxels]
        classes, edges = value_classes(base_values)
        residual = volume.array[voxels].astype(np.float64) - base_values
        offsets = class_offsets(residual, classes, volume.dtype)
        counts = np.rint((residual - offsets[classes]) / step)
        refined = restore_dtype(base_values + offsets[classes] + counts * step, volume.dtype)
        inside_error = _largest_error(volume.array[voxels], refined)
        outside_bound = guaranteed_error(settings["tolerance"], volume.dtype)
        inside_bound = guaranteed_error(settings["roi_tolerance"], volume.dtype)
        if not (outside_error <= outside_bound and inside_error <= inside_bound):
            raise CerebroError(f"roi could not keep the bounds on this {volume.dtype} volume (errors {outside_error:g} "
                               f"outside, {inside_error:g} inside the region): use larger tolerances or another codec")
        kind = _refinement_type(counts)
        refinement = [_deflate(counts[classes == k].astype(kind)) for k in range(CLASSES)]
        region_chunk = imagecodecs.zstd_encode(np.packbits(blocks).tobytes(), 19)
        meta = {
            "error_bound": f"max |error| <= {format_value(outside_bound)}, <= {format_value(inside_bound)} in the "
                           "region"
                           + (" (integer voxels)" if volume.dtype.kind in "iu" else ""),
            "max_error_bound": outside_bound, "roi_error_bound": inside_bound,
            "max_abs_error": max(outside_error, inside_error), "roi_max_abs_error": inside_error,
            "region_share": share, "block": BLOCK, "step": step, "refinement_type": kind,
            "class_edges": [float(e) for e in edges], "class_offsets": [float(o) for o in offsets],
            "base": {"codec": base.name, "mode": base_mode, "settings": dict(base_settings), "meta": layer.meta,
                     "chunks": len(layer.chunks)},
        }
        progress.update(1.0, "roi done")
        return Encoded(self.name, mode, dict(settings), [region_chunk, *layer.chunks, *refinement], meta)

    def decode(
        self, encoded: Encoded, shape: tuple[int, int, int], dtype: np.dtype, progress: Progress | None = None,
        workers: int | None = None,
    ) -> np.ndarray:
        """Base layer, then the refinement added in the region's voxels."""
        dtype = np.dtype(dtype)
        meta = encoded.meta
        base_meta = meta["base"]
        count = base_meta["chunks"]
        base = get_codec(base_meta["codec"])
        layer = Encoded(base.name, base_meta["mode"], dict(base_meta["settings"]), list(encoded.chunks[1:1 + count]),
                        base_meta["meta"])
        array = base.decode(layer, shape, dtype, progress.sub(0.0, 0.8) if progress else None,
                            **accepted_options(base.decode, workers=workers))
        if not array.flags.writeable:
            array = array.copy()
        voxels = expand_blocks(read_block_map(encoded.chunks[0], shape), shape)
        kind = np.dtype(meta["refinement_type"])
        base_values = array[voxels].astype(np.float64)
        classes = np.searchsorted(np.asarray(meta["class_edges"], dtype=np.float64), base_values, side="right")
        offsets = np.asarray(meta["class_offsets"], dtype=np.float64)
        counts = np.empty(base_values.shape, dtype=np.float64)
        for k, chunk in enumerate(encoded.chunks[1 + count:]):
            members = classes == k
            data = _inflate(chunk, int(members.sum()) * kind.itemsize, f"refinement chunk {k + 1}")
            counts[members] = np.frombuffer(data, dtype=kind)
        array[voxels] = restore_dtype(base_values + offsets[classes] + counts * float(meta["step"]), dtype)
        return array

    def validate_meta(self, meta: dict[str, Any], shape: tuple[int, int, int], dtype: np.dtype,
                      chunk_sizes: Sequence[int]) -> None:
        """The base layer's meta (validated by its codec), block size, step, refinement type and value classes."""
        base_meta = meta_dict(meta, "base", self.name)
        name = meta_choice(base_meta, "codec", list(BASES), f"{self.name} base")
        meta_choice(base_meta, "mode", [BASES[name]], f"{self.name} base")
        meta_dict(base_meta, "settings", f"{self.name} base")
        count = meta_int(base_meta, "chunks", 1, MAX_DIMENSION, f"{self.name} base")
        meta_choice(meta, "block", [BLOCK], self.name)
        meta_choice(meta, "refinement_type", list(REFINEMENT_TYPES), self.name)
        step = meta_float(meta, "step", self.name)
        integers = np.dtype(dtype).kind in "iu"
        if not step > 0 or (integers and step != int(step)):
            raise corrupt(self.name, "step", "a positive number (an odd integer for integer voxels)", step)
        edges = _finite_list(meta, "class_edges", CLASSES - 1, self.name)
        if any(b < a for a, b in zip(edges, edges[1:])):
            raise corrupt(self.name, "class_edges", "non-decreasing", edges)
        offsets = _finite_list(meta, "class_offsets", CLASSES, self.name)
        if integers and any(o != int(o) for o in offsets):
            raise corrupt(self.name, "class_offsets", "whole numbers for integer voxels", offsets)
        expected = 1 + count + CLASSES
        if len(chunk_sizes) != expected:
            raise CerebroError(f"{self.name}: the header lists {len(chunk_sizes)} chunks where the volume needs "
                               f"{expected}; the file is corrupt, re-create it from the original")
        get_codec(name).validate_meta(meta_dict(base_meta, "meta", f"{self.name} base"), shape, dtype,
                                      chunk_sizes[1:1 + count])

    def region(self, encoded: Encoded, shape: tuple[int, int, int]) -> np.ndarray:
        """The voxels (bool, ``shape``) the refinement covers, read from the file's block map."""
        return expand_blocks(read_block_map(encoded.chunks[0], shape), shape)


def quantisation_step(roi_tolerance: float, dtype: np.dtype) -> float:
    """The refinement's step: ``2 floor(t) + 1`` for integer voxels (errors <= floor(t)), ``2 t`` for floats less
    the round-off of storing the sum in ``dtype``."""
    if np.dtype(dtype).kind in "iu":
        return float(2 * math.floor(roi_tolerance) + 1)
    return 2.0 * roi_tolerance * (1.0 - 1e-6)


def _region(volume: Volume, mode: str, settings: dict[str, Any], progress: Progress) -> np.ndarray:
    """The region's voxels (bool, the volume's shape) before block rounding."""
    from cerebro.vesselness import grow_region, vessel_region

    if mode == "vesselness":
        return vessel_region(volume, settings["threshold"], settings["margin"], progress)
    mask = _read_mask(volume, settings["mask"])
    return grow_region(mask, volume.spacing, settings["margin"])


def _read_mask(volume: Volume, path: str) -> np.ndarray:
    """The nonzero voxels of the mask file ``path``, which must share ``volume``'s grid."""
    from cerebro.io import read_volume

    if not path:
        raise CerebroError("mode mask needs the setting mask=PATH (a label volume on the image's grid)")
    if not Path(path).is_file():
        raise CerebroError(f"the region mask {path} does not exist; give a label volume on the image's grid")
    mask = read_volume(path)
    mismatch = same_geometry(mask, volume)
    if mismatch:
        raise CerebroError(f"the region mask {path} is not on the image's grid ({mismatch}); resample it onto the "
                           "image (e.g. a segmentation of this image)")
    return mask.array != 0


def block_map(voxels: np.ndarray) -> np.ndarray:
    """Blocks of :data:`BLOCK`^3 voxels (bool, ``ceil(shape / BLOCK)``) holding at least one region voxel."""
    padded = np.pad(voxels, [(0, (-n) % BLOCK) for n in voxels.shape])
    z, y, x = (n // BLOCK for n in padded.shape)
    return padded.reshape(z, BLOCK, y, BLOCK, x, BLOCK).any(axis=(1, 3, 5))


def expand_blocks(blocks: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """The voxels (bool, ``shape``) of the blocks set in ``blocks``."""
    full = blocks.repeat(BLOCK, 0).repeat(BLOCK, 1).repeat(BLOCK, 2)
    return np.ascontiguousarray(full[: shape[0], : shape[1], : shape[2]])


def read_block_map(chunk: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    """The block map of a volume of ``shape`` from its chunk; a chunk of another size is refused before inflating."""
    grid = tuple(-(-n // BLOCK) for n in shape)
    data = _inflate(chunk, -(-math.prod(grid) // 8), "region map")
    return np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=math.prod(grid)).astype(bool).reshape(grid)


def _inflate(chunk: bytes, nbytes: int, what: str) -> bytes:
    """A zstd chunk that must inflate to exactly ``nbytes`` (never more is allocated); anything else is corrupt."""
    try:
        data = imagecodecs.zstd_decode(chunk, out=nbytes) if nbytes else b""
    except Exception as exc:  # noqa: BLE001 - a damaged chunk may fail in any way inside zstd
        raise CerebroError(f"the roi {what} cannot be decoded ({str(exc)[:80]}); the file is corrupt") from None
    if len(data) != nbytes or (not nbytes and chunk != EMPTY):
        raise CerebroError(f"the roi {what} holds {len(data)} bytes where the region needs {nbytes}; the file is "
                           "corrupt")
    return bytes(data)


def value_classes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each region voxel's class (0 .. CLASSES - 1) by its base-layer value, and the class edges: the value
    quantiles, so that every class holds about as many voxels (the decoder recomputes the classes from the edges)."""
    edges = np.quantile(values, np.linspace(0.0, 1.0, CLASSES + 1)[1:-1]) if values.size else np.zeros(CLASSES - 1)
    return np.searchsorted(edges, values, side="right"), edges


def class_offsets(residual: np.ndarray, classes: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The predicted residual of each class: its median (whole numbers for integer voxels). The base layer's error
    depends on the value (a wavelet coder lowers bright vessels, raises the dark background next to them), so
    coding the residual less this prediction takes fewer bits."""
    offsets = np.zeros(CLASSES)
    for k in range(CLASSES):
        members = residual[classes == k]
        if members.size:
            offsets[k] = float(np.median(members))
    return np.rint(offsets) if np.dtype(dtype).kind in "iu" else offsets


def _largest_error(original: np.ndarray, decoded: np.ndarray) -> float:
    """max |decoded - original| (0 for empty arrays)."""
    return float(np.max(np.abs(decoded.astype(np.float64) - original))) if original.size else 0.0


def _deflate(counts: np.ndarray) -> bytes:
    """One class's step counts as a zstd chunk (:data:`EMPTY` for a class without voxels)."""
    return imagecodecs.zstd_encode(counts.tobytes(), 19) if counts.size else EMPTY


def _finite_list(meta: dict[str, Any], field: str, length: int, codec: str) -> list[float]:
    """``meta[field]`` as a list of ``length`` finite numbers."""
    value = meta.get(field)
    if not isinstance(value, list) or len(value) != length or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise corrupt(codec, field, f"a list of {length} finite numbers", value)
    return [float(v) for v in value]


def _refinement_type(counts: np.ndarray) -> str:
    """The narrowest of :data:`REFINEMENT_TYPES` holding every step count."""
    largest = int(np.max(np.abs(counts))) if counts.size else 0
    return next(t for t in REFINEMENT_TYPES if largest <= np.iinfo(t).max)


register(RoiCodec())
