"""The machine misbehaving (issue 25): full disks, odd files, signals, odd environments.

One test per finding of the pass (docs/reliability.md, "The environment"), named after it; each failed on 84485c9.
Disk-full tests mount a small tmpfs, which needs root (CI runs as root); elsewhere they skip and say so.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cerebro.cbv.compress import compress_volume
from cerebro.cbv.container import write_compressed
from cerebro.cli.main import main
from cerebro.errors import CerebroError
from cerebro.io import read_volume, write_volume
from cerebro.phantoms import write_phantom_dataset

FILLER = ".filler"
CEREBRO = [sys.executable, "-m", "cerebro.cli.main"]


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(free)``: a tmpfs mounted in ``tmp_path`` with about ``free`` bytes left (0: full)."""
    mounted: list[Path] = []

    def make(free: int = 0, name: str = "disk") -> Path:
        place = tmp_path / name
        place.mkdir()
        size = max(4096, -(-free // 4096) * 4096) if free else 64 << 10
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(place)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not root'}); CI runs these as root")
        mounted.append(place)
        if not free:
            with open(place / FILLER, "wb", buffering=0) as filler:
                try:
                    while True:
                        filler.write(b"\0" * 4096)
                except OSError:
                    pass
        return place

    yield make
    for place in mounted:
        subprocess.run(["umount", "-l", str(place)], capture_output=True)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A one-case 32^3 CTA phantom dataset, a .cbv of its image and a result store of one setting."""
    root = tmp_path_factory.mktemp("env")
    write_phantom_dataset(root / "data", "cta", (32, 32, 32), 1, seed=3)
    image = next((root / "data" / "imagesTr").iterdir())
    write_compressed(compress_volume(read_volume(image), "zfp", "reversible", {}), root / "a.cbv")
    return root


def _left(disk: Path) -> list[str]:
    return sorted(str(p.relative_to(disk)) for p in disk.rglob("*") if p.name != FILLER)


def _one_error(capfd, code: int, *expected: str) -> str:
    err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and err[0].startswith("error: "), (code, err)
    for text in expected:
        assert text in err[0], err
    return err[0]


# --- full disks ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["y.nii", "y.nii.gz", "y.nrrd", "y.mha", "y.mhd", "y.nhdr"])
def test_env_finding_1_decompress_to_a_full_disk_is_one_line_and_no_file(dataset, small_disk, capfd, name):
    """ITK's NIfTI writer only printed 'NWAD: wrote only 20128 of 65536 bytes' and the command said 'wrote' with
    exit 0, leaving a truncated file that reads back as a whole volume; NRRD / MetaImage added their own lines."""
    disk = small_disk(0)
    code = main(["decompress", str(dataset / "a.cbv"), str(disk / name), "--quiet"])
    _one_error(capfd, code, f"writing {disk / name}", "bytes", "free some space")
    assert _left(disk) == []


def test_env_finding_1_a_disk_with_room_for_part_of_the_file(dataset, small_disk, capfd):
    """20 KB free for a 64 KB volume: refused before writing (uncompressed) or when the write fails (gzip)."""
    disk = small_disk(20 << 10)
    code = main(["decompress", str(dataset / "a.cbv"), str(disk / "y.nii"), "--quiet"])
    _one_error(capfd, code, "needs", "bytes are free there")
    code = main(["decompress", str(dataset / "a.cbv"), str(disk / "z.nii.gz"), "--quiet"])
    capfd.readouterr()
    if code == 0:  # it fitted compressed: then it is whole
        assert np.array_equal(read_volume(disk / "z.nii.gz").array, read_volume(dataset / "data" / "imagesTr" /
                                                                               "phantom_cta_000_0000.nii.gz").array)
    assert not (disk / "y.nii").exists()


def test_env_finding_1_every_volume_written_is_read_back(tmp_path, monkeypatch, ct_volume):
    """A writer that 'succeeds' but leaves other bytes (simulated) is caught before the file takes its name."""
    import SimpleITK as sitk

    from cerebro import io

    real = sitk.WriteImage

    def cut_short(image, path, compress=True):
        real(image, path, compress)
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 2])

    monkeypatch.setattr(io.sitk, "WriteImage", cut_short)
    for name in ("v.nii", "v.nii.gz", "v.nrrd"):
        with pytest.raises(CerebroError, match="does not read back|reads back other voxels"):
            write_volume(ct_volume, tmp_path / name)
        assert not (tmp_path / name).exists()
    assert [p.name for p in tmp_path.iterdir()] == []


@pytest.mark.parametrize("command", ["compress", "compress --decoded", "segment", "segment --probabilities",
                                     "dataset manifest", "benchmark table", "benchmark limits", "benchmark plot",
                                     "benchmark report"])
def test_env_finding_1_every_writer_on_a_full_disk(dataset, small_disk, capfd, command, one_torch_thread):
    if command.startswith("segment"):
        pytest.importorskip("torch")
    disk = small_disk(0)
    image = str(next((dataset / "data" / "imagesTr").iterdir()))
    store = _store(dataset)
    argv, output = {
        "compress": (["compress", image, str(disk / "a.cbv"), "--codec", "zfp", "--mode", "reversible"],
                     disk / "a.cbv"),
        "compress --decoded": (["compress", image, str(dataset / "b.cbv"), "--codec", "zfp", "--mode", "reversible",
                                "--decoded", str(disk / "d.nii.gz")], disk / "d.nii.gz"),
        "segment": (["segment", image, str(disk / "m.nii.gz"), "--device", "cpu", "--no-tta", "--quiet"],
                    disk / "m.nii.gz"),
        "segment --probabilities": (["segment", image, str(dataset / "m.nii.gz"), "--device", "cpu", "--no-tta",
                                     "--quiet", "--probabilities", str(disk / "p.nii.gz")], disk / "p.nii.gz"),
        "dataset manifest": (["dataset", "manifest", str(dataset / "data"), "--layout", "nnunet", "-o",
                              str(disk / "m.csv")], disk / "m.csv"),
        "benchmark table": (["benchmark", "table", str(store), "--format", "csv", "-o", str(disk / "t.csv")],
                            disk / "t.csv"),
        "benchmark limits": (["benchmark", "limits", str(store), "--max-dice-loss", "0.01", "-o",
                              str(disk / "l.txt")], disk / "l.txt"),
        "benchmark plot": (["benchmark", "plot", str(store), str(disk / "p.png")], disk / "p.png"),
        "benchmark report": (["benchmark", "report", str(store), str(disk / "r.html"), "--quiet"], disk / "r.html"),
    }[command]
    code = main(argv)
    _one_error(capfd, code, "bytes are free there")
    assert not output.exists() and _left(disk) == []


def _store(dataset: Path) -> Path:
    """A result store of the dataset at one ZFP setting (made once, with the shipped default model)."""
    pytest.importorskip("torch")
    store = dataset / "store"
    if not (store / "results.jsonl").is_file():
        done = _cerebro("benchmark", "run", str(dataset / "data"), "--store", str(store), "--setting",
                        "zfp:rate:rate=4", "--metrics", "overlap", "--device", "cpu", "--workers", "1", "--quiet")
        assert done.returncode == 0, done.stderr
    return store


def test_env_finding_2_benchmark_run_on_a_full_disk_names_the_file_and_leaves_no_store(dataset, small_disk, capfd,
                                                                                         one_torch_thread):
    """It said 'cannot access: No space left on device' (no file named) and left the store folder."""
    pytest.importorskip("torch")
    disk = small_disk(0)
    code = main(["benchmark", "run", str(dataset / "data"), "--store", str(disk / "store"), "--setting",
                 "zfp:rate:rate=4", "--metrics", "overlap", "--device", "cpu", "--quiet"])
    _one_error(capfd, code, f"writing {disk / 'store'}", "bytes are free there")
    assert _left(disk) == []


def test_env_finding_2_a_record_that_does_not_fit_leaves_the_complete_ones(small_disk):
    from cerebro.benchmark.store import ResultStore

    disk = small_disk(8 << 10)
    store = ResultStore(disk / "store")
    with store.writer():
        store.append({"key": "a", "value": 1})
        before = store.results_path.read_bytes()
        with pytest.raises(CerebroError, match="bytes are free there"):
            store.append({"key": "b", "blob": "x" * (64 << 10)})
    assert store.results_path.read_bytes() == before and [r["key"] for r in store.records()] == ["a"]


@pytest.mark.parametrize("command", ["phantom", "demo"])
def test_env_finding_3_phantom_and_demo_on_a_full_disk_leave_no_folders(small_disk, capfd, command,
                                                                         one_torch_thread):
    disk = small_disk(0)
    argv = {"phantom": ["phantom", str(disk / "ds"), "--size", "16", "--cases", "1", "--quiet"],
            "demo": ["demo", "--out", str(disk / "demo"), "--size", "16", "--device", "cpu"]}[command]
    if command == "demo":
        pytest.importorskip("torch")
    code = main(argv)
    _one_error(capfd, code, "bytes are free there")
    assert _left(disk) == []


def test_env_finding_4_training_on_a_full_disk_is_one_line_not_a_traceback(dataset, small_disk, capfd,
                                                                           one_torch_thread):
    """torch.save on a full disk raised 'RuntimeError: [enforce fail at inline_container.cc]' through the CLI."""
    pytest.importorskip("torch")
    disk = small_disk(1 << 20)  # room for plans.json and dataset.json, not for a checkpoint
    code = main(["train", str(dataset / "data"), "--out", str(disk / "run"), "--iterations", "2",
                 "--validate-every", "2", "--device", "cpu", "--quiet"])
    _one_error(capfd, code, "checkpoint", "needs", "bytes are free there")
    assert _left(disk) == []  # nothing to resume: no results folder left


# --- odd files -------------------------------------------------------------------------------------------------

def test_env_finding_5_fifos_and_devices_are_refused_as_inputs_and_outputs(dataset, tmp_path, capfd):
    """A FIFO output was replaced by a regular file (as root, a device node too); a FIFO input gave 'Empty
    file'."""
    fifo = tmp_path / "f.nii"
    os.mkfifo(fifo)
    _one_error(capfd, main(["decompress", str(dataset / "a.cbv"), str(fifo), "--quiet"]), "is a FIFO, not a file")
    _one_error(capfd, main(["compress", str(fifo), str(tmp_path / "x.cbv"), "--codec", "zfp", "--mode",
                            "reversible"]), "is a FIFO, not a file")
    assert fifo.is_fifo()
    device = tmp_path / "null.nii"
    device.symlink_to("/dev/null")
    _one_error(capfd, main(["decompress", str(dataset / "a.cbv"), str(device), "--quiet"]), "is a device")
    assert Path("/dev/null").is_char_device()


def test_env_finding_6_an_output_that_is_a_symlink_is_written_where_it_points(dataset, tmp_path, capfd):
    """The link was replaced by a file, and the file it pointed to kept its old content."""
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "y.nii.gz"
    target.write_bytes(b"old")
    link = tmp_path / "y.nii.gz"
    link.symlink_to(target)
    assert main(["decompress", str(dataset / "a.cbv"), str(link), "--quiet"]) == 0
    capfd.readouterr()
    assert link.is_symlink() and read_volume(target).shape == (32, 32, 32)
    image = next((dataset / "data" / "imagesTr").iterdir())
    to_input = tmp_path / "in.nii.gz"
    to_input.symlink_to(image)
    _one_error(capfd, main(["compress", str(image), str(tmp_path / "c.cbv"), "--codec", "zfp", "--mode",
                            "reversible", "--decoded", str(to_input)]), "would overwrite the input")


def test_env_finding_7_a_newline_in_a_file_name_does_not_break_the_error_line(tmp_path, capfd):
    _one_error(capfd, main(["decompress", str(tmp_path / "no\nfile.cbv"), str(tmp_path / "y.nii")]), "no\\nfile.cbv")


def test_env_finding_8_usage_errors_are_one_line_with_a_hint_for_leading_dashes(dataset, tmp_path, capfd,
                                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(dataset / "a.cbv", tmp_path / "-a.cbv")
    with pytest.raises(SystemExit) as stop:
        main(["decompress", "-a.cbv", "y.nii.gz"])
    line = _one_error(capfd, stop.value.code, "put -- before file names", "see 'cerebro decompress --help'")
    assert "-a.cbv is a file" in line
    assert main(["decompress", "--quiet", "--", "-a.cbv", "-y.nii.gz"]) == 0
    assert (tmp_path / "-y.nii.gz").is_file()


# --- signals, concurrency, environment variables ---------------------------------------------------------------

def _cerebro(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **kwargs.pop("env", {})}
    return subprocess.run([*CEREBRO, *args], capture_output=True, encoding="utf-8", errors="replace", timeout=300,
                          env=env, **kwargs)


def test_env_finding_9_sigterm_ends_a_run_as_ctrl_c_does(dataset, tmp_path, one_torch_thread):
    """SIGTERM killed the run where it was: multiprocessing's resource tracker printed 'leaked semaphore objects'
    warnings (two lines) and the exit was by signal. Now: one line, exit 143, workers gone, store complete."""
    pytest.importorskip("torch")
    write_phantom_dataset(tmp_path / "data", "cta", (48, 48, 48), 2, seed=5)
    store = tmp_path / "store"
    run = subprocess.Popen([*CEREBRO, "benchmark", "run", str(tmp_path / "data"), "--store", str(store), "--preset",
                            "paper", "--metrics", "overlap", "--device", "cpu", "--workers", "2", "--quiet"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    results = store / "results.jsonl"
    deadline = time.monotonic() + 240
    while not (results.is_file() and results.stat().st_size) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.2)
    run.send_signal(signal.SIGTERM)
    err = run.communicate(timeout=60)[1]
    assert run.returncode == 143 and [line for line in err.splitlines() if line.strip()] == ["cancelled (terminated)"]
    time.sleep(1)
    alive = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert alive == [] and not [p for p in store.rglob(".*") if p.name != ".writer.lock"]
    assert all(json.loads(line) for line in results.read_text().splitlines())  # complete records only


def test_env_finding_10_two_phantom_runs_into_one_folder_never_mix(tmp_path, capfd):
    """Both exited 0 and the folder held cases of both (3 images, numTraining 2, labels of the other run)."""
    from cerebro.fsutil import writer_lock

    (tmp_path / "ds").mkdir()
    with writer_lock(tmp_path / "ds", "(test)"):  # another run holds the folder
        code = main(["phantom", str(tmp_path / "ds"), "--size", "16", "--cases", "1", "--quiet"])
    _one_error(capfd, code, "is being written by another run", "another folder")
    assert main(["phantom", str(tmp_path / "ds"), "--size", "16", "--cases", "1", "--quiet"]) == 0
    capfd.readouterr()
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == [
        "centerlinesTr", "dataset.json", "fractionsTr", "imagesTr", "labelsTr", "manifest.csv"]


def test_env_finding_11_warnings_are_one_plain_line(dataset, tmp_path):
    """Resuming printed Python's UserWarning with the file, line number and source line of runner.py / store.py."""
    store = tmp_path / "store"
    shutil.copytree(_store(dataset), store)
    data = (store / "results.jsonl").read_bytes()
    (store / "results.jsonl").write_bytes(data[:-20])  # a record cut by a kill
    done = _cerebro("benchmark", "table", str(store))
    assert done.returncode == 0
    assert [line for line in done.stderr.splitlines() if line.strip()] == [
        f"warning: {store / 'results.jsonl'}: the last record is incomplete (interrupted run); it will be computed "
        "again"]


def test_env_finding_12_a_read_only_home_does_not_add_matplotlibs_complaints(dataset, tmp_path, small_disk):
    home = small_disk(64 << 10, "home")
    subprocess.run(["mount", "-o", "remount,ro", str(home)], check=True)
    done = _cerebro("benchmark", "plot", str(_store(dataset)), str(tmp_path / "p.png"),
                    env={"HOME": str(home), "MPLCONFIGDIR": "", "XDG_CONFIG_HOME": ""})
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
    assert (tmp_path / "p.png").is_file()


def test_env_finding_13_a_model_cache_that_is_a_file_is_named(tmp_path, capfd):
    from cerebro.segment.catalog import load_catalog
    from cerebro.segment.weights.download import fetch_model

    entry = next(e for e in load_catalog().values() if e.repo is not None and e.local is None)
    (tmp_path / "cache").write_text("not a folder")
    with pytest.raises(CerebroError, match="is a file; set CEREBRO_CACHE or --cache-dir to a writable folder"):
        fetch_model(entry, tmp_path / "cache", offline=True, allow_unpinned=True)


def test_env_held_tmpdir_missing_lang_c_and_umask_077(dataset, tmp_path):
    """What held already (kept so): no TMPDIR, the C locale with a non-ASCII name, umask 077."""
    out = tmp_path / "é vol.nii.gz"
    done = _cerebro("decompress", str(dataset / "a.cbv"), str(out),
                    env={"TMPDIR": str(tmp_path / "missing"), "LANG": "C", "LC_ALL": "C"},
                    preexec_fn=lambda: os.umask(0o077))
    assert done.returncode == 0, done.stderr
    assert out.stat().st_mode & 0o777 == 0o600
