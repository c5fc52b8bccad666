"""One test per finding of the adversarial pass (#12), named after it: each reproduced the bug before its fix
(finding 11 lives in test_benchmark.py, next to the benchmark run it needs).

The crafted-file classes (10, 16, 17) are also covered by the property tests of test_reliability_properties.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

import cerebro.fsutil
import cerebro.resources
from cerebro.benchmark.store import ResultStore
from cerebro.cbv.compress import compress_volume
from cerebro.cbv.container import write_compressed
from cerebro.cli.main import main
from cerebro.codecs.base import available_codecs
from cerebro.io import write_volume
from cerebro.volume import Volume
from scripts.cbv_mutations import members, rebuild

CEREBRO = [sys.executable, "-m", "cerebro.cli.main"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``cerebro argv`` in-process: (exit status, stdout, stderr)."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def refused(capsys: pytest.CaptureFixture[str], *argv: str, match: str = "") -> str:
    """Run the CLI and check it refused with one ``error:`` line (containing ``match``), exit 2."""
    status, _, err = run_cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert status == 2 and lines and lines[-1].startswith("error: ") and "Traceback" not in err, err
    assert match in lines[-1], lines[-1]
    return lines[-1]


@pytest.fixture()
def volume_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    return write_volume(Volume(rng.integers(-100, 500, (16, 16, 16)).astype(np.int16)), tmp_path / "vol.nii.gz")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cerebro.phantoms import write_phantom_dataset

    folder = tmp_path_factory.mktemp("phantoms") / "ds"
    write_phantom_dataset(folder, "cta", (16, 16, 16), 2, 0)
    return folder


def _cbv(tmp_path: Path, codec: str = "zstd", mode: str = "lossless", name: str = "v.cbv", **settings) -> Path:
    rng = np.random.default_rng(1)
    volume = Volume(rng.integers(-100, 500, (16, 16, 16)).astype(np.int16))
    return write_compressed(compress_volume(volume, codec, mode, settings, workers=1), tmp_path / name)


def _deny_writes_in(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make ``folder`` unwritable for the checks (the tests may run as root, who may write anywhere)."""
    real = os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(path).resolve() == folder.resolve():
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(cerebro.fsutil.os, "access", access)


# -- Data loss: an output overwrote an input ------------------------------------------------------------------

def test_finding_01_benchmark_table_over_the_store_is_refused(tmp_path, capsys) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "results.jsonl").write_text('{"key": "a"}\n')
    refused(capsys, "benchmark", "table", store, "-o", store / "results.jsonl", match="would overwrite")
    assert (store / "results.jsonl").read_text() == '{"key": "a"}\n'


def test_finding_02_manifest_over_the_datasets_dataset_json_is_refused(dataset, capsys) -> None:
    before = (dataset / "dataset.json").read_bytes()
    refused(capsys, "dataset", "manifest", dataset, "--layout", "nnunet", "-o", dataset / "dataset.json",
            match="would overwrite")
    assert (dataset / "dataset.json").read_bytes() == before


@pytest.mark.parametrize(("alias", "output"), [("vol.zraw", "vol.mhd"), ("v2.raw.gz", "v2.nhdr"),
                                               ("v3.raw", "v3.mhd")])
def test_finding_03_decompress_over_the_inputs_data_file_is_refused(tmp_path, capsys, alias, output) -> None:
    source = _cbv(tmp_path)
    (tmp_path / alias).write_bytes(source.read_bytes())
    refused(capsys, "decompress", tmp_path / alias, tmp_path / output, match="would overwrite the input")
    assert (tmp_path / alias).read_bytes() == source.read_bytes()


def test_finding_03_compress_decoded_over_a_headers_data_file_is_refused(tmp_path, capsys) -> None:
    image = sitk.GetImageFromArray(np.arange(64, dtype=np.int16).reshape(4, 4, 4))
    sitk.WriteImage(image, str(tmp_path / "in.mhd"), True)  # in.mhd + in.zraw
    data = (tmp_path / "in.zraw").read_bytes()
    refused(capsys, "compress", tmp_path / "in.mhd", tmp_path / "o.cbv", "--codec", "zstd", "--mode", "lossless",
            "--decoded", tmp_path / "in.mhd", match="would overwrite")
    assert (tmp_path / "in.zraw").read_bytes() == data


def test_finding_04_mask_and_probabilities_on_one_path_are_refused(volume_file, tmp_path, capsys) -> None:
    out = tmp_path / "p.nii.gz"
    refused(capsys, "segment", volume_file, out, "--probabilities", out, match="same file")
    assert not out.exists()


