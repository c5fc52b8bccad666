"""SIREN and hash-grid INR codecs: round trips with dtype and geometry, PSNR on a vessel phantom, rate control,
determinism, cancellation and user errors. Tiny networks and step budgets keep this file fast on one thread."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cerebro.cbv.compress import compress_volume, decompress
from cerebro.cbv.container import container_bytes, read_compressed, write_compressed
from cerebro.codecs import get_codec
from cerebro.errors import Cancelled, CerebroError
from cerebro.inr.model import build_network
from cerebro.inr.quantize import fake_quantize, pack_weights, unpack_weights
from cerebro.metrics.quality import psnr
from cerebro.phantoms import generate_phantom
from cerebro.progress import Progress
from cerebro.volume import Volume, same_geometry

torch.set_num_threads(1)

TINY_SIREN = {"width": 16, "depth": 2, "steps": 40, "batch_size": 2048, "device": "cpu"}
TINY_HASHGRID = {"log2_table_size": 8, "levels": 4, "width": 8, "depth": 1, "steps": 40, "batch_size": 2048,
                 "device": "cpu"}

# Stated target: plain SIREN at 20:1 (on-disk .cbv bytes) on the 64^3 TOF-MRA phantom reaches >= 28 dB PSNR
# after 250 steps of 4096 voxels on one CPU thread (about 10 s on the 2-core development machine).
PSNR_THRESHOLD_DB = 28.0


def _file_round_trip(volume: Volume, codec: str, mode: str, settings: dict, tmp_path) -> tuple[Volume, int]:
    """Compress to a .cbv file, read it back and decompress; returns the volume and the file size."""
    path = write_compressed(compress_volume(volume, codec, mode, settings), tmp_path / "v.cbv")
    return decompress(read_compressed(path)), path.stat().st_size


def _mr_volume(ct_volume: Volume) -> Volume:
    """A uint16 MR-range volume (0..4095) with the fixture's oblique geometry."""
    array = ((ct_volume.array.astype(np.int32) + 1024) // 2).clip(0, 4095).astype(np.uint16)
    return ct_volume.with_array(array)


def test_siren_int16_ct_round_trip_keeps_dtype_range_and_geometry(ct_volume, tmp_path):
    decoded, _ = _file_round_trip(ct_volume, "siren", "explicit", TINY_SIREN, tmp_path)
    assert decoded.dtype == np.int16 and decoded.shape == ct_volume.shape
    assert same_geometry(decoded, ct_volume) is None
    assert decoded.array.min() >= ct_volume.array.min() and decoded.array.max() <= ct_volume.array.max()
    assert psnr(ct_volume.array, decoded.array) > 12.0  # 40 steps of a 16-wide net: coarse but fitted


@pytest.mark.parametrize("codec, settings", [("siren", TINY_SIREN), ("inr-hashgrid", TINY_HASHGRID),
                                             ("siren", dict(TINY_SIREN, quant_bits=16))])
def test_uint16_mr_round_trip_keeps_dtype_and_geometry(ct_volume, tmp_path, codec, settings):
    volume = _mr_volume(ct_volume)
    decoded, _ = _file_round_trip(volume, codec, "explicit", settings, tmp_path)
    assert decoded.dtype == np.uint16 and decoded.shape == volume.shape
    assert same_geometry(decoded, volume) is None
    assert psnr(volume.array, decoded.array) > 12.0


def test_siren_reaches_psnr_threshold_on_vessel_phantom_at_20_to_1(tmp_path):
    volume = generate_phantom(64, "mra", seed=0).image
    messages: list[str] = []
    compressed = compress_volume(volume, "siren", "ratio",
                                 {"ratio": 20, "steps": 250, "batch_size": 4096, "device": "cpu"},
                                 Progress(on_update=lambda f, m: messages.append(m)))
    path = write_compressed(compressed, tmp_path / "phantom.cbv")
    on_disk_ratio = volume.nbytes / path.stat().st_size
    decoded = decompress(read_compressed(path))
    assert 19.0 <= on_disk_ratio <= 22.0  # rate control: the real file meets the target within 10 %
    assert psnr(volume.array, decoded.array) >= PSNR_THRESHOLD_DB
    assert any("PSNR" in m for m in messages)


def test_hashgrid_ratio_mode_meets_target_on_disk():
    volume = generate_phantom(32, "cta", seed=1).image
    compressed = compress_volume(volume, "inr-hashgrid", "ratio",
                                 {"ratio": 8, "steps": 20, "batch_size": 1024, "device": "cpu"})
    ratio = volume.nbytes / len(container_bytes(compressed))
    assert 7.6 <= ratio <= 8.8


def test_same_input_and_settings_give_identical_bytes(ct_volume):
    first = compress_volume(ct_volume, "siren", "explicit", TINY_SIREN)
    second = compress_volume(ct_volume, "siren", "explicit", TINY_SIREN)
    assert first.encoded.chunks == second.encoded.chunks and first.encoded.meta == second.encoded.meta
    other_seed = compress_volume(ct_volume, "siren", "explicit", dict(TINY_SIREN, seed=1))
    assert other_seed.encoded.chunks != first.encoded.chunks


def test_encoding_can_be_cancelled(ct_volume):
    updates: list[float] = []
    progress = Progress(on_update=lambda f, m: updates.append(f), is_cancelled=lambda: len(updates) >= 2)
    with pytest.raises(Cancelled):
        compress_volume(ct_volume, "siren", "explicit", dict(TINY_SIREN, steps=10_000), progress)
    assert len(updates) == 2


def test_time_limit_stops_training_early(ct_volume):
    compressed = compress_volume(ct_volume, "inr-hashgrid", "explicit",
                                 dict(TINY_HASHGRID, steps=1_000_000, time_limit=0.2))
    assert 0 < compressed.encoded.meta["steps_done"] < 1_000_000
    assert decompress(compressed).dtype == np.int16


def test_packed_weights_decode_to_the_quantised_values():
    model = build_network({"kind": "hashgrid", "levels": 3, "features": 2, "table_size": 64, "max_resolution": 16,
                           "width": 8, "depth": 1}, seed=3)
    expected = [fake_quantize(p, 31).detach().clone() for p in model.parameters()]
    restored = build_network({"kind": "hashgrid", "levels": 3, "features": 2, "table_size": 64,
                              "max_resolution": 16, "width": 8, "depth": 1}, seed=4)
    unpack_weights(restored, pack_weights(model, 31), 31)
    for got, want in zip(restored.parameters(), expected):
        assert torch.equal(got.detach(), want)


def test_user_errors_are_one_line_cerebro_errors(ct_volume):
    siren = get_codec("siren")
    with pytest.raises(CerebroError, match="too few"):
        compress_volume(ct_volume, "siren", "ratio", {"ratio": 5000, "steps": 1, "device": "cpu"})
    with pytest.raises(CerebroError, match="quant_bits"):
        siren.resolve_settings("explicit", {"quant_bits": 9})
    if not torch.cuda.is_available():
        with pytest.raises(CerebroError, match="CUDA"):
            compress_volume(ct_volume, "siren", "explicit", dict(TINY_SIREN, device="cuda"))
    compressed = compress_volume(ct_volume, "siren", "explicit", dict(TINY_SIREN, steps=1))
    compressed.encoded.chunks = [compressed.encoded.chunks[0][:-5]]
    with pytest.raises(CerebroError, match="corrupt"):
        decompress(compressed)


def test_ratio_mode_refits_a_larger_network_when_zstd_keeps_less_than_expected(monkeypatch):
    """A pessimistic size estimate leaves most of the byte budget unused: one refit sized with the
    measured zstd fraction brings the file back to the target ratio."""
    from cerebro.inr import sizing

    volume = generate_phantom(32, "cta", seed=1).image
    monkeypatch.setitem(sizing.EXPECTED_ZSTD_KEEP, "hashgrid", 3.0)  # sizes the first network ~4x too small
    messages: list[str] = []
    compressed = compress_volume(volume, "inr-hashgrid", "ratio",
                                 {"ratio": 8, "steps": 20, "batch_size": 1024, "device": "cpu"},
                                 Progress(on_update=lambda f, m: messages.append(m)))
    ratio = volume.nbytes / len(container_bytes(compressed))
    assert compressed.encoded.meta["fits"] == 2
    assert any("fitting a larger network" in m for m in messages)
    assert 7.6 <= ratio <= 8.8
