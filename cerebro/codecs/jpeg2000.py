"""JPEG 2000 (OpenJPEG) and High-Throughput JPEG 2000 (OpenJPH) through ``imagecodecs``, slice by slice.

Both are 2D image codecs: the volume is cut into 2D images perpendicular to the ``axis`` setting
(k by default), each stored as an unsigned 16-bit image of the voxel values minus the volume minimum
(int16 CT becomes uint16; the offset is kept in the encoding's meta). JPEG 2000 is told the real bit
depth, so its quality in dB is relative to the volume's value range.

- ``jpeg2000`` lossless: reversible 5/3 wavelet, bit-exact. ``quality``: irreversible 9/7 wavelet at
  OpenJPEG's fixed-quality target (PSNR in dB per slice, relative to 2^bits - 1). imagecodecs exposes
  no byte-rate knob, so a target compression ratio is reached by rate control over ``quality_db``.
- ``htj2k`` lossless: reversible, bit-exact. ``qstep``: irreversible with OpenJPH's quantisation step
  (fraction of the 16-bit range; larger compresses more).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from cerebro.codecs._slices import AXIS_SETTING, LOSSLESS_BOUND, SliceCodec
from cerebro.codecs.base import Encoded, Mode, Setting, lazy_module, register
from cerebro.errors import CerebroError
from cerebro.progress import Progress
from cerebro.volume import Volume

imagecodecs = lazy_module("imagecodecs")  # HTJ2K arrived after 2024.12.30, the last release for Python 3.9


_SIZ = struct.Struct(">HHHHIIIIIIIIH")  # SOC, SIZ, Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz, tiles, Csiz


def require_codestream_layout(stream: bytes, out: np.ndarray) -> None:
    """Raise CerebroError unless ``stream`` is laid out as cerebro writes it for an image like ``out``: one
    component of at most 16 unsigned bits, no image or tile offset, one tile of the whole image. Checked before
    the library decodes it (a changed offset field made OpenJPH spin for minutes, found by scripts/fuzz_cbv.py)."""
    rows, cols = out.shape
    try:
        soc, siz, _, _, width, height, x0, y0, tile_w, tile_h, tx0, ty0, components = _SIZ.unpack_from(stream)
        depth, sub_x, sub_y = struct.unpack_from(">BBB", stream, _SIZ.size)
    except struct.error:
        raise CerebroError("a JPEG 2000 slice is too short for its SIZ marker; the file is corrupt") from None
    expected = (0xFF4F, 0xFF51, cols, rows, 0, 0, cols, rows, 0, 0, 1, 1, 1)
    if (soc, siz, width, height, x0, y0, tile_w, tile_h, tx0, ty0, components, sub_x, sub_y) != expected or \
            depth > 15:
        raise CerebroError(f"a JPEG 2000 slice is not the one-tile {cols}x{rows} single-component codestream "
                           f"cerebro writes (SIZ {width}x{height}, offset {x0},{y0}, tiles {tile_w}x{tile_h}, "
                           f"{components} components); the file is corrupt")


class JPEG2000Codec(SliceCodec):
    """JPEG 2000 per slice: lossless (5/3) or lossy at a target PSNR per slice (9/7)."""

    name = "jpeg2000"
    requires = ("imagecodecs",)
    requires_feature = "imagecodecs.JPEG2K"
    description = "JPEG 2000 (OpenJPEG via imagecodecs) per 2D slice, 16-bit; lossless or fixed quality"
    modes = {
        "lossless": Mode("lossless", settings=(AXIS_SETTING,), lossless=True, help="reversible 5/3 wavelet"),
        "quality": Mode(
            "quality",
            settings=(
                Setting("quality_db", kind=float, default=50.0, minimum=1.0, maximum=200.0, unit="dB",
                        monotonic="decreasing",
                        help="OpenJPEG fixed-quality target per slice (PSNR relative to the volume's bit depth)"),
                AXIS_SETTING,
            ),
            help="irreversible 9/7 wavelet at a fixed PSNR per slice",
        ),
    }

    def encode(
        self, volume: Volume, mode: str, settings: dict[str, Any], progress: Progress | None = None
    ) -> Encoded:
        """Encode each slice along ``axis`` as a J2K codestream."""
        quality = settings.get("quality_db")

        def encode_image(image: np.ndarray, bits: int | None) -> bytes:
            if quality is None:
                return imagecodecs.jpeg2k_encode(image, codecformat="j2k", reversible=True, bitspersample=bits)
            return imagecodecs.jpeg2k_encode(image, quality, codecformat="j2k", reversible=False,
                                             bitspersample=bits)

        bound = LOSSLESS_BOUND if quality is None else "none (fixed quality per slice)"
        return self.encode_images(volume, mode, settings, encode_image, progress, bound)

    def decode_image(self, stream: bytes, out: np.ndarray) -> np.ndarray:
        require_codestream_layout(stream, out)
        return imagecodecs.jpeg2k_decode(stream, out=out)


class HTJ2KCodec(SliceCodec):
    """High-Throughput JPEG 2000 per slice: lossless or lossy by quantisation step."""

    name = "htj2k"
    requires = ("imagecodecs",)
    requires_feature = "imagecodecs.HTJ2K"
    description = "HTJ2K (OpenJPH via imagecodecs) per 2D slice, 16-bit; lossless or by quantisation step"
    modes = {
        "lossless": Mode("lossless", settings=(AXIS_SETTING,), lossless=True, help="reversible wavelet"),
        "qstep": Mode(
            "qstep",
            settings=(
                Setting("qstep", kind=float, default=0.001, minimum=1e-6, maximum=1.0, monotonic="increasing",
                        help="quantisation step as a fraction of the 16-bit range; larger compresses more"),
                AXIS_SETTING,
            ),
            help="irreversible wavelet with a fixed quantisation step",
        ),
    }

    def encode(
        self, volume: Volume, mode: str, settings: dict[str, Any], progress: Progress | None = None
    ) -> Encoded:
        """Encode each slice along ``axis`` as an HTJ2K codestream."""
        qstep = settings.get("qstep")

        def encode_image(image: np.ndarray, bits: int | None) -> bytes:
            if qstep is None:
                return imagecodecs.htj2k_encode(image, reversible=True)
            return imagecodecs.htj2k_encode(image, qstep, reversible=False)

        bound = LOSSLESS_BOUND if qstep is None else "none (fixed quantisation step)"
        return self.encode_images(volume, mode, settings, encode_image, progress, bound)

    def decode_image(self, stream: bytes, out: np.ndarray) -> np.ndarray:
        require_codestream_layout(stream, out)
        return imagecodecs.htj2k_decode(stream, out=out)


register(JPEG2000Codec())
register(HTJ2KCodec())
