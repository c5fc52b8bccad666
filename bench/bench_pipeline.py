"""The paper's experiment end to end, ours against the seed's way, side by side on the same machine in one run.

Work: the paper preset (ZFP rate 16/8/4/2, tolerance 500/1000/1500, plus the uncompressed volumes) on held-out
phantoms (``--small`` of 96^3 and ``--large`` of 128^3 per modality, CTA and TOF-MRA), segmented by the shipped
``cerebro-default-mra`` model (the model of every style; one model folder on both sides, so the comparison is the
pipelines', not the models') without TTA, scored by Dice against the truth.

- **ours**: ``cerebro benchmark run MANIFEST --preset paper --metrics overlap --workers W`` (the local executor's
  pipeline; W = 1 runs in one process with all torch threads).
- **the seed's way** (its scripts, with stock nnU-Net): one Python process round-trips every case through
  ``zfpy`` per setting and writes each decoded volume to NIfTI in a folder per setting; stock
  ``nnUNetv2_predict_from_modelfolder`` (nnU-Net's CLI, its default worker counts, ``--disable_tta -device cpu``)
  runs once per folder with the same model folder; a separate script computes Dice.

Both sides' masks are compared (Dice between ours and the seed's for every case and setting), then a table of
wall seconds, CPU seconds (all processes), peak memory (sum of the process tree's RSS, sampled) and records per
hour is printed. Stock nnU-Net is not a dependency: install it in its own venv (see bench/bench_default_model.py).

Usage: python bench/bench_pipeline.py [--small 2] [--large 1] [--workers 2 1] [--nnunet-python PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from cerebro.benchmark.store import ResultStore
from cerebro.benchmark.sweep import PAPER_SETTINGS, parse_setting
from cerebro.datasets.manifest import Manifest
from cerebro.io import read_volume
from cerebro.metrics.overlap import dice
from cerebro.segment.catalog import get_model_entry
from cerebro.segment.weights.download import fetch_model

MODEL = "cerebro-default-mra"  # both pipelines run this one model folder

SEED_ROUND_TRIPS = """
import json, sys
from pathlib import Path
import numpy as np, SimpleITK as sitk, zfpy
cases, settings, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3])
for name, params in settings.items():
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    for case_id, path in cases.items():
        image = sitk.ReadImage(path)
        array = sitk.GetArrayFromImage(image)
        decoded = zfpy.decompress_numpy(zfpy.compress_numpy(array.astype(np.float32), **params))
        if array.dtype.kind in "iu":
            info = np.iinfo(array.dtype)
            decoded = np.clip(np.rint(decoded), info.min, info.max)
        result = sitk.GetImageFromArray(decoded.astype(array.dtype))
        result.CopyInformation(image)
        sitk.WriteImage(result, str(folder / f"{case_id}_0000.nii.gz"))
"""

SEED_DICE = """
import json, sys
from pathlib import Path
import numpy as np, SimpleITK as sitk
labels, predictions = json.loads(sys.argv[1]), Path(sys.argv[2])
scores = {}
for folder in sorted(p for p in predictions.iterdir() if p.is_dir()):
    for case_id, label in labels.items():
        truth = sitk.GetArrayFromImage(sitk.ReadImage(label)) > 0
        mask = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / f"{case_id}.nii.gz"))) > 0
        scores[f"{folder.name}/{case_id}"] = 2 * np.sum(truth & mask) / max(np.sum(truth) + np.sum(mask), 1)