def test_finding_05_phantoms_into_an_existing_dataset_are_refused(dataset, capsys) -> None:
    manifest = (dataset / "manifest.csv").read_text()
    refused(capsys, "phantom", dataset, "--cases", "1", "--size", "16", "--quiet", match="already holds a dataset")
    assert (dataset / "manifest.csv").read_text() == manifest


# -- Silent wrong results --------------------------------------------------------------------------------------

def test_finding_06_a_second_writer_of_a_store_is_refused(dataset, tmp_path, capsys) -> None:
    store = tmp_path / "store"
    store.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom cerebro.benchmark.store import "
                               "ResultStore\nwith ResultStore(sys.argv[1]).writer():\n    print('held', flush=True)\n"
                               "    time.sleep(60)", str(store)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        refused(capsys, "benchmark", "run", dataset, "--store", store, "--setting", "zfp:rate:rate=4", "--quiet",
                match="being written by another run (pid")
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("count", ["0", "-1"])
def test_finding_07_max_cases_below_one_is_refused(dataset, tmp_path, capsys, count) -> None:
    refused(capsys, "benchmark", "run", dataset, "--store", tmp_path / "s", "--max-cases", count,
            match="--max-cases must be at least 1")


@pytest.mark.parametrize(("low", "high", "tolerance"), [(-1000.0, 3000.0, 1e-5), (0.5e30, 1e30, 5.0)])
def test_finding_08_zfp_accuracy_keeps_its_float_bound_or_refuses(tmp_path, capsys, low, high, tolerance) -> None:
    array = np.random.default_rng(2).uniform(low, high, (16, 16, 16)).astype(np.float32)
    path = write_volume(Volume(array), tmp_path / "f.nii.gz")
    refused(capsys, "compress", path, tmp_path / "f.cbv", "--codec", "zfp", "--mode", "accuracy", "--tolerance",
            tolerance, match="cannot keep max |error|")
    status, out, _ = run_cli(capsys, "compress", path, tmp_path / "g.cbv", "--codec", "zfp", "--mode", "accuracy",
                             "--tolerance", 1e-3 if high < 1e4 else 1e24, "--report", "--json")
    report = json.loads(out)
    assert status == 0 and report["max_abs_error"] <= report["settings"]["tolerance"]


def _dicom_series(folder: Path, slices: int = 8) -> None:
    folder.mkdir()
    image = sitk.GetImageFromArray(np.random.default_rng(3).integers(0, 900, (slices, 12, 12)).astype(np.int16))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(slices):
        piece = image[:, :, k]
        for tag, value in (("0020|000e", "1.2.826.0.1.3680043.2.1125.1"), ("0020|0032", f"0\\0\\{k}"),
                           ("0020|0013", str(k + 1)), ("0008|0060", "CT"), ("0020|0037", "1\\0\\0\\0\\1\\0"),
                           ("0008|0018", f"1.2.826.0.1.3680043.2.1125.2.{k}")):
            piece.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"s{k:02d}.dcm"))
        writer.Execute(piece)


def test_finding_09_a_dicom_series_with_a_truncated_slice_is_refused(tmp_path, capsys) -> None:
    series = tmp_path / "dicom"
    _dicom_series(series)
    status, _, _ = run_cli(capsys, "compress", series, tmp_path / "ok.cbv", "--codec", "zstd", "--mode", "lossless")
    assert status == 0
    cut = series / "s04.dcm"
    cut.write_bytes(cut.read_bytes()[:300])
    refused(capsys, "compress", series, tmp_path / "bad.cbv", "--codec", "zstd", "--mode", "lossless",
            match="cannot be read as part of its series")
    cut.unlink()
    refused(capsys, "compress", series, tmp_path / "bad.cbv", "--codec", "zstd", "--mode", "lossless",
            match="has a gap between slices 4 and 5")


