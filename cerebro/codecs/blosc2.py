"""Blosc2 lossless baseline through ``imagecodecs``: byte- or bit-shuffled voxels + zstd/lz4, slab by slab.

imagecodecs' ``blosc2_encode`` is used (not the ``blosc2`` package's NDArray) because a frame of
bytes per slab is all the container needs, with the same bytes-in/bytes-out API as every other codec.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cerebro.codecs._slices import decode_byte_slabs, encode_byte_slabs, validate_slab_meta
from cerebro.codecs.base import Codec, Encoded, Mode, Setting, lazy_module, register
from cerebro.progress import Progress
from cerebro.volume import Volume

imagecodecs = lazy_module("imagecodecs")


SHUFFLES = {"byte": "shuffle", "bit": "bitshuffle", "none": "noshuffle"}


def _encode_arguments(compressor: str, shuffle: str) -> dict[str, Any]:
    """``blosc2_encode``'s keywords for the back-end compressor and the shuffle filter. imagecodecs 2026.11.11 (the
    first release built for Python 3.12+ only, what Slicer 5.10 / 5.12 get) renamed ``compressor`` to ``codec`` and
    ``shuffle`` to ``filters`` (a sequence); earlier releases take the old names."""
    if hasattr(imagecodecs.BLOSC2, "CODEC"):
        return {"codec": compressor, "filters": [SHUFFLES[shuffle]]}
    return {"compressor": compressor, "shuffle": SHUFFLES[shuffle]}


class Blosc2Codec(Codec):
    """Blosc2 (shuffle filter + compressor) on the voxel bytes, bit-exact."""

    requires = ("imagecodecs",)
    requires_feature = "imagecodecs.BLOSC2"

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

        arguments = _encode_arguments(settings["compressor"], settings["shuffle"])

        def compress(data: bytes) -> bytes:
            return imagecodecs.blosc2_encode(data, settings["level"], typesize=itemsize, numthreads=1, **arguments)

        chunks, meta = encode_byte_slabs(volume.array, compress, self.name, progress)
        return Encoded(self.name, mode, dict(settings), chunks, meta)

    def decode(
        self, encoded: Encoded, shape: tuple[int, int, int], dtype: np.dtype, progress: Progress | None = None
    ) -> np.ndarray:
        """Decompress each slab's bytes into ``dtype``."""
        return decode_byte_slabs(encoded.chunks, shape, dtype, encoded.meta,
                                 lambda chunk, nbytes: imagecodecs.blosc2_decode(chunk, numthreads=1, out=nbytes),
                                 self.name, progress)

    def validate_meta(self, meta: dict[str, Any], shape: tuple[int, int, int], dtype: np.dtype,
                      chunk_sizes: Sequence[int]) -> None:
        """One chunk per slab of ``meta["slab"]`` slices."""
        validate_slab_meta(meta, shape, chunk_sizes, self.name)


register(Blosc2Codec())
