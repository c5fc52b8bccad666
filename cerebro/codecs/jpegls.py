"""JPEG-LS (CharLS) through ``imagecodecs``, slice by slice: lossless or near-lossless (error-bounded).

JPEG-LS near-lossless mode guarantees |error| <= NEAR for every pixel; the ``tolerance`` setting
(image units, like ZFP's fixed accuracy) is used as NEAR = floor(tolerance), capped at the standard's
limit min(255, MAXVAL / 2): 255 for 16-bit images, 127 for 8-bit ones (a volume whose value range fits
in 8 bits is stored as 8-bit images). Slices are stored as unsigned values minus the volume minimum,
cut along ``axis``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cerebro.codecs._slices import (
    AXIS_SETTING,
    LOSSLESS_BOUND,
    SliceCodec,
    bound_text,
    check_bound,
    tolerance_setting,
)
from cerebro.codecs.base import Encoded, Mode, lazy_module, register
from cerebro.progress import Progress
from cerebro.volume import Volume

imagecodecs = lazy_module("imagecodecs")


MAX_NEAR = 255
MAX_NEAR_8BIT = 127


class JPEGLSCodec(SliceCodec):
    """JPEG-LS per slice: lossless or near-lossless with an integer max error."""

    requires = ("imagecodecs",)
    requires_feature = "imagecodecs.JPEGLS"

    name = "jpegls"
    description = "JPEG-LS (CharLS via imagecodecs) per 2D slice, 16-bit; lossless or near-lossless"
    modes = {
        "lossless": Mode("lossless", settings=(AXIS_SETTING,), lossless=True, help="bit-exact"),
        "near": Mode(
            "near",
            settings=(tolerance_setting(maximum=MAX_NEAR + 0.999), AXIS_SETTING),
            help="near-lossless: every voxel within ±floor(tolerance)",
        ),
    }

    def encode(
        self, volume: Volume, mode: str, settings: dict[str, Any], progress: Progress | None = None
    ) -> Encoded:
        """Encode each slice along ``axis`` with CharLS (NEAR = floor(tolerance), 0 for lossless)."""
        eight_bit = int(volume.array.max()) - int(volume.array.min()) < 256 if volume.dtype.kind in "iu" else False
        near = min(math.floor(settings.get("tolerance", 0.0)), MAX_NEAR_8BIT if eight_bit else MAX_NEAR)
        encoded = self.encode_images(volume, mode, settings,
                                     lambda image, bits: imagecodecs.jpegls_encode(image, near or None),
                                     progress, bound_text(near, volume.dtype) if near else LOSSLESS_BOUND)
        if near:
            decoded = self.decode(encoded, volume.shape, volume.dtype)
            encoded.meta["max_abs_error"] = check_bound(volume.array, decoded, float(near), self.name)
            encoded.meta["max_error_bound"] = float(near)
        return encoded

    def decode_image(self, stream: bytes, out: np.ndarray) -> np.ndarray:
        return imagecodecs.jpegls_decode(stream, out=out)


register(JPEGLSCodec())
