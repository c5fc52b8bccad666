"""JPEG XL (libjxl) through ``imagecodecs``, slice by slice, 16-bit grey images.

The volume is cut into 2D images along ``axis`` and stored as unsigned 16-bit values minus the volume
minimum, with the real bit depth declared so the lossy ``distance`` is relative to the value range.
Lossless is bit-exact (modular mode); lossy uses the Butteraugli distance (larger compresses more).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cerebro.codecs._slices import AXIS_SETTING, LOSSLESS_BOUND, SliceCodec
from cerebro.codecs.base import Encoded, Mode, Setting, lazy_module, register
from cerebro.progress import Progress
from cerebro.volume import Volume

imagecodecs = lazy_module("imagecodecs")


EFFORT = Setting("effort", kind=int, default=5, minimum=1, maximum=9,
                 help="libjxl encoder effort (1 fastest, 9 smallest)")


class JPEGXLCodec(SliceCodec):
    """JPEG XL per slice: lossless or lossy by Butteraugli distance."""

    requires = ("imagecodecs",)
    requires_feature = "imagecodecs.JPEGXL"

    name = "jpegxl"
    description = "JPEG XL (libjxl via imagecodecs) per 2D slice, 16-bit; lossless or by distance"
    modes = {
        "lossless": Mode("lossless", settings=(EFFORT, AXIS_SETTING), lossless=True, help="modular lossless"),
        "distance": Mode(
            "distance",
            settings=(
                Setting("distance", kind=float, default=1.0, minimum=0.01, maximum=25.0, monotonic="increasing",
                        help="Butteraugli distance (0.01 near-lossless ... 25 smallest)"),
                EFFORT,
                AXIS_SETTING,
            ),
            help="lossy (VarDCT) at a Butteraugli distance",
        ),
    }

    def encode(
        self, volume: Volume, mode: str, settings: dict[str, Any], progress: Progress | None = None
    ) -> Encoded:
        """Encode each slice along ``axis`` as a JPEG XL codestream."""
        distance = settings.get("distance")

        def encode_image(image: np.ndarray, bits: int | None) -> bytes:
            if distance is None:
                return imagecodecs.jpegxl_encode(image, lossless=True, effort=settings["effort"],
                                                 bitspersample=bits, numthreads=1)
            return imagecodecs.jpegxl_encode(image, distance=distance, effort=settings["effort"],
                                             bitspersample=bits, numthreads=1)

        bound = LOSSLESS_BOUND if distance is None else "none (fixed Butteraugli distance)"
        return self.encode_images(volume, mode, settings, encode_image, progress, bound)

    def decode_image(self, stream: bytes, out: np.ndarray) -> np.ndarray:
        return imagecodecs.jpegxl_decode(stream, numthreads=1, out=out)


register(JPEGXLCodec())
