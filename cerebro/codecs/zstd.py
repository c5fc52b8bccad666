"""Zstandard lossless baseline through ``imagecodecs``: the raw voxel bytes, slab by slab."""

from __future__ import annotations

from typing import Any

import imagecodecs
import numpy as np

from cerebro.codecs._slices import (
    LOSSLESS_BOUND,
    SLAB,
    bytes_decoder,
    decode_slabs,
    encode_parts,
    little_endian,
    split_slabs,
)
from cerebro.codecs.base import Codec, Encoded, Mode, Setting, register
from cerebro.progress import Progress
from cerebro.volume import Volume

if not imagecodecs.ZSTD.available:
    raise ModuleNotFoundError("imagecodecs was built without zstd", name="imagecodecs")


class ZstdCodec(Codec):
    """zstd on the little-endian voxel bytes (no shuffle), bit-exact."""

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
        chunks = encode_parts(split_slabs(little_endian(volume.array)),
                              lambda slab: imagecodecs.zstd_encode(slab.tobytes(), level), progress, "zstd slab")
        return Encoded(self.name, mode, dict(settings), chunks, {"slab": SLAB, "error_bound": LOSSLESS_BOUND})

    def decode(
        self, encoded: Encoded, shape: tuple[int, int, int], dtype: np.dtype, progress: Progress | None = None
    ) -> np.ndarray:
        """Decompress each slab's bytes into ``dtype``."""
        decoder = bytes_decoder(dtype, imagecodecs.zstd_decode)
        return decode_slabs(encoded.chunks, shape, encoded.meta["slab"], decoder, progress, "zstd slab").astype(dtype)


register(ZstdCodec())