@pytest.mark.parametrize(("codec", "mode", "change", "match"), [
    ("jpeg2000", "lossless", {"dtype": "uint16", "original_nbytes": 16**3 * 2}, "offset must be"),
    ("jpeg2000", "lossless", {"dtype": "uint8", "original_nbytes": 16**3}, "offset must be"),
    ("jpeg2000", "lossless", {"shape": [16, 8, 32]}, "not the one-tile"),
    ("jpeg2000", "lossless", {"original_nbytes": 12}, "original_nbytes"),
    ("zstd", "lossless", {"shape": [16, 100000, 100000], "original_nbytes": 16 * 10**10 * 2}, "memory"),
])
def test_finding_10_crafted_headers_with_valid_checksums_are_refused(tmp_path, capsys, codec, mode, change,
                                                                     match) -> None:
    parts = members(_cbv(tmp_path, codec, mode).read_bytes())
    header = {**json.loads(parts["header.json"]), **change}
    crafted = tmp_path / "crafted.cbv"
    crafted.write_bytes(rebuild(parts, header))  # every CRC and digest valid
    refused(capsys, "info", "--verify", crafted, match=match)
    refused(capsys, "decompress", crafted, tmp_path / "out.nii.gz", match=match)


def test_finding_10_an_edited_header_fails_its_digest(tmp_path, capsys) -> None:
    parts = members(_cbv(tmp_path, "jpeg2000", "lossless").read_bytes())
    header = json.loads(parts["header.json"])
    header["codec_meta"]["offset"] -= 5  # decodes, shifted by 5: only the digest can tell
    parts["header.json"] = json.dumps(header).encode()
    crafted = tmp_path / "edited.cbv"
    crafted.write_bytes(rebuild(parts, digests=False))  # CRCs valid, header.sha256 stale
    refused(capsys, "info", "--verify", crafted, match="header.json fails its SHA-256 check")


# Finding 11 (an edited baseline mask in STORE/masks/ was trusted) is tested end to end, on a real benchmark run,
# by test_benchmark.py::test_finding_11_an_edited_baseline_mask_is_not_trusted.


def test_finding_12_fixing_the_searched_setting_is_refused(volume_file, capsys) -> None:
    refused(capsys, "ratecontrol", volume_file, "--codec", "sz3", "--mode", "abs", "--target-ratio", "3",
            "--setting", "tolerance=5", match="fixes the setting that is searched")


