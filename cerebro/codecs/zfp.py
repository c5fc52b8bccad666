"""ZFP (through ``zfpy``) in its four modes, for every supported voxel type, in parallel slabs.

zfpy compresses only float32, float64, int32 and int64 arrays, so other types are converted:

============  ==========================  ==================
voxel dtype   lossy modes work in         reversible works in
============  ==========================  ==================
(u)int8/16    float32 (exact)             int32
int32/uint32  float64 (exact)             int32 / int64
float32/64    itself                      itself
============  ==========================  ==================

Decoded integer data are rounded to the nearest integer and clipped to the dtype's range.

Error bound of fixed-accuracy mode with tolerance ``t``: float data: ``|error| <= t`` (ZFP's own
guarantee). Integer data: ``|error| <= floor(t)`` (errors are integers, so this is the same as
``|error| <= t``). To get it, ZFP is given ``floor(t) + 0.5 - 1/64`` (:func:`cerebro.codecs._slices.float_tolerance`,
the rule every error-bounded codec follows): its result is within that of the original integer, and rounding to
the nearest integer then lands within ``floor(t)`` (the 1/64 margin absorbs float round-off); clipping to the
dtype range only brings values closer to the original. With ``t < 1`` integer data therefore round-trip exactly.
Each slab's bound is checked on its decoded voxels (:func:`~cerebro.codecs._slices.check_bound`).

The volume is cut into slabs of whole slices along k (a multiple of 4, ZFP's block size), each a
self-contained ZFP stream; slabs are encoded and decoded on several processes (zfpy holds the GIL).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import numpy as np

from cerebro.codecs._slices import (
    LOSSLESS_BOUND,
    bound_text,
    check_bound,
    float_tolerance,
    guaranteed_error,
    restore_dtype,
    slab_ranges,
)
from cerebro.codecs.base import Codec, Encoded, Mode, Setting, lazy_module, register
from cerebro.codecs.meta import MAX_DIMENSION, corrupt, meta_choice, meta_int, require_chunk_count
from cerebro.errors import CerebroError
from cerebro.parallel import effective_workers, map_chunks, open_scratch, shared_scratch
from cerebro.progress import Progress
from cerebro.volume import Volume

zfpy = lazy_module("zfpy")
# Default slab size: about this many voxels per chunk (8 slices of 512 x 512; finer progress and load balance).
CHUNK_VOXELS = 2 * 1024 * 1024

_LOSSY_WORK_DTYPE = {"uint8": "float32", "int8": "float32", "uint16": "float32", "int16": "float32",
                     "uint32": "float64", "int32": "float64", "float32": "float32", "float64": "float64"}
_REVERSIBLE_WORK_DTYPE = {"uint8": "int32", "int8": "int32", "uint16": "int32", "int16": "int32",
                          "uint32": "int64", "int32": "int32", "float32": "float32", "float64": "float64"}


def default_slices_per_chunk(shape: tuple[int, int, int]) -> int:
    """Slices per chunk: a multiple of 4 giving about ``CHUNK_VOXELS`` voxels per chunk (at least 4)."""
    per_slice = max(1, shape[1] * shape[2])
    return max(4, (CHUNK_VOXELS // per_slice) // 4 * 4)


def _encode_slab(slab: np.ndarray, work_dtype: str, parameters: dict[str, float], bound: float | None) -> bytes:
    """One slab as a ZFP stream; with a ``bound`` (fixed-accuracy mode) the stream is decoded again and refused
    if any voxel is off by more (ZFP's tolerance does not hold where float values are spaced wider apart)."""
    blob = zfpy.compress_numpy(np.ascontiguousarray(slab, dtype=work_dtype), **parameters)
    if bound is not None:
        decoded = np.empty(slab.shape, dtype=slab.dtype)
        _decode_slab_into(blob, decoded, work_dtype)
        check_bound(slab, decoded, bound, "ZFP accuracy mode")
    return blob


def _decode_slab_into(blob: bytes, out: np.ndarray, work_dtype: str) -> None:
    """Decode one ZFP stream into ``out`` (a slab of the result), rounding/clipping for integer dtypes.

    The stream's own header is read first: a stream of another shape or type is refused before zfpy
    allocates it.
    """
    try:
        header = zfpy.header(blob)
    except Exception as exc:  # zfpy raises bare Exception / TypeError for a stream without a valid header
        raise CerebroError(f"a ZFP chunk has no valid stream header ({exc}); the file is corrupt") from None
    shape = tuple(int(header[name]) for name in ("nz", "ny", "nx"))
    if int(header.get("nw", 0)) or shape != out.shape or np.dtype(header["type"]) != np.dtype(work_dtype):
        raise CerebroError(f"a ZFP chunk holds a {'x'.join(map(str, shape))} {np.dtype(header['type'])} stream, "
                           f"expected {'x'.join(map(str, out.shape))} {work_dtype}; the file is corrupt")
    restore_dtype(zfpy.decompress_numpy(blob), out.dtype, out=out)


def _encode_shared_slab(path: str, shape: tuple[int, ...], dtype: str, start: int, stop: int, work_dtype: str,
                        parameters: dict[str, float], bound: float | None) -> bytes:
    return _encode_slab(open_scratch(path, shape, dtype)[start:stop], work_dtype, parameters, bound)


def _decode_shared_slab(blob: bytes, path: str, shape: tuple[int, ...], dtype: str, start: int, stop: int,
                        work_dtype: str) -> None:
    out = open_scratch(path, shape, dtype, writable=True)
    _decode_slab_into(blob, out[start:stop], work_dtype)
    out.flush()


def work_dtype_of(mode: str, dtype: np.dtype) -> str:
    """The type ZFP codes a ``dtype`` volume in for ``mode`` (see the module's table)."""
    return (_REVERSIBLE_WORK_DTYPE if mode == "reversible" else _LOSSY_WORK_DTYPE)[np.dtype(dtype).name]


class ZfpCodec(Codec):
    """ZFP: fixed-rate, fixed-accuracy, fixed-precision and reversible (lossless) modes."""

    name = "zfp"
    requires = ("zfpy",)
    description = "ZFP transform coder (zfpy); fast, error-bounded in accuracy mode, lossless in reversible mode"
    modes = {
        "rate": Mode("rate", (Setting(
            "rate", float, default=8.0, minimum=0.25, maximum=64.0, unit="bits/value", monotonic="decreasing",
            help="bits per value of the type ZFP codes (float32 for 8/16-bit integers, float64 for 32-bit); "
                 "the report gives the real bits per voxel of the file"),),
            help="fixed rate: every 4x4x4 block gets the same number of bits"),
        "accuracy": Mode("accuracy", (Setting(
            "tolerance", float, minimum=1e-12, maximum=1e30, unit="image intensity units, e.g. HU",
            monotonic="increasing",
            help="largest allowed absolute error per voxel, in the image's own units"),),
            help="fixed accuracy: |error| <= tolerance (integer images: <= floor(tolerance))"),
        "precision": Mode("precision", (Setting(
            "precision", int, default=16, minimum=1, maximum=64, unit="bit planes", monotonic="decreasing",
            help="number of bit planes kept per block (more = better quality)"),),
            help="fixed precision: relative error control"),
        "reversible": Mode("reversible", (), lossless=True, help="lossless: decodes bit-exactly"),
    }

    def encode(
        self,
        volume: Volume,
        mode: str,
        settings: dict[str, Any],
        progress: Progress | None = None,
        workers: int | None = None,
        slices_per_chunk: int | None = None,
    ) -> Encoded:
        """Compress ``volume`` in slabs of ``slices_per_chunk`` slices on ``workers`` processes (None = all cores)."""
        volume.require_finite()
        dtype = volume.dtype.name
        work_dtype = work_dtype_of(mode, volume.dtype)
        parameters, bound, check = self._parameters(mode, settings, volume.dtype)
        per_chunk = slices_per_chunk or default_slices_per_chunk(volume.shape)
        if per_chunk < 1:
            raise CerebroError(f"slices_per_chunk must be >= 1, got {per_chunk}")
        bounds = slab_ranges(volume.shape[0], per_chunk)
        if effective_workers(workers, len(bounds)) == 1:
            items = [(volume.array[a:b], work_dtype, parameters, check) for a, b in bounds]
            chunks = map_chunks(_encode_slab, items, 1, progress, "ZFP encoding")
        else:
            with shared_scratch(volume.shape, volume.dtype) as (scratch, path):
                scratch[...] = volume.array
                scratch.flush()
                items = [(path, volume.shape, dtype, a, b, work_dtype, parameters, check) for a, b in bounds]
                chunks = map_chunks(_encode_shared_slab, items, workers, progress, "ZFP encoding")
        meta = {
            "library": {"name": "zfpy", "version": version("zfpy")},
            "work_dtype": work_dtype,
            "zfp_parameters": parameters,
            "slices_per_chunk": per_chunk,
            "chunk_slices": [list(b) for b in bounds],
            "error_bound": bound,
        }
        return Encoded(codec=self.name, mode=mode, settings=settings, chunks=chunks, meta=meta)

    def decode(
        self,
        encoded: Encoded,
        shape: tuple[int, int, int],
        dtype: np.dtype,
        progress: Progress | None = None,
        workers: int | None = None,
    ) -> np.ndarray:
        """Rebuild the (nz, ny, nx) array of ``dtype`` from the slabs, on ``workers`` processes."""
        bounds = [tuple(b) for b in encoded.meta["chunk_slices"]]
        dtype, work_dtype = np.dtype(dtype), encoded.meta["work_dtype"]
        if effective_workers(workers, len(bounds)) == 1:
            out = np.empty(shape, dtype=dtype)
            items = [(blob, out[a:b], work_dtype) for blob, (a, b) in zip(encoded.chunks, bounds)]
            map_chunks(_decode_slab_into, items, 1, progress, "ZFP decoding")
            return out
        with shared_scratch(shape, dtype) as (scratch, path):
            items = [(blob, path, tuple(shape), dtype.name, a, b, work_dtype)
                     for blob, (a, b) in zip(encoded.chunks, bounds)]
            map_chunks(_decode_shared_slab, items, workers, progress, "ZFP decoding")
            return np.array(scratch)

    def validate_meta(self, meta: dict[str, Any], shape: tuple[int, int, int], dtype: np.dtype,
                      chunk_sizes: Sequence[int]) -> None:
        """The work type of ``dtype`` (any lossy or the reversible one) and one chunk per slab of whole slices."""
        choices = sorted({work_dtype_of("rate", dtype), work_dtype_of("reversible", dtype)})
        meta_choice(meta, "work_dtype", choices, self.name)
        per_chunk = meta_int(meta, "slices_per_chunk", 1, MAX_DIMENSION, self.name)
        layout = slab_ranges(shape[0], per_chunk)
        slabs = meta.get("chunk_slices")
        if not isinstance(slabs, list) or [tuple(b) if isinstance(b, list) else b for b in slabs] != layout:
            raise corrupt(self.name, "chunk_slices", f"the slabs of {per_chunk} slices of {shape[0]}", slabs)
        require_chunk_count(chunk_sizes, len(layout), self.name)

    @staticmethod
    def _parameters(mode: str, settings: dict[str, Any], dtype: np.dtype
                    ) -> tuple[dict[str, float], str, float | None]:
        """zfpy keyword arguments for ``mode``, the error bound that holds after decoding in words, and the max
        |error| each slab is checked against after encoding (accuracy mode; None in the others)."""
        if mode == "rate":
            return {"rate": settings["rate"]}, "none (fixed rate)", None
        if mode == "precision":
            return {"precision": settings["precision"]}, "none (fixed precision)", None
        if mode == "reversible":
            return {}, LOSSLESS_BOUND, None
        tolerance = settings["tolerance"]
        promised = guaranteed_error(tolerance, dtype)
        return {"tolerance": float_tolerance(tolerance, dtype)}, bound_text(promised, dtype), promised


register(ZfpCodec())
