"""Zstandard lossless baseline through ``imagecodecs``: the raw voxel bytes, slab by slab."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cerebro.codecs._slices import decode_byte_slabs, encode_byte_slabs, validate_slab_meta
from cerebro.codecs.base import Codec, Encoded, Mode, Setting, lazy_module, register
from cerebro.progress import Progress
from cerebro.volume import Volume

imagecodecs = lazy_module("imagecodecs")



class ZstdCodec(Codec):
    """zstd on the little-endian voxel bytes (no shuffle), bit-exact."""

    requires = ("imagecodecs",)
    requires_feature = "imagecodecs.ZSTD"

    name = "zstd"
    description = "Zstandard (imagecodecs) on the raw voxel bytes; lossless baseline"
    modes = {
        "lossless": Mode(
            "lossless",
            settings=(Setting("level", kind=int, default=9, minimum=1, maximum=22, help="zstd level"),),
            lossless=True,
            help="bit-exact",
        )
    }

    def encode(
        self, volume: Volume, mode: str, settings: dict[str, Any], progress: Progress | None = None
    ) -> Encoded:
        """Compress each slab's bytes with zstd."""
        level = settings["level"]
        chunks, meta = encode_byte_slabs(volume.array, lambda data: imagecodecs.zstd_encode(data, level), self.name,
                                         progress)
        return Encoded(self.name, mode, dict(settings), chunks, meta)

    def decode(
        self, encoded: Encoded, shape: tuple[int, int, int], dtype: np.dtype, progress: Progress | None = None
    ) -> np.ndarray:
        """Decompress each slab's bytes into ``dtype``."""
        return decode_byte_slabs(encoded.chunks, shape, dtype, encoded.meta,
                                 lambda chunk, nbytes: imagecodecs.zstd_decode(chunk, out=nbytes), self.name, progress)

    def validate_meta(self, meta: dict[str, Any], shape: tuple[int, int, int], dtype: np.dtype,
                      chunk_sizes: Sequence[int]) -> None:
        """One chunk per slab of ``meta["slab"]`` slices."""
        validate_slab_meta(meta, shape, chunk_sizes, self.name)


register(ZstdCodec())