# -- Crashes and tracebacks ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("scale", "dtype"), [(1e30, np.float32), (1e200, np.float64)])
def test_finding_13_sperr_on_huge_values_refuses_instead_of_crashing(tmp_path, scale, dtype) -> None:
    array = (np.random.default_rng(4).uniform(0.5, 1, (12, 12, 12)) * scale).astype(dtype)
    path = write_volume(Volume(array), tmp_path / "huge.nii.gz")
    done = subprocess.run([*CEREBRO, "compress", str(path), str(tmp_path / "h.cbv"), "--codec", "sperr", "--mode",
                           "pwe", "--tolerance", "5"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("error: sperr cannot code values"), done.stderr


def test_finding_14_unwritable_outputs_are_refused_before_any_work(dataset, volume_file, tmp_path, capsys,
                                                                  monkeypatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    _deny_writes_in(monkeypatch, locked)
    monkeypatch.setattr("cerebro.segment.api.segment", lambda *a, **k: pytest.fail("segmented before the check"))
    refused(capsys, "segment", volume_file, locked / "p.nii.gz", match="not writable")
    refused(capsys, "phantom", locked, "--size", "16", "--quiet", match="not writable")
    refused(capsys, "dataset", "manifest", dataset, "--layout", "nnunet", "-o", locked / "m.csv", match="not writable")
    refused(capsys, "benchmark", "run", dataset, "--store", locked, "--setting", "zfp:rate:rate=4", "--quiet",
            match="not writable")


def test_finding_15_bad_arguments_are_one_line(tmp_path, capsys, monkeypatch) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "results.jsonl").write_text("")
    refused(capsys, "benchmark", "table", store, "-o", tmp_path, match="is a folder")
    (tmp_path / "FILE").write_text("x")
    refused(capsys, "phantom", tmp_path / "FILE", "--size", "16", "--quiet", match="is a file")
    refused(capsys, "demo", "--out", tmp_path / "FILE", match="is a file")
    refused(capsys, "phantom", tmp_path / "p1", "--seed", "-1", "--size", "16", "--quiet", match="seed")
    refused(capsys, "phantom", tmp_path / "p2", "--spacing", "nan", "1", "1", "--size", "16", "--quiet",
            match="spacing")
    monkeypatch.setattr(cerebro.resources, "available_memory", lambda: 8 * cerebro.resources.GIB)
    refused(capsys, "phantom", tmp_path / "p3", "--size", "2000", "--quiet", match="GiB of memory")


def test_finding_15_report_on_values_near_the_float64_limit(tmp_path, capsys) -> None:
    array = np.random.default_rng(5).uniform(0.5, 1, (12, 12, 12)) * 1e200
    path = write_volume(Volume(array), tmp_path / "big.nii.gz")
    status, out, err = run_cli(capsys, "compress", path, tmp_path / "b.cbv", "--codec", "zstd", "--mode", "lossless",
                               "--report", "--json")
    assert status == 0 and json.loads(out)["ssim"] == pytest.approx(1.0), err


def test_finding_15_a_closed_pipe_is_not_a_traceback(monkeypatch) -> None:
    # `cerebro codecs | head -n 1`: the reader is gone before the command writes (deterministic: closed at once)
    read_end, write_end = os.pipe()
    os.close(read_end)
    closed = os.fdopen(write_end, "w", buffering=1)
    monkeypatch.setattr(sys, "stdout", closed)
    assert main(["codecs"]) == 0  # before the fix: BrokenPipeError escaped with a traceback


@pytest.mark.parametrize(("path", "value", "match"), [
    (["shape"], [0, 0, 0], "shape"), (["shape"], [-16, -16, 16], "shape"), (["shape"], [10**30, 1, 1], "shape"),
    (["codec_meta", "slab"], 0, "slab"), (["codec_meta", "slab"], "x", "slab"), (["codec_meta", "slab"], None, "slab"),
    (["codec"], "zfp", "no mode"), (["codec"], "nonexistent", "unknown codec"), (["metadata"], [1, 2], "metadata"),
    (["encode_seconds"], "abc", "encode_seconds"), (["settings"], "x", "settings"), (["chunks"], {}, "chunks"),
])
def test_finding_16_crafted_fields_are_one_line(tmp_path, capsys, path, value, match) -> None:
    parts = members(_cbv(tmp_path).read_bytes())
    header = json.loads(parts["header.json"])
    node = header
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    crafted = tmp_path / "c.cbv"
    crafted.write_bytes(rebuild(parts, header))
    refused(capsys, "info", crafted, match=match)


@pytest.mark.parametrize(("codec", "mode", "settings", "path", "value", "match"), [
    ("zfp", "rate", {"rate": 8}, ["codec_meta", "slices_per_chunk"], 0, "slices_per_chunk"),
    ("zfp", "rate", {"rate": 8}, ["codec_meta", "slices_per_chunk"], "x", "slices_per_chunk"),
    ("jpeg2000", "lossless", {}, ["codec_meta", "axis"], "q", "axis"),
    ("sz3", "abs", {"tolerance": 2}, ["codec_meta", "working_dtype"], "object", "working_dtype"),
])
def test_finding_16_crafted_codec_meta_is_one_line(tmp_path, capsys, codec, mode, settings, path, value,
                                                   match) -> None:
    parts = members(_cbv(tmp_path, codec, mode, **settings).read_bytes())
    header = json.loads(parts["header.json"])
    header[path[0]][path[1]] = value
    crafted = tmp_path / "c.cbv"
    crafted.write_bytes(rebuild(parts, header))
    refused(capsys, "decompress", crafted, tmp_path / "o.nii.gz", match=match)


def test_finding_16_deeply_nested_json_is_one_line(tmp_path, capsys) -> None:
    parts = members(_cbv(tmp_path).read_bytes())
    crafted = tmp_path / "deep.cbv"
    crafted.write_bytes(rebuild(parts, b"[" * 100_000 + b"]" * 100_000))
    refused(capsys, "info", crafted, match="unreadable header.json")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the INR codecs need torch")
@pytest.mark.parametrize(("arch", "match"), [({"kind": "siren", "width": 4096, "depth": 12}, "no larger than"),
                                             ({"kind": "siren", "width": 10**6, "depth": 3}, "width"),
                                             ({"kind": "siren", "width": -4, "depth": 3}, "width"),
                                             ({"kind": "siren"}, "width"), (None, "arch"),
                                             ({"kind": "hashgrid"}, "kind")])
def test_finding_16_17_crafted_inr_architectures_are_refused_before_building(tmp_path, capsys, arch, match) -> None:
    cbv = _cbv(tmp_path, "siren", "explicit", width=8, depth=2, steps=5)
    parts = members(cbv.read_bytes())
    header = json.loads(parts["header.json"])
    header["codec_meta"]["arch"] = arch
    if arch is None:
        del header["codec_meta"]["arch"]
    crafted = tmp_path / "inr.cbv"
    crafted.write_bytes(rebuild(parts, header))
    refused(capsys, "decompress", crafted, tmp_path / "o.nii.gz", match=match)
    header = json.loads(parts["header.json"])
    header["codec_meta"]["lo"] = "x"
    crafted.write_bytes(rebuild(parts, header))
    refused(capsys, "decompress", crafted, tmp_path / "o.nii.gz", match="lo must be")


# -- Memory bombs (each in a child process with a 3 GiB address-space limit: a bomb would die there) -------------

_LIMITED = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
            "from cerebro.cli.main import main\nsys.exit(main(sys.argv[1:]))")


def _limited(*argv: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _LIMITED, *map(str, argv)], capture_output=True, text=True,
                          timeout=120)


