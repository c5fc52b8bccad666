"""ZFP codec: every mode round trips, the accuracy bound holds on real intensity ranges, reversible is exact."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cerebro import parallel
from cerebro.cbv.compress import compress_volume, decompress
from cerebro.codecs import get_codec
from cerebro.errors import Cancelled, CerebroError
from cerebro.progress import Progress
from cerebro.volume import Volume

ZFP = get_codec("zfp")

# (dtype, low, high): the usual storage ranges of CT (HU), MR and 8-bit data, plus the other integer types.
INT_RANGES = [
    ("int16", -1024, 3071),
    ("uint16", 0, 65535),
    ("uint16", 0, 4095),
    ("uint8", 0, 255),
    ("int8", -128, 127),
    ("int32", -1024, 3071),
    ("uint32", 0, 100_000),
    ("uint32", 0, 2**32 - 1),
    ("int32", -(2**31), 2**31 - 1),
]


def phantom(dtype: str, low: float, high: float, shape: tuple[int, int, int] = (20, 24, 28), seed: int = 0) -> Volume:
    """Smooth anatomy-like content plus noise spanning [low, high], with both extremes present."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.linspace(0, 1, n) for n in shape), indexing="ij")
    smooth = 0.5 + 0.3 * np.sin(6 * x) * np.cos(5 * y) + 0.15 * np.sin(9 * z)
    vessels = (np.abs(np.sin(14 * x + 3 * y)) > 0.97) * 0.4
    values = low + (high - low) * np.clip(smooth + vessels + rng.normal(0, 0.03, shape), 0, 1)
    values.flat[0], values.flat[-1] = low, high
    if np.dtype(dtype).kind in "iu":
        values = np.rint(values)
    return Volume(values.astype(dtype), spacing=(0.4, 0.5, 0.8))


@pytest.mark.parametrize("dtype,low,high", INT_RANGES)
@pytest.mark.parametrize("tolerance", [0.3, 1.0, 2.5, 10.0, 500.0])
def test_accuracy_bound_holds_for_integer_volumes(dtype: str, low: int, high: int, tolerance: float) -> None:
    volume = phantom(dtype, low, high)
    encoded = ZFP.encode(volume, "accuracy", {"tolerance": tolerance}, workers=1)
    decoded = ZFP.decode(encoded, volume.shape, volume.dtype, workers=1)
    assert decoded.dtype == volume.dtype
    error = np.abs(decoded.astype(np.int64) - volume.array.astype(np.int64)).max()
    assert error <= math.floor(tolerance)
    assert encoded.meta["error_bound"] == f"max |error| <= {math.floor(tolerance)} (integer voxels)"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("tolerance", [1e-3, 0.5, 20.0])
def test_accuracy_bound_holds_for_float_volumes(dtype: str, tolerance: float) -> None:
    volume = phantom(dtype, -1024.0, 3071.0)
    decoded = ZFP.decode(ZFP.encode(volume, "accuracy", {"tolerance": tolerance}, workers=1), volume.shape,
                         volume.dtype, workers=1)
    assert decoded.dtype == volume.dtype
    assert np.abs(decoded.astype(np.float64) - volume.array).max() <= tolerance


@pytest.mark.parametrize("dtype,low,high", INT_RANGES + [("float32", -1024.0, 3071.0), ("float64", -1.0, 1.0)])
@pytest.mark.parametrize("mode,settings", [("rate", {"rate": 6.0}), ("precision", {"precision": 14})])
def test_rate_and_precision_round_trip(dtype: str, low: float, high: float, mode: str, settings: dict) -> None:
    volume = phantom(dtype, low, high)
    decoded = ZFP.decode(ZFP.encode(volume, mode, settings, workers=1), volume.shape, volume.dtype, workers=1)
    assert decoded.dtype == volume.dtype and decoded.shape == volume.shape
    error = np.abs(decoded.astype(np.float64) - volume.array.astype(np.float64))
    assert error.mean() < 0.05 * (high - low)  # lossy but close


def test_fixed_rate_gives_that_many_bits_per_voxel() -> None:
    volume = phantom("int16", -1024, 3071, shape=(32, 32, 32))
    encoded = ZFP.encode(volume, "rate", {"rate": 4.0}, workers=1)
    bits_per_voxel = 8 * encoded.nbytes / volume.array.size
    assert 4.0 <= bits_per_voxel < 4.05  # plus a few bytes of ZFP header


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16", "int32", "uint32"])
def test_reversible_is_bit_exact_for_full_range_integers(dtype: str) -> None:
    info = np.iinfo(dtype)
    rng = np.random.default_rng(1)
    array = rng.integers(info.min, info.max, size=(9, 10, 11), dtype=dtype, endpoint=True)
    array.flat[0], array.flat[1] = info.min, info.max
    volume = Volume(array)
    decoded = ZFP.decode(ZFP.encode(volume, "reversible", {}, workers=1), volume.shape, volume.dtype, workers=1)
    assert decoded.dtype == array.dtype and np.array_equal(decoded, array)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reversible_is_bit_exact_for_floats(dtype: str) -> None:
    rng = np.random.default_rng(2)
    array = (rng.normal(size=(9, 10, 11)) * 10.0 ** rng.integers(-30, 30, size=(9, 10, 11))).astype(dtype)
    finfo = np.finfo(dtype)
    array.flat[:4] = [finfo.max, -finfo.max, finfo.tiny, -0.0]
    volume = Volume(array)
    decoded = ZFP.decode(ZFP.encode(volume, "reversible", {}, workers=1), volume.shape, volume.dtype, workers=1)
    uint = f"uint{array.dtype.itemsize * 8}"
    assert decoded.dtype == array.dtype and np.array_equal(decoded.view(uint), array.view(uint))


