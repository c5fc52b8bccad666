"""Blosc2 lossless baseline through ``imagecodecs``: byte- or bit-shuffled voxels + zstd/lz4, slab by slab.

imagecodecs' ``blosc2_encode`` is used (not the ``blosc2`` package's NDArray) because a frame of
bytes per slab is all the container needs, with the same bytes-in/bytes-out API as every other codec.
"""

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

if not imagecodecs.BLOSC2.available:
    raise ModuleNotFoundError("imagecodecs was built without blosc2", name="imagecodecs")

SHUFFLES = {"byte": "shuffle", "bit": "bitshuffle", "none": "noshuffle"}


class Blosc2Codec(Codec):
    """Blosc2 (shuffle filter + compressor) on the voxel bytes, bit-exact."""

    name = "blosc2"
    description = "Blosc2 (imagecodecs): byte/bit shuffle + zstd/lz4 on the voxel bytes; lossless baseline"
    modes = {
        "lossless": Mode(
            "lossless",
            settings=(
                Setting("shuffle", kind=str, default="byte", choices=tuple(SHUFFLES), help="shuffle filter"),
                Setting("compressor", kind=str, default="zstd", choices=("zstd", "lz4", "lz4hc", "blosclz", "zlib"),
                        help="back-end compressor"),
                Setting("level", kind=int, default=5, minimum=1, maximum=9, help="compression level"),
            ),
            lossless=True,
            help="bit-exact",
        )
    }

    def encode(
        self, volume: Volume, mode: str, settings: dict[str, Any], progress: Progress | None = None
    ) -> Encoded:
        """Compress each slab's bytes with blosc2 (typesize = voxel size)."""
        itemsize = volume.dtype.itemsize

        def encode_slab(slab: np.ndarray) -> bytes:
            return imagecodecs.blosc2_encode(slab.tobytes(), settings["level"], compressor=settings["compressor"],
                                             shuffle=SHUFFLES[settings["shuffle"]], typesize=itemsize, numthreads=1)

        chunks = encode_parts(split_slabs(little_endian(volume.array)), encode_slab, progress, "blosc2 slab")
        return Encoded(self.name, mode, dict(settings), chunks, {"slab": SLAB, "error_bound": LOSSLESS_BOUND})

    def decode(
        self, encoded: Encoded, shape: tuple[int, int, int], dtype: np.dtype, progress: Progress | None = None
    ) -> np.ndarray:
        """Decompress each slab's bytes into ``dtype``."""
        decoder = bytes_decoder(dtype, lambda chunk: imagecodecs.blosc2_decode(chunk, numthreads=1))
        return decode_slabs(encoded.chunks, shape, encoded.meta["slab"], decoder, progress, "blosc2 slab").astype(dtype)


register(Blosc2Codec())