def test_finding_17_a_zstd_bomb_is_refused_without_inflating_it(tmp_path) -> None:
    import imagecodecs

    parts = members(_cbv(tmp_path).read_bytes())
    header = json.loads(parts["header.json"])
    parts["chunks/000000.bin"] = imagecodecs.zstd_encode(bytes(4 << 30 >> 2), 1)  # 1 GiB of zeros in ~30 KB
    crafted = tmp_path / "bomb.cbv"
    crafted.write_bytes(rebuild(parts, header))
    done = _limited("decompress", crafted, tmp_path / "o.nii.gz")
    assert done.returncode == 2 and "Destination buffer is too small" in done.stderr, done.stderr


def test_finding_17_a_deflated_member_is_refused(tmp_path, capsys) -> None:
    parts = members(_cbv(tmp_path).read_bytes())
    crafted = tmp_path / "deflated.cbv"
    with zipfile.ZipFile(crafted, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    refused(capsys, "info", "--verify", crafted, match="compressed inside the ZIP")


def test_finding_17_a_huge_declared_volume_is_refused_up_front(tmp_path) -> None:
    parts = members(_cbv(tmp_path).read_bytes())
    header = {**json.loads(parts["header.json"]), "shape": [16, 100000, 100000],
              "original_nbytes": 16 * 10**10 * 2}
    crafted = tmp_path / "huge.cbv"
    crafted.write_bytes(rebuild(parts, header))
    done = _limited("decompress", crafted, tmp_path / "o.nii.gz")
    assert done.returncode == 2 and "GiB of memory" in done.stderr, done.stderr


def test_finding_17_a_zfp_stream_of_another_shape_is_refused_before_decoding(tmp_path) -> None:
    import zfpy

    parts = members(_cbv(tmp_path, "zfp", "rate", rate=8).read_bytes())
    header = json.loads(parts["header.json"])
    stream = zfpy.compress_numpy(np.zeros((16, 4000, 4000), np.float32), rate=0.25)  # declares 1 GiB
    parts["chunks/000000.bin"] = stream
    crafted = tmp_path / "zfp.cbv"
    crafted.write_bytes(rebuild(parts, header))
    done = _limited("decompress", crafted, tmp_path / "o.nii.gz")
    assert done.returncode == 2 and "expected 16x16x16" in done.stderr, done.stderr


# -- Clean-up after a kill -------------------------------------------------------------------------------------

def test_finding_18_resume_drops_a_cut_last_line_that_ends_in_a_newline(tmp_path) -> None:
    store = ResultStore(tmp_path)
    (tmp_path / "results.jsonl").write_text('{"key": "a"}\n{"key": "b", "di\n')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store.append({"key": "c"})
    assert [r["key"] for r in store.records()] == ["a", "c"] and "incomplete" in str(caught[0].message)


def _children_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split()[2] != "Z":
                    alive.append(pid)
        except (ProcessLookupError, FileNotFoundError):
            pass
    return alive


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_finding_19_a_killed_run_leaves_no_workers_scratch_or_temporaries(tmp_path) -> None:
    array = np.random.default_rng(6).normal(0, 100, (192, 192, 192)).astype(np.float32)
    path = write_volume(Volume(array), tmp_path / "big.nii", compress=False)
    stale = tmp_path / ".k-999999-abcdefgh.cbv"  # left by a killed writer whose pid no longer runs
    stale.write_bytes(b"partial")
    before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    run = subprocess.Popen([*CEREBRO, "compress", str(path), str(tmp_path / "k.cbv"), "--codec", "zfp", "--mode",
                            "reversible", "--workers", "2", "--quiet"], start_new_session=True)
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(workers) < 2 and run.poll() is None:
        workers = [int(p) for p in os.listdir("/proc") if p.isdigit() and _is_descendant(int(p), run.pid)]
        time.sleep(0.05)
    scratch = {n for n in set(os.listdir("/dev/shm")) - before if n.startswith("cerebro-scratch")}
    run.send_signal(signal.SIGKILL)
    run.wait()
    time.sleep(3)
    assert workers and not _children_alive(workers)
    assert not scratch and not {n for n in set(os.listdir("/dev/shm")) - before if n.startswith("cerebro-scratch")}
    subprocess.run([*CEREBRO, "compress", str(tmp_path / "big.nii"), str(tmp_path / "k.cbv"), "--codec", "zstd",
                    "--mode", "lossless", "--quiet"], check=True, timeout=120, capture_output=True)
    assert not stale.exists() and not [n for n in os.listdir(tmp_path) if n.startswith(".k-")]


def _is_descendant(pid: int, ancestor: int) -> bool:
    for _ in range(6):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                pid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ValueError, IndexError):
            return False
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
    return False


