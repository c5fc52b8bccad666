"""The shipped default models through our pipeline vs stock nnU-Net v2 on the same files: time ratio and whether
the masks are the same (each phantom on its modality's model: the CT model's CTNormalization is stock nnU-Net's).

Stock nnU-Net is NOT a CerebroBench dependency; install it in a separate virtual environment that reuses this
environment's torch (so pip does not fetch another one), e.g.::

    python -m venv /tmp/venv-nnunet
    echo "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
        > /tmp/venv-nnunet/lib/python3.11/site-packages/cerebro_base.pth
    /tmp/venv-nnunet/bin/pip install nnunetv2==2.8.1

Usage: python bench/bench_default_model.py [--cases 3] [--shape 128] [--modality both|cta|mra] [--model ID]
       [--threads 2] [--tta] [--precision float32|auto] [--nnunet-python /tmp/venv-nnunet/bin/python]

Both sides read the same NIfTI files and write NIfTI masks; model loading is timed apart. Wall time is noisy on a
shared machine, so CPU seconds (all threads, and stock's worker processes) are printed too. Stock runs
``nnUNetPredictor.predict_from_files`` (one preprocessing and one export worker) on the CPU; ours runs
``read_volume -> NnUNetModel.predict -> write_volume`` per file, in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cerebro.io import read_volume, write_volume
from cerebro.metrics.overlap import dice
from cerebro.phantoms import generate_phantom
from cerebro.segment.catalog import DEFAULT_MODEL_ID, get_model_entry
from cerebro.segment.families.nnunet import load_nnunet_model
from cerebro.segment.routing import route_model
from cerebro.segment.weights.download import fetch_model

STOCK_SCRIPT = """
import json, resource, sys, time, torch
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
folder, inputs, outputs, threads, tta = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), \
    int(sys.argv[4]), sys.argv[5] == "1"
torch.set_num_threads(threads)
t0 = time.perf_counter()
predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=tta,
                            perform_everything_on_device=False, device=torch.device("cpu"), allow_tqdm=False)
predictor.initialize_from_trained_model_folder(folder, use_folds=(0,), checkpoint_name="checkpoint_final.pth")
def cpu():
    return sum(resource.getrusage(w).ru_utime + resource.getrusage(w).ru_stime
               for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
c1 = cpu()
t1 = time.perf_counter()
predictor.predict_from_files([[f] for f in inputs], outputs, save_probabilities=False, overwrite=True,
                             num_processes_preprocessing=1, num_processes_segmentation_export=1)
t2 = time.perf_counter()
print("STOCK_TIMES " + json.dumps({"load": t1 - t0, "predict": t2 - t1, "cpu": cpu() - c1}))
"""


def main() -> int:
    """Generate phantoms, run both pipelines per model, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=3, help="phantoms (alternating MRA / CTA)")
    parser.add_argument("--shape", type=int, default=128, help="phantom cube size in voxels")
    parser.add_argument("--modality", choices=("both", "cta", "mra"), default="both", help="phantoms of which kind")
    parser.add_argument("--model", default=DEFAULT_MODEL_ID,
                        help="catalog id (default: cerebro-default, i.e. each phantom on its modality's model)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads on both sides")
    parser.add_argument("--tta", action="store_true", help="mirroring test-time augmentation on both sides")
    parser.add_argument("--precision", choices=("auto", "float32"), default="float32",
                        help="ours: float32 (default, the pipelines compared exactly) or auto (bfloat16 where the CPU "
                        "has it); stock runs float32 on a CPU")
    parser.add_argument("--nnunet-python", default=os.environ.get("NNUNET_PYTHON", "/tmp/venv-nnunet/bin/python"),
                        help="python of the environment that has nnunetv2 installed")
    args = parser.parse_args()
    if not Path(args.nnunet_python).is_file():
        print(f"no python at {args.nnunet_python}; install nnunetv2 as described at the top of this script")
        return 1
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-default-"))
    groups: dict[str, list[tuple[Path, object]]] = {}
    modalities = ("mra", "cta") if args.modality == "both" else (args.modality,)
    for n in range(args.cases):
        modality = modalities[n % len(modalities)]
        phantom = generate_phantom(args.shape, modality, 950_000 + n)
        path = work / "in" / f"{modality}_{n:03d}_0000.nii.gz"
        write_volume(phantom.image, path)
        groups.setdefault(route_model(args.model, modality).model_id, []).append((path, phantom.mask))
    print(f"{args.cases} phantoms {args.shape}^3, {args.threads} torch threads, tta={args.tta}, "
          f"ours in {args.precision}")
    for model_id, cases in groups.items():
        if _compare(model_id, cases, work / model_id, args) != 0:
            return 1
    return 0


