"""The vessel-aware ``roi`` codec: both bounds, the region, the file alone decodes, hostile settings and files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import imagecodecs
import numpy as np
import pytest

from cerebro.cbv.compress import compress_volume, decompress
from cerebro.cbv.container import container_bytes, read_compressed
from cerebro.cbv.roundtrip import round_trip
from cerebro.codecs import get_codec
from cerebro.codecs.roi import BLOCK, block_map, expand_blocks
from cerebro.errors import CerebroError
from cerebro.io import write_volume
from cerebro.volume import Volume

sys.path.insert(0, str(Path(__file__).parent))
from scripts.cbv_mutations import decode_file, members, rebuild  # noqa: E402


def tube_volume(dtype: str = "int16", shape: tuple[int, int, int] = (40, 36, 34)) -> tuple[Volume, np.ndarray]:
    """A CT-like volume (brain 40 HU, noise 15) with one contrast-filled tube (350 HU, radius 2 voxels) along k,
    and the tube's voxels."""
    rng = np.random.default_rng(3)
    k, j, i = np.indices(shape)
    tube = (j - shape[1] / 2) ** 2 + (i - shape[2] / 2 - 0.3 * k) ** 2 <= 4
    array = 40 + rng.normal(0, 15, shape) + 310 * tube + 60 * np.sin(k / 6.0)
    return Volume(array.astype(dtype), spacing=(0.5, 0.5, 0.6), origin=(3.0, -2.0, 1.0)), tube


@pytest.mark.parametrize("base", ["sperr", "sz3", "zfp"])
def test_both_bounds_hold_and_the_region_covers_the_vessel(base: str) -> None:
    volume, tube = tube_volume()
    compressed = compress_volume(volume, "roi", "vesselness", {"base": base, "tolerance": 120, "roi_tolerance": 4.7},
                                 workers=1)
    decoded = decompress(read_compressed_bytes(container_bytes(compressed))).array
    region = get_codec("roi").region(compressed.encoded, volume.shape)
    error = np.abs(decoded.astype(np.int64) - volume.array)
    assert region[tube].all() and 0 < region.mean() < 0.5
    assert error[region].max() <= 4 and error.max() <= 120
    assert error[~region].max() > 4  # outside the region the loose bound is used
    meta = compressed.encoded.meta
    assert meta["roi_max_abs_error"] == error[region].max() and meta["max_abs_error"] == error.max()
    assert meta["error_bound"] == "max |error| <= 120, <= 4 in the region (integer voxels)"
    plain = compress_volume(volume, base, {"sperr": "pwe", "sz3": "abs", "zfp": "accuracy"}[base],
                            {"tolerance": 4.7}, workers=1)
    assert len(container_bytes(compressed)) < len(container_bytes(plain))


def read_compressed_bytes(data: bytes):
    """A .cbv's bytes read back through the file reader (the checks every file passes)."""
    import tempfile

    path = Path(tempfile.mkdtemp()) / "x.cbv"
    path.write_bytes(data)
    return read_compressed(path)


def test_float_volume_and_lossless_region() -> None:
    volume, _ = tube_volume("float32")
    compressed = compress_volume(volume, "roi", "vesselness", {"tolerance": 50, "roi_tolerance": 0.25})
    decoded = decompress(compressed).array
    region = get_codec("roi").region(compressed.encoded, volume.shape)
    error = np.abs(decoded.astype(np.float64) - volume.array)
    assert error[region].max() <= 0.25 and error.max() <= 50
    integer, _ = tube_volume()
    lossless = compress_volume(integer, "roi", "vesselness", {"tolerance": 50, "roi_tolerance": 0})
    region = get_codec("roi").region(lossless.encoded, integer.shape)
    assert np.array_equal(decompress(lossless).array[region], integer.array[region])
    with pytest.raises(CerebroError, match="needs integer voxels"):
        compress_volume(volume, "roi", "vesselness", {"tolerance": 50, "roi_tolerance": 0})


