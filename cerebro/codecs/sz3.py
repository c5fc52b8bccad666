"""SZ3 error-bounded lossy compression (absolute error bound) through ``pysz``.

``pysz`` is used rather than ``imagecodecs.sz3_encode`` because it accepts int32/int64 arrays and then
runs SZ3's integer quantiser: an integer volume with tolerance t comes back with |error| <= floor(t)
without any float round trip (imagecodecs' SZ3 wrapper takes float arrays only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cerebro.codecs._slices import (
    decode_slabs,
    encode_bounded_slabs,
    restore_dtype,
    tolerance_setting,
    validate_slab_meta,
)
from cerebro.codecs.base import Codec, Encoded, Mode, Setting, lazy_module, register
from cerebro.codecs.meta import meta_choice
from cerebro.progress import Progress
from cerebro.volume import Volume

pysz = lazy_module("pysz")
ALGORITHMS = {"interp_lorenzo": "INTERP_LORENZO", "interp": "INTERP", "lorenzo_regression": "LORENZO_REG"}
"""The ``algorithm`` setting's names and the members of ``pysz.szAlgorithm`` they stand for."""


def _working_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype handed to SZ3: int32 for integers up to 16 bits, int64 for wider ones, floats unchanged."""
    if dtype.kind in "iu":
        return np.dtype(np.int32) if dtype.itemsize <= 2 else np.dtype(np.int64)
    return dtype


class SZ3Codec(Codec):
    """SZ3 with an absolute error bound in image units (same meaning as ZFP's fixed-accuracy tolerance)."""

    name = "sz3"
    requires = ("pysz",)
    description = "SZ3 prediction-based error-bounded compressor (pysz); absolute tolerance in image units"
    modes = {
        "abs": Mode(
            "abs",
            settings=(
                tolerance_setting(),
                Setting("algorithm", kind=str, default="interp_lorenzo", choices=tuple(ALGORITHMS),
                        help="SZ3 predictor"),
            ),
            help="every voxel within ±tolerance (floor(tolerance) for integer volumes)",
        )
    }

    def encode(
        self, volume: Volume, mode: str, settings: dict[str, Any], progress: Progress | None = None
    ) -> Encoded:
        """Compress slab by slab with SZ3's ABS mode and verify the bound on the decoded slabs."""
        working = _working_dtype(volume.dtype)
        dtype = volume.dtype

        def encode_slab(slab: np.ndarray) -> bytes:
            config = pysz.szConfig()
            config.setDims(*slab.shape)
            config.errorBoundMode = pysz.szErrorBoundMode.ABS
            config.absErrorBound = settings["tolerance"]
            config.cmprAlgo = getattr(pysz.szAlgorithm, ALGORITHMS[settings["algorithm"]])
            compressed, _ = pysz.sz.compress(np.ascontiguousarray(slab, dtype=working), config)
            return compressed.tobytes()

        def decode_slab(chunk: bytes, shape: tuple[int, int, int]) -> np.ndarray:
            return restore_dtype(_decode(chunk, shape, working), dtype)

        chunks, meta = encode_bounded_slabs(volume.array, settings["tolerance"], encode_slab, decode_slab,
                                            self.name, progress)
        meta["working_dtype"] = working.name
        return Encoded(self.name, mode, dict(settings), chunks, meta)

    def decode(
        self, encoded: Encoded, shape: tuple[int, int, int], dtype: np.dtype, progress: Progress | None = None
    ) -> np.ndarray:
        """Decompress every slab and cast back to ``dtype``, clipping into its range (SZ3 may step below 0 of
        a uint16 volume, within the bound; clipping only brings values closer to the original)."""
        dtype = np.dtype(dtype)
        working = _working_dtype(dtype)
        return decode_slabs(encoded.chunks, shape, encoded.meta["slab"],
                            lambda chunk, s: restore_dtype(_decode(chunk, s, working), dtype), progress, "sz3 slab")

    def validate_meta(self, meta: dict[str, Any], shape: tuple[int, int, int], dtype: np.dtype,
                      chunk_sizes: Sequence[int]) -> None:
        """One chunk per slab of ``meta["slab"]`` slices, coded in the working type of ``dtype``."""
        validate_slab_meta(meta, shape, chunk_sizes, self.name)
        meta_choice(meta, "working_dtype", [_working_dtype(np.dtype(dtype)).name], self.name)


def _decode(chunk: bytes, shape: tuple[int, int, int], working: np.dtype) -> np.ndarray:
    values, _ = pysz.sz.decompress(np.frombuffer(chunk, dtype=np.uint8).copy(), working, shape)
    return np.asarray(values).reshape(shape)


register(SZ3Codec())
