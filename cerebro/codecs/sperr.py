"""SPERR wavelet compressor in point-wise-error mode (absolute error bound) through ``imagecodecs``.

SPERR works on float arrays: integer volumes are compressed as exact float32 values with the float
bound of :func:`cerebro.codecs._slices.float_tolerance` and rounded back, so |error| <= floor(t).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cerebro.codecs._slices import (
    decode_slabs,
    encode_bounded_slabs,
    float_tolerance,
    float_working_dtype,
    restore_dtype,
    tolerance_setting,
    validate_slab_meta,
)
from cerebro.codecs.base import Codec, Encoded, Mode, lazy_module, register
from cerebro.errors import CerebroError
from cerebro.progress import Progress
from cerebro.volume import Volume

imagecodecs = lazy_module("imagecodecs")



class SPERRCodec(Codec):
    """SPERR with a point-wise absolute error bound in image units."""

    requires = ("imagecodecs",)
    requires_feature = "imagecodecs.SPERR"

    name = "sperr"
    description = "SPERR wavelet compressor (imagecodecs), point-wise absolute error bound in image units"
    modes = {
        "pwe": Mode("pwe", settings=(tolerance_setting(),),
                    help="every voxel within ±tolerance (floor(tolerance) for integer volumes)")
    }

    def encode(
        self, volume: Volume, mode: str, settings: dict[str, Any], progress: Progress | None = None
    ) -> Encoded:
        """Compress slab by slab in SPERR's PWE mode and verify the bound on the decoded slabs."""
        dtype, working = volume.dtype, float_working_dtype(volume.dtype)
        level = float_tolerance(settings["tolerance"], dtype)
        require_sperr_range(volume.array, level)

        def encode_slab(slab: np.ndarray) -> bytes:
            return imagecodecs.sperr_encode(_as_3d_float(slab, working), level, "pwe", numthreads=1)

        def decode_slab(chunk: bytes, shape: tuple[int, int, int]) -> np.ndarray:
            return restore_dtype(_decode(chunk, shape, working), dtype)

        chunks, meta = encode_bounded_slabs(volume.array, settings["tolerance"], encode_slab, decode_slab,
                                            self.name, progress)
        return Encoded(self.name, mode, dict(settings), chunks, meta)

    def decode(
        self, encoded: Encoded, shape: tuple[int, int, int], dtype: np.dtype, progress: Progress | None = None
    ) -> np.ndarray:
        """Decompress every slab and round/cast back to ``dtype``."""
        dtype = np.dtype(dtype)
        working = float_working_dtype(dtype)
        return decode_slabs(encoded.chunks, shape, encoded.meta["slab"],
                            lambda chunk, s: restore_dtype(_decode(chunk, s, working), dtype), progress, "sperr slab")

    def validate_meta(self, meta: dict[str, Any], shape: tuple[int, int, int], dtype: np.dtype,
                      chunk_sizes: Sequence[int]) -> None:
        """One chunk per slab of ``meta["slab"]`` slices."""
        validate_slab_meta(meta, shape, chunk_sizes, self.name)


MAX_RANGE_PER_TOLERANCE = 2.0**60
"""SPERR (0.8, as bundled by imagecodecs) crashes the process when max |value| / tolerance reaches about 2^63
or the tolerance itself does; both are refused below this limit, before SPERR is called."""


def require_sperr_range(array: np.ndarray, tolerance: float) -> None:
    """Raise CerebroError if SPERR cannot code ``array`` at ``tolerance`` (see :data:`MAX_RANGE_PER_TOLERANCE`)."""
    largest = float(np.max(np.abs(array.astype(np.float64)))) if array.size else 0.0
    if tolerance >= MAX_RANGE_PER_TOLERANCE or largest / tolerance >= MAX_RANGE_PER_TOLERANCE:
        raise CerebroError(
            f"sperr cannot code values up to {largest:g} within a tolerance of {tolerance:g} (max |value| / "
            f"tolerance must stay below 2^60): use a tolerance of at least {largest / MAX_RANGE_PER_TOLERANCE:.3g}, "
            "rescale the volume, or use sz3 or zfp")


def _as_3d_float(slab: np.ndarray, working: np.dtype) -> np.ndarray:
    """SPERR's 3D path needs at least 2 slices; a single-slice slab is repeated once (dropped on decode)."""
    values = slab.astype(working)
    return np.ascontiguousarray(np.concatenate([values, values]) if values.shape[0] == 1 else values)


_STREAM_START = {"float32": bytes.fromhex("0060"), "float64": bytes.fromhex("0040")}
"""SPERR's version and flags bytes of the one-chunk 3D streams its PWE encoder writes (checked before decoding:
other flags crash SPERR's decoder with SIGFPE, found by scripts/fuzz_cbv.py)."""


def _decode(chunk: bytes, shape: tuple[int, int, int], working: np.dtype) -> np.ndarray:
    """One SPERR stream into a new array of ``shape`` (2 slices for a 1-slice slab, see :func:`_as_3d_float`);
    a stream declaring another size or type is refused before it is decoded."""
    stored = (max(2, shape[0]), shape[1], shape[2])
    if chunk[:2] != _STREAM_START[np.dtype(working).name]:
        raise CerebroError(f"a sperr chunk does not start like the {np.dtype(working).name} 3D streams cerebro writes "
                           f"({chunk[:2].hex()}); the file is corrupt")
    return imagecodecs.sperr_decode(chunk, numthreads=1, out=np.empty(stored, dtype=working))[: shape[0]]


register(SPERRCodec())