def test_chunked_parallel_encoding_matches_in_process() -> None:
    volume = phantom("int16", -1024, 3071, shape=(30, 20, 20))
    serial = ZFP.encode(volume, "accuracy", {"tolerance": 3.0}, workers=1, slices_per_chunk=8)
    parallel = ZFP.encode(volume, "accuracy", {"tolerance": 3.0}, workers=2, slices_per_chunk=8)
    assert len(serial.chunks) == 4 and serial.chunks == parallel.chunks
    assert serial.meta["chunk_slices"] == [[0, 8], [8, 16], [16, 24], [24, 30]]
    a = ZFP.decode(parallel, volume.shape, volume.dtype, workers=2)
    b = ZFP.decode(serial, volume.shape, volume.dtype, workers=1)
    assert np.array_equal(a, b) and np.abs(a.astype(int) - volume.array).max() <= 3


def test_compress_volume_and_decompress_keep_geometry(ct_volume: Volume) -> None:
    compressed = compress_volume(ct_volume, "zfp", "reversible", workers=1)
    restored = decompress(compressed, workers=1)
    assert np.array_equal(restored.array, ct_volume.array)
    assert restored.spacing == ct_volume.spacing and restored.origin == ct_volume.origin
    assert np.array_equal(restored.direction, ct_volume.direction)
    assert compressed.original_nbytes == ct_volume.nbytes and compressed.encode_seconds > 0


@pytest.mark.parametrize("mode,settings,message", [
    ("rate", {"rate": 0.0}, "out of range"),
    ("rate", {"rate": 100}, "out of range"),
    ("accuracy", {"tolerance": -1}, "out of range"),
    ("accuracy", {"tolerance": 0}, "out of range"),
    ("accuracy", {"tolerance": "nan"}, "finite"),
    ("accuracy", {}, "needs the setting tolerance"),
    ("precision", {"precision": 0}, "out of range"),
    ("precision", {"precision": 65}, "out of range"),
    ("precision", {"precision": "many"}, "not an integer"),
    ("reversible", {"rate": 4}, "does not apply"),
    ("lossy", {}, "no mode"),
])
def test_bad_settings_are_rejected(ct_volume: Volume, mode: str, settings: dict, message: str) -> None:
    with pytest.raises(CerebroError, match=message):
        compress_volume(ct_volume, "zfp", mode, settings, workers=1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_voxels_are_rejected(bad: float) -> None:
    array = np.zeros((8, 8, 8), np.float32)
    array[3, 3, 3] = bad
    with pytest.raises(CerebroError, match="NaN/Inf"):
        compress_volume(Volume(array), "zfp", "accuracy", {"tolerance": 1.0}, workers=1)


def test_decode_rejects_a_chunk_layout_that_does_not_fit(ct_volume: Volume) -> None:
    encoded = ZFP.encode(ct_volume, "reversible", {}, workers=1, slices_per_chunk=8)
    with pytest.raises(CerebroError, match="corrupt"):  # decompress checks the meta before any decoder runs
        ZFP.validate_meta(encoded.meta, (ct_volume.shape[0] + 8, *ct_volume.shape[1:]), ct_volume.dtype,
                          [len(c) for c in encoded.chunks])


def test_encoding_reports_progress_and_can_be_cancelled(ct_volume: Volume) -> None:
    seen: list[float] = []
    ZFP.encode(ct_volume, "reversible", {}, Progress(lambda f, m: seen.append(f)), workers=1, slices_per_chunk=4)
    assert seen[-1] == 1.0 and len(seen) == 6
    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        ZFP.encode(ct_volume, "reversible", {}, progress, workers=1, slices_per_chunk=4)


def test_cancelling_parallel_encoding_leaves_no_scratch_files(ct_volume: Volume, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    created: list[str] = []
    mkstemp = parallel.tempfile.mkstemp

    def recording_mkstemp(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        fd, name = mkstemp(*args, **kwargs)
        created.append(name)
        return fd, name

    monkeypatch.setattr(parallel.tempfile, "mkstemp", recording_mkstemp)
    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        ZFP.encode(ct_volume, "reversible", {}, progress, workers=2, slices_per_chunk=4)
    assert len(created) == 1 and not Path(created[0]).exists()