def test_a_given_mask_is_the_region(tmp_path: Path) -> None:
    volume, tube = tube_volume()
    write_volume(volume.with_array(tube.astype(np.uint8)), tmp_path / "seg.nii.gz")
    compressed = compress_volume(volume, "roi", "mask", {"mask": str(tmp_path / "seg.nii.gz"), "tolerance": 200,
                                                         "roi_tolerance": 2, "margin": 0})
    region = get_codec("roi").region(compressed.encoded, volume.shape)
    assert np.array_equal(region, expand_blocks(block_map(tube), volume.shape))
    grown = compress_volume(volume, "roi", "mask", {"mask": str(tmp_path / "seg.nii.gz"), "tolerance": 200,
                                                    "margin": 1.0})
    assert get_codec("roi").region(grown.encoded, volume.shape).sum() > region.sum()
    other = Volume(tube.astype(np.uint8), spacing=(0.5, 0.5, 0.6))  # another origin
    write_volume(other, tmp_path / "moved.nii.gz")
    with pytest.raises(CerebroError, match="not on the image's grid.*origin"):
        compress_volume(volume, "roi", "mask", {"mask": str(tmp_path / "moved.nii.gz"), "tolerance": 200})
    with pytest.raises(CerebroError, match="does not exist"):
        compress_volume(volume, "roi", "mask", {"mask": str(tmp_path / "nope.nii.gz"), "tolerance": 200})
    with pytest.raises(CerebroError, match="needs the setting mask"):
        compress_volume(volume, "roi", "mask", {"tolerance": 200})


@pytest.mark.parametrize(("mode", "settings", "message"), [
    ("vesselness", {"tolerance": 100, "margin": -1}, "margin=-1.0 is out of range"),
    ("vesselness", {"tolerance": 100, "margin": 1e6}, "margin=1000000.0 is out of range"),
    ("vesselness", {"tolerance": 10, "roi_tolerance": 20}, "must be the tighter one"),
    ("vesselness", {"tolerance": 100, "threshold": 0}, "threshold=0.0 is out of range"),
    ("vesselness", {"tolerance": 100, "threshold": 0.5, "mask": "CONSTANT"}, "the region is empty"),
    ("vesselness", {"tolerance": 100, "margin": 10}, "covers the whole volume"),
    ("vesselness", {"tolerance": 100, "base": "jpeg2000"}, "must be one of"),
    ("mask", {"tolerance": 100, "mask": "EMPTY"}, "the region is empty"),
    ("mask", {"tolerance": 100, "mask": "FULL"}, "covers the whole volume"),
])
def test_hostile_settings_get_one_error(tmp_path: Path, mode: str, settings: dict, message: str) -> None:
    volume, _ = tube_volume()
    if mode == "vesselness" and settings.pop("mask", None) == "CONSTANT":
        volume = volume.with_array(np.full(volume.shape, 40, np.int16))  # no vessel anywhere
    if settings.get("margin") == 10:
        volume, _ = tube_volume(shape=(16, 16, 16))  # every voxel within 10 mm of the tube
    for name, value in (("EMPTY", 0), ("FULL", 1)):
        if settings.get("mask") == name:
            path = tmp_path / f"{name}.nrrd"
            write_volume(volume.with_array(np.full(volume.shape, value, np.uint8)), path)
            settings = {**settings, "mask": str(path)}
    with pytest.raises(CerebroError, match=message):
        compress_volume(volume, "roi", mode, settings)


