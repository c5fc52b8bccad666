"""LERC (Limited Error Raster Compression) with a max-error bound through ``imagecodecs``.

LERC takes int16/uint16/int32/float arrays natively; for integer voxels its ``maxZError`` t yields
|error| <= floor(t) (t < 1 is lossless).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cerebro.codecs._slices import decode_slabs, encode_bounded_slabs, tolerance_setting, validate_slab_meta
from cerebro.codecs.base import Codec, Encoded, Mode, lazy_module, register
from cerebro.progress import Progress
from cerebro.volume import Volume

imagecodecs = lazy_module("imagecodecs")



class LERCCodec(Codec):
    """LERC with a max absolute error in image units."""

    requires = ("imagecodecs",)
    requires_feature = "imagecodecs.LERC"

    name = "lerc"
    description = "LERC (imagecodecs), max absolute error in image units, zstd back end"
    modes = {
        "maxerror": Mode("maxerror", settings=(tolerance_setting(),),
                         help="every voxel within ±tolerance (floor(tolerance) for integer volumes)")
    }

    def encode(
        self, volume: Volume, mode: str, settings: dict[str, Any], progress: Progress | None = None
    ) -> Encoded:
        """Compress slab by slab with LERC (+zstd) and verify the bound on the decoded slabs."""
        tolerance = float(settings["tolerance"])

        def encode_slab(slab: np.ndarray) -> bytes:
            return imagecodecs.lerc_encode(slab, tolerance, compression="zstd")

        def decode_slab(chunk: bytes, shape: tuple[int, int, int]) -> np.ndarray:
            return _decode(chunk, shape, volume.dtype)

        chunks, meta = encode_bounded_slabs(volume.array, tolerance, encode_slab, decode_slab, self.name, progress)
        return Encoded(self.name, mode, dict(settings), chunks, meta)

    def decode(
        self, encoded: Encoded, shape: tuple[int, int, int], dtype: np.dtype, progress: Progress | None = None
    ) -> np.ndarray:
        """Decompress every slab (LERC restores the original dtype)."""
        return decode_slabs(encoded.chunks, shape, encoded.meta["slab"],
                            lambda chunk, slab_shape: _decode(chunk, slab_shape, dtype), progress, "lerc slab")

    def validate_meta(self, meta: dict[str, Any], shape: tuple[int, int, int], dtype: np.dtype,
                      chunk_sizes: Sequence[int]) -> None:
        """One chunk per slab of ``meta["slab"]`` slices."""
        validate_slab_meta(meta, shape, chunk_sizes, self.name)


def _decode(chunk: bytes, shape: tuple[int, int, int], dtype: np.dtype) -> np.ndarray:
    """One LERC blob into a new array of ``shape`` and ``dtype`` (a blob declaring another size is refused)."""
    return imagecodecs.lerc_decode(chunk, out=np.empty(shape, dtype=dtype))


register(LERCCodec())
