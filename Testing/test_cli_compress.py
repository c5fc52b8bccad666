"""CLI: compress / decompress / info / codecs, geometry through every path, one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from cerebro.cli.main import main
from cerebro.io import read_volume, write_volume
from cerebro.volume import Volume, same_geometry


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
@pytest.mark.parametrize("mode_args,bound", [(["--mode", "accuracy", "--tolerance", "7.5"], 7),
                                             (["--mode", "reversible"], 0)])
def test_geometry_and_bound_survive_file_to_file(ct_volume: Volume, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 suffix: str, mode_args: list[str], bound: int) -> None:
    source = write_volume(ct_volume, tmp_path / f"in{suffix}")
    original = read_volume(source)
    code, out, err = run(capsys, "compress", source, tmp_path / "c.cbv", *mode_args, "--workers", "1")
    assert code == 0 and "wrote" in out and err == ""
    code, out, _ = run(capsys, "decompress", tmp_path / "c.cbv", tmp_path / f"out{suffix}", "--workers", "1")
    assert code == 0
    restored = read_volume(tmp_path / f"out{suffix}")
    assert same_geometry(original, restored, atol_mm=1e-6, atol_direction=1e-9) is None
    assert restored.dtype == np.int16
    assert np.abs(restored.array.astype(int) - original.array).max() <= bound


def test_report_json_and_info(ct_volume: Volume, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_volume(ct_volume, tmp_path / "in.nrrd")
    code, out, _ = run(capsys, "compress", source, tmp_path / "c.cbv", "--set", "tolerance=20", "--mode", "accuracy",
                       "--report", "--json", "--workers", "2")
    report = json.loads(out)
    assert code == 0 and report["size_basis"] == "file on disk: c.cbv" and report["max_abs_error"] <= 20
    assert report["compressed_nbytes"] == (tmp_path / "c.cbv").stat().st_size
    for key in ("compression_ratio", "bits_per_voxel", "psnr_db", "psnr_data_range", "ssim", "rmse",
                "encode_seconds", "decode_seconds", "encode_mb_s", "decode_mb_s"):
        assert isinstance(report[key], float)
    code, out, _ = run(capsys, "compress", source, tmp_path / "t.cbv", "--mode", "rate", "--rate", "4", "--report")
    assert code == 0 and "compression ratio" in out and "SSIM (3D)" in out
    code, out, _ = run(capsys, "info", tmp_path / "c.cbv", "--json", "--verify")
    info = json.loads(out)
    assert code == 0 and info["verified"] and info["header"]["settings"] == {"tolerance": 20.0}
    code, out, _ = run(capsys, "info", tmp_path / "c.cbv")
    assert code == 0 and "zfp / accuracy tolerance=20\n" in out and "0.45 x 0.5 x 0.6 mm" in out


def test_decoded_volume_and_json_progress_protocol(ct_volume: Volume, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """--decoded writes the decoded volume; --progress-format json is what the Slicer modules' job runner reads."""
    source = write_volume(ct_volume, tmp_path / "in.nrrd")
    code, out, err = run(capsys, "compress", source, tmp_path / "c.cbv", "--mode", "accuracy", "--tolerance", "9",
                         "--decoded", tmp_path / "d.nii.gz", "--progress-format", "json", "--workers", "1")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and err == "" and all("progress" in line for line in lines[:-1])
    result = lines[-1]["result"]
    assert result["decoded"] == str(tmp_path / "d.nii.gz") and result["max_abs_error"] <= 9
    decoded = read_volume(tmp_path / "d.nii.gz")
    assert same_geometry(decoded, ct_volume, atol_mm=1e-6, atol_direction=1e-9) is None
    assert np.abs(decoded.array.astype(int) - ct_volume.array).max() == result["max_abs_error"]
    code, out, _ = run(capsys, "decompress", tmp_path / "c.cbv", tmp_path / "e.nrrd", "--progress-format", "json")
    assert code == 0 and json.loads(out.splitlines()[-1])["result"]["shape"] == list(ct_volume.shape)
    code, _, err = run(capsys, "compress", source, tmp_path / "x.cbv", "--mode", "reversible", "--decoded", source)
    assert code == 2 and err.startswith("error:") and "would overwrite the input file" in err
    code, _, err = run(capsys, "compress", source, tmp_path / "x.cbv", "--mode", "reversible", "--decoded", "d.txt")
    assert code == 2 and "--decoded d.txt must end with" in err and not (tmp_path / "x.cbv").exists()


def test_codecs_listing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "codecs", "--json")
    modes = json.loads(out)["zfp"]["modes"]
    assert code == 0 and set(modes) == {"rate", "accuracy", "precision", "reversible"}
    assert modes["rate"]["settings"][0]["maximum"] == 64.0 and modes["reversible"]["lossless"]
    code, out, _ = run(capsys, "codecs")
    assert "--tolerance" in out and "bits/value" in out


