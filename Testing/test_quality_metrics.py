"""Quality metrics against hand-computed values, and the round-trip report built from them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from cerebro.cbv.roundtrip import round_trip
from cerebro.errors import CerebroError
from cerebro.metrics import quality
from cerebro.metrics.quality import max_abs_error, psnr, rmse, ssim3d, ssim3d_details
from cerebro.volume import Volume


def test_error_metrics_on_a_handcrafted_case() -> None:
    reference = np.zeros((2, 2, 2), np.int16)
    reference[1, 1, 1] = 100  # data range 100
    test = reference.copy()
    test[0, 0, 0], test[0, 0, 1] = 4, -2  # squared errors 16 + 4 over 8 voxels: MSE 2.5
    assert max_abs_error(reference, test) == 4.0
    assert rmse(reference, test) == pytest.approx(math.sqrt(2.5))
    assert psnr(reference, test) == pytest.approx(10 * math.log10(100**2 / 2.5))
    assert psnr(reference, test, data_range=4095) == pytest.approx(10 * math.log10(4095**2 / 2.5))


def test_no_overflow_on_narrow_integer_types() -> None:
    reference = np.full((3, 3, 3), 255, np.uint8)
    test = np.zeros((3, 3, 3), np.uint8)
    assert max_abs_error(reference, test) == 255.0 and rmse(reference, test) == 255.0


def test_identical_volumes() -> None:
    array = np.random.default_rng(0).normal(size=(12, 12, 12)).astype(np.float32)
    assert psnr(array, array) == math.inf
    assert ssim3d(array, array) == pytest.approx(1.0)
    assert max_abs_error(array, array) == 0.0 and rmse(array, array) == 0.0


def test_ssim_matches_scikit_image_and_drops_with_noise() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(16, 16, 16)).cumsum(axis=0)
    noisy = reference + rng.normal(0, 0.5, reference.shape)
    value = ssim3d(reference, noisy)
    expected = structural_similarity(reference, noisy, win_size=7, data_range=reference.max() - reference.min())
    assert value == pytest.approx(expected) and 0 < value < 0.99


def test_ssim_on_large_volumes_uses_deterministic_slabs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quality, "SSIM_FULL_VOLUME_MAX_VOXELS", 4000)
    rng = np.random.default_rng(2)
    reference = rng.normal(size=(64, 10, 10))
    noisy = reference + rng.normal(0, 0.1, reference.shape)
    value, note = ssim3d_details(reference, noisy)
    peak = reference.max() - reference.min()
    expected = np.mean([structural_similarity(reference[s:s + 16], noisy[s:s + 16], win_size=7, data_range=peak)
                        for s in (0, 48)])  # 2 slabs of 16 slices, first and last
    assert note.startswith("mean over 2 slabs of 16 slices") and value == pytest.approx(expected)


def test_metric_input_errors() -> None:
    with pytest.raises(CerebroError, match="shapes"):
        psnr(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)))
    with pytest.raises(CerebroError, match="constant"):
        psnr(np.ones((2, 2, 2)), np.ones((2, 2, 2)))
    with pytest.raises(CerebroError, match="at least 3"):
        ssim3d(np.arange(8.0).reshape(2, 2, 2), np.arange(8.0).reshape(2, 2, 2))


def test_round_trip_report_in_memory(ct_volume: Volume) -> None:
    decoded, report, compressed = round_trip(ct_volume, "zfp", "accuracy", {"tolerance": 20.0}, workers=1)
    assert report.size_basis == ".cbv container serialised in memory"
    assert report.original_nbytes == ct_volume.nbytes
    assert report.compression_ratio == pytest.approx(ct_volume.nbytes / report.compressed_nbytes)
    assert report.bits_per_voxel == pytest.approx(8 * report.compressed_nbytes / ct_volume.array.size)
    assert report.compressed_nbytes > compressed.payload_nbytes  # container overhead included
    assert report.max_abs_error == max_abs_error(ct_volume.array, decoded.array) <= 20
    assert report.psnr_data_range == 4095 and report.psnr_db == pytest.approx(psnr(ct_volume.array, decoded.array))
    assert 0.9 < report.ssim <= 1 and report.rmse > 0
    assert report.encode_mb_s > 0 and report.decode_mb_s > 0 and report.write_seconds is None
    assert "PSNR" in report.to_text() and "max |error| <= 20" in report.to_text()


def test_round_trip_report_with_file_is_json_ready(ct_volume: Volume, tmp_path: Path) -> None:
    path = tmp_path / "ct.cbv"
    decoded, report, _ = round_trip(ct_volume, "zfp", "reversible", workers=1, path=path)
    assert np.array_equal(decoded.array, ct_volume.array)
    assert report.compressed_nbytes == path.stat().st_size and report.size_basis == "file on disk: ct.cbv"
    data = json.loads(json.dumps(report.as_dict(), allow_nan=False))
    assert data["psnr_db"] is None and data["max_abs_error"] == 0 and data["ssim"] == pytest.approx(1.0)
    assert data["write_seconds"] >= 0 and data["read_seconds"] >= 0
