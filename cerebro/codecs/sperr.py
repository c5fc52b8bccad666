"""SPERR wavelet compressor in point-wise-error mode (absolute error bound) through ``imagecodecs``.

SPERR works on float arrays: integer volumes are compressed as exact float32 values with the float
bound of :func:`cerebro.codecs._slices.float_tolerance` and rounded back, so |error| <= floor(t).
"""

from __future__ import annotations

from typing import Any

import imagecodecs
import numpy as np

from cerebro.codecs._slices import (
    decode_slabs,
    encode_bounded_slabs,
    float_tolerance,
    float_working_dtype,
    restore_dtype,
    tolerance_setting,
)
from cerebro.codecs.base import Codec, Encoded, Mode, register
from cerebro.progress import Progress
from cerebro.volume import Volume

if not imagecodecs.SPERR.available:
    raise ModuleNotFoundError("imagecodecs was built without SPERR", name="imagecodecs")


class SPERRCodec(Codec):
    """SPERR with a point-wise absolute error bound in image units."""

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

        def encode_slab(slab: np.ndarray) -> bytes:
            return imagecodecs.sperr_encode(_as_3d_float(slab, working), level, "pwe", numthreads=1)

        def decode_slab(chunk: bytes, shape: tuple[int, int, int]) -> np.ndarray:
            return restore_dtype(_decode(chunk, shape), dtype)

        chunks, meta = encode_bounded_slabs(volume.array, settings["tolerance"], encode_slab, decode_slab,
                                            self.name, progress)
        return Encoded(self.name, mode, dict(settings), chunks, meta)

    def decode(
        self, encoded: Encoded, shape: tuple[int, int, int], dtype: np.dtype, progress: Progress | None = None
    ) -> np.ndarray:
        """Decompress every slab and round/cast back to ``dtype``."""
        dtype = np.dtype(dtype)
        return decode_slabs(encoded.chunks, shape, encoded.meta["slab"],
                            lambda chunk, s: restore_dtype(_decode(chunk, s), dtype), progress, "sperr slab")


def _as_3d_float(slab: np.ndarray, working: np.dtype) -> np.ndarray:
    """SPERR's 3D path needs at least 2 slices; a single-slice slab is repeated once (dropped on decode)."""
    values = slab.astype(working)
    return np.ascontiguousarray(np.concatenate([values, values]) if values.shape[0] == 1 else values)


def _decode(chunk: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    return imagecodecs.sperr_decode(chunk, numthreads=1)[: shape[0]].reshape(shape)


register(SPERRCodec())