def _compare(model_id: str, cases: list, work: Path, args: argparse.Namespace) -> int:
    """Ours and stock nnU-Net on ``cases`` (input path, truth) with one model folder; prints the rows."""
    folder = fetch_model(get_model_entry(model_id))
    inputs, truths = [path for path, _ in cases], [truth for _, truth in cases]
    started = time.perf_counter()
    model = load_nnunet_model(folder, device="cpu")
    ours_load = time.perf_counter() - started
    ours_seconds, ours_out = [], []
    cpu_start = _cpu_seconds()
    for path in inputs:
        started = time.perf_counter()
        result = model.predict(read_volume(path), tta=args.tta, precision=args.precision)
        out = work / "ours" / path.name.replace("_0000", "")
        write_volume(result.mask, out)
        ours_seconds.append(time.perf_counter() - started)
        ours_out.append(out)
    ours_cpu = _cpu_seconds() - cpu_start

    stock_out = [work / "stock" / path.name.replace("_0000.nii.gz", "") for path in inputs]
    run = subprocess.run(
        [args.nnunet_python, "-c", STOCK_SCRIPT, str(folder), json.dumps([str(p) for p in inputs]),
         json.dumps([str(p) for p in stock_out]), str(args.threads), "1" if args.tta else "0"],
        capture_output=True, text=True, check=False)
    lines = [line for line in run.stdout.splitlines() if line.startswith("STOCK_TIMES ")]
    if run.returncode != 0 or not lines:
        print(run.stdout[-2000:], run.stderr[-4000:])
        print("stock nnU-Net failed (see above)")
        return 1
    stock = json.loads(lines[-1].split(" ", 1)[1])

    print(f"\nmodel {model_id} ({folder.parent.name})")
    print(f"{'case':12} {'identical %':>11} {'dice(ours,stock)':>16} {'dice(ours,truth)':>16} "
          f"{'dice(stock,truth)':>17} {'ours s':>7}")
    for path, ours_path, stock_path, truth, seconds in zip(inputs, ours_out, stock_out, truths, ours_seconds):
        ours_mask = read_volume(ours_path).array
        stock_mask = read_volume(Path(str(stock_path) + ".nii.gz")).array
        same = 100.0 * float(np.mean(ours_mask == stock_mask))
        print(f"{path.name[:-12]:12} {same:11.4f} {dice(ours_mask, stock_mask):16.5f} {dice(truth, ours_mask):16.3f} "
              f"{dice(truth, stock_mask):17.3f} {seconds:7.1f}")
    ours_total = sum(ours_seconds)
    print(f"model load: ours {ours_load:.2f} s, stock {stock['load']:.2f} s")
    print(f"predict all files (read, predict, write): ours {ours_total:.1f} s, stock {stock['predict']:.1f} s, "
          f"ours/stock = {ours_total / stock['predict']:.2f}")
    print(f"CPU seconds (all threads and worker processes): ours {ours_cpu:.1f}, stock {stock['cpu']:.1f}, "
          f"ours/stock = {ours_cpu / stock['cpu']:.2f}")
    return 0


def _cpu_seconds() -> float:
    """User + system CPU time of this process (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