print("DICE " + json.dumps(scores))
"""


def zfpy_parameters(setting_text: str) -> dict[str, float]:
    """zfpy keyword arguments of one paper setting (``zfp:rate:rate=4`` -> ``{"rate": 4}``)."""
    setting = parse_setting(setting_text)
    values = setting.settings_dict()
    return {"rate": float(values["rate"])} if setting.mode == "rate" else {"tolerance": float(values["tolerance"])}


class Measured:
    """Wall seconds, CPU seconds and peak RSS (summed) of this process's tree of children.

    CPU: the larger of the waited-for children's usage (getrusage) and the sum over every descendant seen by the
    sampler of its last user+system time: pool workers whose parent (a forkserver) is never waited for count too."""

    def __init__(self) -> None:
        self.peak = 0
        self._cpu_by_pid: dict[int, float] = {}
        self._stop = threading.Event()

    def __enter__(self) -> Measured:
        self.wall, self.cpu = time.perf_counter(), _children_cpu()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.wall, self.cpu = time.perf_counter() - self.wall, _children_cpu() - self.cpu
        self.cpu = max(self.cpu, sum(self._cpu_by_pid.values()))

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            pids = [pid for pid in _tree(os.getpid()) if pid != os.getpid()]
            self.peak = max(self.peak, sum(_rss(pid) for pid in pids))
            for pid in pids:
                self._cpu_by_pid[pid] = max(self._cpu_by_pid.get(pid, 0.0), _cpu(pid))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _cpu(pid: int) -> float:
    """User + system seconds of process ``pid`` so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _tree(root: int) -> list[int]:
    """``root`` and all its descendants now."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


def make_phantoms(folder: Path, small: int, large: int) -> Manifest:
    """Held-out phantoms (seeds the default model never saw) of 96^3 and 128^3, one manifest."""
    cases = []
    for size, count, seed in ((96, small, 900100), (128, large, 900200)):
        if count:
            target = folder / f"s{size}"
            subprocess.run(["cerebro", "phantom", str(target), "--modality", "both", "--size", str(size), "--cases",
                            str(count), "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL)
            cases += [replace(case, case_id=f"{case.case_id}_{size}")
                      for case in Manifest.read(target / "manifest.csv")]
    manifest = Manifest(cases)
    manifest.write(folder / "manifest.csv")
    return manifest


def run_ours(manifest_path: Path, store: Path, workers: int) -> Measured:
    """``cerebro benchmark run`` on the paper preset, timed."""
    shutil.rmtree(store, ignore_errors=True)
    with Measured() as measured:
        subprocess.run(["cerebro", "benchmark", "run", str(manifest_path), "--store", str(store), "--preset", "paper",
                        "--model", MODEL, "--device", "cpu", "--metrics", "overlap", "--workers", str(workers),
                        "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
    return measured


def run_seed(manifest: Manifest, work: Path, model_folder: Path, nnunet_python: str) -> tuple[Measured, dict]:
    """The seed's way: zfpy round trips to NIfTI per setting, stock nnUNetv2_predict per folder, Dice script."""
    shutil.rmtree(work, ignore_errors=True)
    inputs, outputs = work / "inputs", work / "predictions"
    settings = {"uncompressed": None, **{s.replace(":", "_").replace("=", "-"): zfpy_parameters(s)
                                         for s in PAPER_SETTINGS}}
    cases = {c.case_id: str(c.image_path) for c in manifest}
    labels = {c.case_id: str(c.label_path) for c in manifest}
    predict = Path(nnunet_python).with_name("nnUNetv2_predict_from_modelfolder")
    with Measured() as measured:
        (inputs / "uncompressed").mkdir(parents=True)
        for case_id, path in cases.items():
            shutil.copy(path, inputs / "uncompressed" / f"{case_id}_0000.nii.gz")
        lossy = {k: v for k, v in settings.items() if v is not None}
        subprocess.run([nnunet_python, "-c", SEED_ROUND_TRIPS, json.dumps(cases), json.dumps(lossy), str(inputs)],
                       check=True)
        for name in settings:
            subprocess.run([str(predict), "-i", str(inputs / name), "-o", str(outputs / name), "-m", str(model_folder),
                            "-f", "0", "--disable_tta", "-device", "cpu"], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        done = subprocess.run([nnunet_python, "-c", SEED_DICE, json.dumps(labels), str(outputs)], check=True,
                              capture_output=True, text=True)
    scores = json.loads(done.stdout.split("DICE ", 1)[1])
    return measured, {"settings": settings, "outputs": outputs, "dice": scores}


def compare_masks(store: Path, seed: dict) -> tuple[float, float]:
    """(lowest Dice between our mask and the seed's, largest |Dice(ours, truth) - Dice(seed, truth)|)."""
    names = {"uncompressed": "uncompressed",
             **{s: s.replace(":", "_").replace("=", "-") for s in PAPER_SETTINGS}}
    lowest, gap = 1.0, 0.0
    for record in ResultStore(store).records():
        folder = names[record["setting"]]
        ours = read_volume(store / record["prediction"]["path"]).array > 0
        theirs = read_volume(seed["outputs"] / folder / f"{record['case_id']}.nii.gz").array > 0
        lowest = min(lowest, dice(ours, theirs))
        gap = max(gap, abs(record["vs_truth"]["dice"] - seed["dice"][f"{folder}/{record['case_id']}"]))
    return lowest, gap


def main() -> int:
    """Generate the phantoms, run both sides, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=2, help="96^3 phantoms per modality (default 2)")
    parser.add_argument("--large", type=int, default=1, help="128^3 phantoms per modality (default 1)")
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 1], help="our worker counts to run")
    parser.add_argument("--nnunet-python", default=os.environ.get("NNUNET_PYTHON", "/tmp/venv-nnunet/bin/python"),
                        help="python of the venv that has nnunetv2 installed")
    parser.add_argument("--out", help="work folder (default: a temporary one)")
    parser.add_argument("--skip-seed", action="store_true", help="only ours (scaling)")
    args = parser.parse_args()
    if not args.skip_seed and not Path(args.nnunet_python).is_file():
        print(f"no python at {args.nnunet_python}; install nnunetv2 as bench/bench_default_model.py describes")
        return 1
    work = Path(args.out or tempfile.mkdtemp(prefix="bench-pipeline-"))
    work.mkdir(parents=True, exist_ok=True)
    manifest = make_phantoms(work / "phantoms", args.small, args.large)
    records = len(manifest.cases) * (len(PAPER_SETTINGS) + 1)
    print(f"{len(manifest.cases)} held-out phantoms, {records} records per run; {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.2f}; {sys.version.split()[0]}", flush=True)
    ours = {}
    for workers in args.workers:
        ours[workers] = run_ours(work / "phantoms" / "manifest.csv", work / f"store-w{workers}", workers)
        print(f"ours, {workers} worker(s): {ours[workers].wall:.1f} s wall", flush=True)
    rows = [(f"ours, --workers {w}", m) for w, m in ours.items()]
    if not args.skip_seed:
        model_folder = next(Path(fetch_model(get_model_entry(MODEL))).rglob("plans.json")).parent
        seed_time, seed = run_seed(manifest, work / "seed", model_folder, args.nnunet_python)
        print(f"the seed's way: {seed_time.wall:.1f} s wall", flush=True)
        rows.append(("the seed's way (zfpy + stock nnUNetv2_predict per folder + Dice script)", seed_time))
    reference = rows[-1][1]
    print(f"\n| run | wall s | CPU s | peak memory MiB | records / hour | wall vs {rows[-1][0].split(',')[0]} |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, m in rows:
        print(f"| {name} | {m.wall:.1f} | {m.cpu:.1f} | {m.peak / 2**20:.0f} | {records / m.wall * 3600:.0f} | "
              f"{reference.wall / m.wall:.2f}x |")
    if not args.skip_seed:
        for workers in ours:
            lowest, gap = compare_masks(work / f"store-w{workers}", seed)
            print(f"\nours --workers {workers} vs the seed's masks: lowest Dice(ours, seed) {lowest:.6f}; largest "
                  f"|Dice(ours, truth) - Dice(seed, truth)| {gap:.5f}")
    print(f"\nwork folder: {work} (mean Dice vs truth of ours: "
          f"{np.mean([r['vs_truth']['dice'] for r in ResultStore(work / f'store-w{args.workers[0]}').records()]):.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
