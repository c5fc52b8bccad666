"""The same sweep gives the same records wherever its stages run: in this process, on 2 local worker processes and
as tasks on a local Ray runtime with 2 CPUs; the store's order does not depend on which call finishes first."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import pytest

from cerebro.benchmark.executors import InlineExecutor, LocalExecutor, make_executor
from cerebro.benchmark.runner import run_benchmark
from cerebro.benchmark.store import ResultStore
from cerebro.benchmark.sweep import parse_setting
from cerebro.cli.main import main
from cerebro.datasets import Manifest
from cerebro.errors import CerebroError
from cerebro.phantoms import generate_phantom
from cerebro.phantoms.write import write_phantom_case

pytest.importorskip("torch")  # the default model segments
SETTINGS = ["zfp:rate:rate=2", "zfp:accuracy:tolerance=200"]
TIMINGS = {"encode_seconds", "decode_seconds", "encode_mb_s", "decode_mb_s", "write_seconds", "read_seconds"}
# The .cbv header holds the encode time as a JSON number, whose text is a few characters longer or shorter from
# run to run: the container's size (and its ratio) differs by that much.
HEADER_TEXT = {"compressed_nbytes", "compression_ratio", "bits_per_voxel"}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Manifest:
    root = tmp_path_factory.mktemp("phantoms")
    cases = [write_phantom_case(generate_phantom(32, modality, seed=seed), root / modality, f"{modality}_{seed}")
             for seed, modality in ((3, "cta"), (4, "mra"))]
    return Manifest(cases)


@pytest.fixture(scope="module")
def inline_records(manifest, tmp_path_factory):
    store = ResultStore(tmp_path_factory.mktemp("inline") / "store")
    assert _sweep(manifest, store, InlineExecutor()) == 6
    return store.records()


def _sweep(manifest, store, executor):
    return run_benchmark(manifest, [parse_setting(s) for s in SETTINGS], ["cerebro-default"], store, device="cpu",
                         executor=executor)


def _same(ours, theirs, path=""):
    """Equal records up to timings and float rounding (torch thread counts differ between executors)."""
    if isinstance(ours, dict):
        assert set(ours) == set(theirs), path
        for key in ours:
            if key in HEADER_TEXT:
                assert math.isclose(ours[key], theirs[key], rel_tol=0.002), f"{path}.{key}"
            elif key not in TIMINGS and key != "predict_seconds":
                _same(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(ours, float) and isinstance(theirs, float):
        assert math.isclose(ours, theirs, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(ours) and math.isnan(theirs)), path
    elif isinstance(ours, list):
        assert len(ours) == len(theirs), path
        for n, (a, b) in enumerate(zip(ours, theirs)):
            _same(a, b, f"{path}[{n}]")
    else:
        assert ours == theirs, path


def test_two_local_workers_give_the_records_of_one_in_the_same_order(manifest, inline_records, tmp_path):
    store = ResultStore(tmp_path / "store")
    executor = LocalExecutor(workers=2)
    assert executor.segment_slots == 2
    assert _sweep(manifest, store, executor) == 6
    records = store.records()
    assert [r["key"] for r in records] == [r["key"] for r in inline_records]
    for ours, theirs in zip(records, inline_records):
        _same(ours, theirs)
    assert _sweep(manifest, store, LocalExecutor(workers=2)) == 0  # resumed: nothing is redone


def test_ray_local_runtime_gives_the_same_records(manifest, inline_records, tmp_path):
    ray = pytest.importorskip("ray")
    try:
        executor = make_executor("ray", workers=2)
        assert executor.segment_slots == 2
        store = ResultStore(tmp_path / "store")
        assert _sweep(manifest, store, executor) == 6
        records = store.records()
        assert [r["key"] for r in records] == [r["key"] for r in inline_records]
        for ours, theirs in zip(records, inline_records):
            _same(ours, theirs)
        missing = manifest.cases[0].image_path.with_name("gone.nii.gz")  # a user error inside a task: one line
        broken = Manifest([type(manifest.cases[0])(**{**vars(manifest.cases[0]), "image_path": missing})])
        with pytest.raises(CerebroError, match="gone.nii.gz"):
            _sweep(broken, ResultStore(tmp_path / "broken"), executor)
    finally:
        ray.shutdown()


def test_executor_choices_are_checked(monkeypatch, capsys, manifest, tmp_path):
    import builtins

    assert isinstance(make_executor("local", workers=1), InlineExecutor)
    with pytest.raises(CerebroError, match="unknown executor 'dask'"):
        make_executor("dask")
    with pytest.raises(CerebroError, match="--address is for --executor ray"):
        make_executor("local", address="ray://head:10001")
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("no ray here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    manifest.write(tmp_path / "manifest.csv")
    assert main(["benchmark", "run", str(tmp_path / "manifest.csv"), "--store", str(tmp_path / "s"),
                 "--executor", "ray", "--device", "cpu", "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --executor ray needs Ray; install it with: "
                                               "pip install 'cerebrobench[ray]'")


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, todo = [], [root]
    while todo:
        children = [pid for pid, parent in parents.items() if parent == todo[-1]]
        todo.pop()
        found += children
        todo += children
    return found


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(pid)
        except OSError:
            pass
    return alive


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_run_leaves_no_workers(manifest, tmp_path):
    manifest.write(tmp_path / "manifest.csv")
    run = subprocess.Popen([sys.executable, "-m", "cerebro.cli.main", "benchmark", "run",
                            str(tmp_path / "manifest.csv"), "--store", str(tmp_path / "store"), "--device", "cpu",
                            "--workers", "2", "--quiet"],
                           start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(workers) < 5 and run.poll() is None:  # forkserver + 2 + 2 workers
        workers = _descendants(run.pid)
        time.sleep(0.1)
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 10
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(workers) >= 5 and not _alive(workers)


def test_workers_1_keeps_every_codec_call_in_this_process(manifest, tmp_path, monkeypatch):
    """``--workers 1`` means in this process, for the codecs too (they used to spread over every core)."""
    from cerebro.benchmark import stages

    seen = []
    original = stages.round_trip

    def recording(*args, **kwargs):
        seen.append(kwargs.get("workers"))
        return original(*args, **kwargs)

    monkeypatch.setattr(stages, "round_trip", recording)
    executor = make_executor("local", 1, device="cpu")
    assert isinstance(executor, InlineExecutor) and InlineExecutor().codec_workers is None
    _sweep(manifest, ResultStore(tmp_path / "store"), executor)
    assert seen == [1] * len(SETTINGS) * len(manifest)