# -- Smaller ---------------------------------------------------------------------------------------------------

def test_finding_20_outputs_follow_the_umask(volume_file, tmp_path, capsys) -> None:
    old = os.umask(0o027)
    try:
        run_cli(capsys, "compress", volume_file, tmp_path / "a.cbv", "--codec", "zstd", "--mode", "lossless")
        assert (tmp_path / "a.cbv").stat().st_mode & 0o777 == 0o640
        (tmp_path / "a.cbv").chmod(0o644)
        run_cli(capsys, "compress", volume_file, tmp_path / "a.cbv", "--codec", "zstd", "--mode", "lossless")
        assert (tmp_path / "a.cbv").stat().st_mode & 0o777 == 0o644  # a replaced file keeps its mode
    finally:
        os.umask(old)


def test_finding_21_info_does_not_send_terminal_escapes(tmp_path, capsys) -> None:
    parts = members(_cbv(tmp_path).read_bytes())
    header = {**json.loads(parts["header.json"]), "cerebro_version": "\x1b]0;pwned\x07\x1b[2J"}
    crafted = tmp_path / "esc.cbv"
    crafted.write_bytes(rebuild(parts, header))
    status, out, _ = run_cli(capsys, "info", crafted)
    assert status == 0 and "\x1b" not in out and "\\x1b]0;pwned" in out


def test_finding_22_ratecontrol_exits_3_when_it_misses(volume_file, capsys) -> None:
    status, out, err = run_cli(capsys, "ratecontrol", volume_file, "--codec", "sz3", "--mode", "abs",
                               "--target-ratio", "5000")
    assert status == 3 and err.startswith("missed: ") and "ratio" in out
    status, _, _ = run_cli(capsys, "ratecontrol", volume_file, "--codec", "sz3", "--mode", "abs", "--target-ratio",
                           "2", "--tolerance", "0.2")
    assert status == 0



# -- Found by the fuzz target (scripts/fuzz_cbv.py) ------------------------------------------------------------

CORPUS = Path(__file__).parent / "fuzz_corpus"


def test_fuzz_a_sperr_stream_with_other_flags_is_refused_before_it_crashes_sperr(tmp_path) -> None:
    done = subprocess.run([*CEREBRO, "decompress", str(CORPUS / "sperr-flags-sigfpe.cbv"), str(tmp_path / "o.nii")],
                          capture_output=True, text=True, timeout=120)  # before the fix: SIGFPE (status -8)
    assert done.returncode == 2 and "does not start like" in done.stderr, done.stderr


@pytest.mark.skipif("htj2k" not in available_codecs(), reason="this imagecodecs has no HTJ2K (Python 3.9)")
def test_fuzz_a_j2k_image_offset_is_refused_before_openjph_spins_on_it(tmp_path, capsys) -> None:
    # before the fix OpenJPH spent 3 min 22 s of CPU on this 12-slice file before failing
    refused(capsys, "decompress", CORPUS / "htj2k-siz-offset-spin.cbv", tmp_path / "o.nii",
            match="not the one-tile 9x10 single-component codestream")


def test_fuzz_a_crash_of_a_codec_library_on_a_crafted_chunk_is_one_error_line(tmp_path, capsys) -> None:
    # SPERR dies (std::bad_alloc -> SIGABRT) on this chunk, replaced and its SHA-256 recomputed; the commands decode
    # files in a child process, so the command (and Slicer, which decodes the same way) lives on
    for argv in (["decompress", CORPUS / "crash-sperr-deep.cbv", tmp_path / "o.nii"],
                 ["info", "--verify", CORPUS / "crash-sperr-deep.cbv"]):
        refused(capsys, *argv, match="the sperr library crashed decoding this file (signal SIGABRT)")
