"""The library-backed codecs (SZ3, SPERR, LERC, JPEG 2000, HTJ2K, JPEG XL, JPEG-LS, zstd, blosc2).

Each runs through compress_volume -> .cbv file -> read -> decompress on an int16 CT-range and a uint16
MR-range volume with oblique geometry: dtype, shape and geometry survive, lossless modes are bit-exact,
error-bounded modes keep |error| <= floor(tolerance), the other lossy modes give a sane PSNR.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cerebro.cbv.compress import compress_volume, decompress
from cerebro.cbv.container import read_compressed, write_compressed
from cerebro.codecs import available_codecs, get_codec
from cerebro.codecs._slices import float_tolerance, restore_dtype
from cerebro.codecs.base import Encoded
from cerebro.errors import CerebroError
from cerebro.metrics.quality import max_abs_error, psnr
from cerebro.volume import Volume, same_geometry

LOSSLESS = [
    ("zstd", "lossless", {}),
    ("blosc2", "lossless", {"shuffle": "byte"}),
    ("blosc2", "lossless", {"shuffle": "bit", "compressor": "lz4"}),
    ("jpeg2000", "lossless", {}),
    ("jpeg2000", "lossless", {"axis": "j"}),
    ("htj2k", "lossless", {"axis": "i"}),
    ("jpegxl", "lossless", {"effort": 1}),
    ("jpegls", "lossless", {}),
]
BOUNDED = [
    ("sz3", "abs", {"tolerance": 7.6}),
    ("sperr", "pwe", {"tolerance": 7.6}),
    ("lerc", "maxerror", {"tolerance": 7.6}),
    ("jpegls", "near", {"tolerance": 7.6}),
]
OTHER_LOSSY = [
    ("jpeg2000", "quality", {"quality_db": 45.0}),
    ("htj2k", "qstep", {"qstep": 0.0005}),
    ("jpegxl", "distance", {"distance": 1.0, "effort": 3}),
]


@pytest.fixture
def mr_volume(ct_volume: Volume) -> Volume:
    """A uint16 MR-range (0..4095) volume: bright tubes on a dim background, same geometry as ct_volume."""
    rng = np.random.default_rng(1)
    z, y, x = np.mgrid[0:24, 0:28, 0:32]
    tubes = 3000 * np.exp(-((x - 16) ** 2 + (y - 14) ** 2) / 6.0) + 2500 * np.exp(-((z - 12) ** 2 + (x - 8) ** 2) / 4.0)
    array = np.clip(200 + tubes + rng.normal(0, 15, tubes.shape), 0, 4095).astype(np.uint16)
    array[0, 0, 0] = 4095
    array[:, :3, :] = 0  # zero background next to dim tissue: decoders must not wrap below 0
    return ct_volume.with_array(array)


def _through_file(volume: Volume, codec: str, mode: str, settings: dict, tmp_path) -> tuple[Volume, Encoded]:
    compressed = compress_volume(volume, codec, mode, settings, workers=1)
    path = write_compressed(compressed, tmp_path / f"{codec}-{mode}.cbv")
    decoded = decompress(read_compressed(path), workers=1)
    assert decoded.dtype == volume.dtype
    assert same_geometry(decoded, volume) is None
    return decoded, compressed.encoded


def test_all_zoo_codecs_are_registered() -> None:
    import imagecodecs

    names = set(available_codecs())
    assert {"sz3", "sperr", "lerc", "jpeg2000", "jpegxl", "jpegls", "zstd", "blosc2"} <= names
    # HTJ2K arrived in imagecodecs after 2024.12.30, the last release for Python 3.9 (Slicer 5.6 / 5.8).
    assert ("htj2k" in names) == bool(getattr(getattr(imagecodecs, "HTJ2K", None), "available", False))


@pytest.mark.parametrize("kind", ["ct", "mr"])
@pytest.mark.parametrize(("codec", "mode", "settings"), LOSSLESS, ids=lambda v: str(v))
def test_lossless_modes_are_bit_exact(kind, codec, mode, settings, ct_volume, mr_volume, tmp_path) -> None:
    volume = ct_volume if kind == "ct" else mr_volume
    decoded, encoded = _through_file(volume, codec, mode, settings, tmp_path)
    np.testing.assert_array_equal(decoded.array, volume.array)
    assert encoded.meta["error_bound"] == "0 (bit-exact)"
    assert encoded.nbytes < volume.nbytes


@pytest.mark.parametrize("kind", ["ct", "mr"])
@pytest.mark.parametrize(("codec", "mode", "settings"), BOUNDED, ids=lambda v: str(v))
def test_error_bounded_modes_hold_floor_of_tolerance(kind, codec, mode, settings, ct_volume, mr_volume,
                                                     tmp_path) -> None:
    volume = ct_volume if kind == "ct" else mr_volume
    decoded, encoded = _through_file(volume, codec, mode, settings, tmp_path)
    error = max_abs_error(volume.array, decoded.array)
    assert error <= math.floor(settings["tolerance"]) == encoded.meta["max_error_bound"]
    assert error == encoded.meta["max_abs_error"]
    assert error >= 1  # it is really lossy, not silently lossless
    assert volume.nbytes / encoded.nbytes > 2


@pytest.mark.parametrize("kind", ["ct", "mr"])
@pytest.mark.parametrize(("codec", "mode", "settings"), OTHER_LOSSY, ids=lambda v: str(v))
def test_transform_codecs_lossy_round_trip(kind, codec, mode, settings, ct_volume, mr_volume, tmp_path) -> None:
    volume = ct_volume if kind == "ct" else mr_volume
    decoded, encoded = _through_file(volume, codec, mode, settings, tmp_path)
    assert 25 < psnr(volume.array, decoded.array) < math.inf
    assert volume.nbytes / encoded.nbytes > 2


@pytest.mark.parametrize(("codec", "mode"), [("sz3", "abs"), ("sperr", "pwe"), ("lerc", "maxerror")])
def test_float_volumes_keep_the_exact_tolerance_and_subunit_tolerance_is_lossless_for_integers(
    codec, mode, ct_volume
) -> None:
    floats = ct_volume.with_array(ct_volume.array.astype(np.float32) / 7.0)
    c = get_codec(codec)
    encoded = c.encode(floats, mode, c.resolve_settings(mode, {"tolerance": 0.3}))
    decoded = c.decode(encoded, floats.shape, floats.dtype)
    assert decoded.dtype == np.float32
    assert max_abs_error(floats.array, decoded) <= 0.3 * (1 + 1e-6)
    encoded = c.encode(ct_volume, mode, c.resolve_settings(mode, {"tolerance": 0.9}))
    np.testing.assert_array_equal(c.decode(encoded, ct_volume.shape, ct_volume.dtype), ct_volume.array)


@pytest.mark.parametrize(("codec", "mode"), [("sz3", "abs"), ("sperr", "pwe"), ("zstd", "lossless")])
def test_slab_edges_including_a_single_slice_slab(codec, mode) -> None:
    array = (np.arange(65 * 6 * 5).reshape(65, 6, 5) % 97).astype(np.int16)
    volume = Volume(array)
    c = get_codec(codec)
    settings = c.resolve_settings(mode, {"tolerance": 2.0} if mode != "lossless" else {})
    encoded = c.encode(volume, mode, settings)
    assert len(encoded.chunks) == 2
    decoded = c.decode(encoded, volume.shape, volume.dtype)
    assert max_abs_error(array, decoded) <= 2


@pytest.mark.parametrize(("codec", "mode", "settings"), [("jpegxl", "distance", {"distance": 1.0, "effort": 3}),
                                                       ("jpegxl", "lossless", {"effort": 1}),
                                                       ("jpeg2000", "quality", {"quality_db": 40.0}),
                                                       ("htj2k", "qstep", {"qstep": 0.001}),
                                                       ("jpegls", "near", {"tolerance": 3.0})])
def test_two_d_codecs_take_8_bit_volumes(codec, mode, settings, mr_volume) -> None:
    # an 8-bit value range (the MNI152 template is uint8) with empty slices
    array = (mr_volume.array // 16).astype(np.uint8)
    array[:2] = 0
    volume = mr_volume.with_array(array)
    decoded = decompress(compress_volume(volume, codec, mode, settings))
    assert decoded.dtype == np.uint8
    assert max_abs_error(array, decoded.array) <= (0 if mode == "lossless" else 64)


def test_two_d_codecs_refuse_float_and_wide_integer_volumes(ct_volume) -> None:
    floats = ct_volume.with_array(ct_volume.array.astype(np.float32))
    with pytest.raises(CerebroError, match="integer images only"):
        compress_volume(floats, "jpeg2000", "lossless")
    wide = ct_volume.with_array(ct_volume.array.astype(np.int32) * 100)
    with pytest.raises(CerebroError, match="16-bit"):
        compress_volume(wide, "jpegls", "lossless")


def test_settings_are_validated(ct_volume) -> None:
    with pytest.raises(CerebroError, match="out of range"):
        compress_volume(ct_volume, "sz3", "abs", {"tolerance": 0})
    with pytest.raises(CerebroError, match="must be one of"):
        compress_volume(ct_volume, "jpeg2000", "lossless", {"axis": "x"})
    with pytest.raises(CerebroError, match="needs the setting tolerance"):
        compress_volume(ct_volume, "sperr", "pwe")


def test_damaged_slice_table_is_reported(ct_volume) -> None:
    c = get_codec("jpegls")
    encoded = c.encode(ct_volume, "lossless", c.resolve_settings("lossless", {}))
    encoded.meta["image_bytes"] = encoded.meta["image_bytes"][:-1]
    with pytest.raises(CerebroError, match="damaged|corrupt"):
        c.decode(encoded, ct_volume.shape, ct_volume.dtype)


def test_integer_rounding_rule() -> None:
    # float bound below floor(t) + 0.5 rounds back to within floor(t); clipping stays in range
    assert float_tolerance(2.7, np.dtype(np.int16)) < 2.5
    assert float_tolerance(2.7, np.dtype(np.float32)) == 2.7
    values = restore_dtype(np.array([-40000.2, 1.49, 70000.0]), np.dtype(np.int16))
    assert values.tolist() == [-32768, 1, 32767]


def test_jpegls_near_is_capped_for_8_bit_images_and_bad_streams_are_one_line_errors(mr_volume) -> None:
    volume = mr_volume.with_array((mr_volume.array // 16).astype(np.uint8))
    compressed = compress_volume(volume, "jpegls", "near", {"tolerance": 200.0})
    assert compressed.encoded.meta["max_error_bound"] == 127
    assert max_abs_error(volume.array, decompress(compressed).array) <= 127
    compressed.encoded.chunks[0] = b"\xff\xd8" + bytes(len(compressed.encoded.chunks[0]) - 2)
    with pytest.raises(CerebroError, match="could not decode"):
        decompress(compressed)