def _bad_inputs(tmp: Path, ct: Volume) -> dict[str, tuple[list[str], str]]:
    """name -> (argv, expected words in the one-line message)."""
    good = write_volume(ct, tmp / "good.nrrd")
    (tmp / "garbage.nii.gz").write_bytes(b"this is not an image" * 10)
    rgb = sitk.Image([8, 8, 8], sitk.sitkVectorUInt8, 3)
    sitk.WriteImage(rgb, str(tmp / "rgb.mha"))
    sitk.WriteImage(sitk.Image([8, 8, 8], sitk.sitkInt64), str(tmp / "int64.nrrd"))
    nan = np.zeros((8, 8, 8), np.float32)
    nan[1, 2, 3] = np.nan
    write_volume(Volume(nan), tmp / "nan.nrrd")
    run_args = ["--workers", "1"]
    main(["compress", str(good), str(tmp / "ok.cbv"), "--mode", "reversible", *run_args])
    blob = (tmp / "ok.cbv").read_bytes()
    (tmp / "truncated.cbv").write_bytes(blob[: len(blob) // 2])
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0x55
    (tmp / "flipped.cbv").write_bytes(bytes(flipped))
    with zipfile.ZipFile(tmp / "ok.cbv") as src, zipfile.ZipFile(tmp / "newer.cbv", "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "header.json":
                data = json.dumps({**json.loads(data), "format_version": 99}).encode()
            dst.writestr(name, data)
    compress = ["compress"]
    return {
        "missing": (compress + [tmp / "nope.nii.gz", tmp / "o.cbv", "--mode", "reversible"], "not found"),
        "unreadable": (compress + [tmp / "garbage.nii.gz", tmp / "o.cbv", "--mode", "reversible"], "cannot read"),
        "rgb": (compress + [tmp / "rgb.mha", tmp / "o.cbv", "--mode", "reversible"], "components per voxel"),
        "int64": (compress + [tmp / "int64.nrrd", tmp / "o.cbv", "--mode", "reversible"], "unsupported voxel type"),
        "nan": (compress + [tmp / "nan.nrrd", tmp / "o.cbv", "--mode", "accuracy", "--tolerance", "1"], "NaN/Inf"),
        "tolerance<0": (compress + [good, tmp / "o.cbv", "--mode", "accuracy", "--tolerance", "-1"], "out of range"),
        "rate>64": (compress + [good, tmp / "o.cbv", "--mode", "rate", "--rate", "100"], "out of range"),
        "precision=0": (compress + [good, tmp / "o.cbv", "--mode", "precision", "--set", "precision=0"],
                        "out of range"),
        "not-a-number": (compress + [good, tmp / "o.cbv", "--mode", "rate", "--rate", "fast"], "not a number"),
        "wrong setting": (compress + [good, tmp / "o.cbv", "--mode", "rate", "--tolerance", "3"], "does not apply"),
        "bad --set": (compress + [good, tmp / "o.cbv", "--mode", "rate", "--set", "rate"], "NAME=VALUE"),
        "no mode": (compress + [good, tmp / "o.cbv"], "choose a mode"),
        "bad mode": (compress + [good, tmp / "o.cbv", "--mode", "lossy"], "no mode 'lossy'"),
        "bad codec": (compress + [good, tmp / "o.cbv", "--codec", "gzip", "--mode", "x"], "unknown codec"),
        "bad suffix": (compress + [good, tmp / "o.zip", "--mode", "reversible"], "must end with"),
        "overwrite input": (["decompress", tmp / "ok.cbv", tmp / "ok.cbv"], "must end with"),
        "truncated": (["decompress", tmp / "truncated.cbv", tmp / "o.nii.gz"], "truncated"),
        "corrupted": (["decompress", tmp / "flipped.cbv", tmp / "o.nii.gz"], "corrupted"),
        "newer": (["info", tmp / "newer.cbv"], "newer than this cerebro"),
        "not cbv": (["info", good], "not a CerebroBench .cbv file"),
        "bad output": (["decompress", tmp / "ok.cbv", tmp / "o.png"], "must end with one of"),
    }


def test_every_bad_input_gets_one_line(ct_volume: Volume, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = _bad_inputs(tmp_path, ct_volume)
    capsys.readouterr()
    for name, (argv, words) in cases.items():
        code, out, err = run(capsys, *argv)
        assert code == 2, name
        assert err.count("\n") == 1 and err.startswith("error: ") and words in err, (name, err)
        assert "Traceback" not in err + out, name
    assert not (tmp_path / "o.cbv").exists() and not (tmp_path / "o.nii.gz").exists()


def test_input_is_never_overwritten(tmp_path: Path, ct_volume: Volume, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_volume(ct_volume, tmp_path / "vol.nrrd")
    os.link(source, tmp_path / "alias.cbv")  # the output path names the input file itself
    before = source.read_bytes()
    code, _, err = run(capsys, "compress", source, tmp_path / "alias.cbv", "--mode", "reversible")
    assert code == 2 and "would overwrite the input file" in err and source.read_bytes() == before
    main(["compress", str(source), str(tmp_path / "a.cbv"), "--mode", "reversible", "--workers", "1"])
    packed = (tmp_path / "a.cbv").read_bytes()
    code, _, err = run(capsys, "info", tmp_path / "a.cbv")
    assert code == 0 and (tmp_path / "a.cbv").read_bytes() == packed


def test_exit_status_of_the_real_process(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "cerebro.cli.main", "decompress", str(tmp_path / "missing.cbv"),
                             str(tmp_path / "x.nii.gz")], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0 and "not found" in result.stderr