def test_crafted_region_map_and_refinement_are_refused(tmp_path: Path) -> None:
    volume, _ = tube_volume()
    data = container_bytes(compress_volume(volume, "roi", "vesselness", {"tolerance": 100}, workers=1))
    parts = members(data)
    header = json.loads(parts["header.json"])
    chunks = sorted(name for name in parts if name.startswith("chunks/"))
    grid = [-(-n // BLOCK) for n in volume.shape]
    crafted = {
        "map of another size": {chunks[0]: imagecodecs.zstd_encode(b"\xff" * (np.prod(grid) // 8 + 100))},
        "map that claims a bomb": {chunks[0]: imagecodecs.zstd_encode(b"\x00" * 10**7)},
        "map that is not zstd": {chunks[0]: b"not zstd at all"},
        "everything in the region": {chunks[0]: imagecodecs.zstd_encode(b"\xff" * (-(-int(np.prod(grid)) // 8)))},
        "refinement cut short": {chunks[-1]: imagecodecs.zstd_encode(b"\x01" * 10)},
    }
    for replaced in crafted.values():
        with pytest.raises(CerebroError, match="corrupt"):
            decompress(read_compressed_bytes(rebuild({**parts, **replaced}, header)))
    for field, value in (("block", 4), ("step", 0), ("step", 2.5), ("refinement_type", "float32"),
                         ("class_edges", [1.0] * 3), ("class_edges", list(range(15, 0, -1))),
                         ("class_offsets", [0.5] * 16), ("class_offsets", [float("nan")] * 16),
                         ("base", {"codec": "jpeg2000"}), ("base", None)):
        meta = {**header["codec_meta"], field: value}
        with pytest.raises(CerebroError, match="corrupt"):
            decompress(read_compressed_bytes(rebuild(parts, {**header, "codec_meta": meta})))
    assert decode_file(rebuild(parts, header), tmp_path, isolated=True) is not None  # the untouched file decodes


def test_report_gives_quality_inside_and_outside_the_region(tmp_path: Path) -> None:
    volume, _ = tube_volume()
    _, report, _ = round_trip(volume, "roi", "vesselness", {"tolerance": 150, "roi_tolerance": 3}, workers=1,
                              path=tmp_path / "r.cbv")
    assert 0 < report.region_share < 1 and report.max_abs_error_region <= 3 < report.max_abs_error_outside <= 150
    assert report.psnr_region_db > report.psnr_outside_db
    text = report.to_text()
    assert "region" in text and "outside the region" in text
    assert json.loads(json.dumps(report.as_dict()))["region_share"] == report.region_share
    _, plain, _ = round_trip(volume, "sz3", "abs", {"tolerance": 3}, workers=1)
    assert plain.region_share is None and "outside the region" not in plain.to_text()


def test_rate_control_searches_the_base_bound_from_the_region_bound() -> None:
    from cerebro.ratecontrol import search_range, search_setting, searchable_setting

    codec = get_codec("roi")
    spec = searchable_setting(codec, "vesselness")
    assert spec.name == "tolerance"
    assert search_range(codec, "vesselness", spec, {"roi_tolerance": "25"}).minimum == 25
    volume, _ = tube_volume()
    result = search_setting(volume, "roi", "vesselness", "ratio", 12, settings={"roi_tolerance": 8}, max_iter=12)
    assert all(trial.value >= 8 for trial in result.evaluations)
    assert result.settings["tolerance"] >= 8


def test_cli_compress_with_roi_and_a_hostile_margin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cerebro.cli.main import main

    volume, _ = tube_volume()
    write_volume(volume, tmp_path / "ct.nii.gz")
    assert main(["compress", str(tmp_path / "ct.nii.gz"), str(tmp_path / "ct.cbv"), "--codec", "roi", "--mode",
                 "vesselness", "--set", "tolerance=100", "--report", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "outside the region" in out
    assert main(["decompress", str(tmp_path / "ct.cbv"), str(tmp_path / "back.nii.gz")]) == 0
    capsys.readouterr()
    code = main(["compress", str(tmp_path / "ct.nii.gz"), str(tmp_path / "bad.cbv"), "--codec", "roi", "--mode",
                 "vesselness", "--set", "tolerance=100", "--set", "margin=-2"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error:") and "margin" in err
    assert not (tmp_path / "bad.cbv").exists()


def test_vessel_region_in_slabs_matches_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    import cerebro.vesselness as vesselness

    volume, tube = tube_volume(shape=(60, 36, 34))
    whole = vesselness.vessel_region(volume, 0.05, 0.0)
    monkeypatch.setattr(vesselness, "REGION_VOXELS", 12 * 36 * 34)
    slabs = vesselness.vessel_region(volume, 0.05, 0.0)
    assert whole[tube].mean() > 0.9 and (whole == slabs).mean() > 0.99
