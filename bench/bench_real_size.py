"""Real-size volumes: wall time and peak memory of a benchmark record (compress, decode, segment, score) at 128^3,
256^3 and a whole-head 512 x 512 x 300 CTA, and segmentation alone, ours against stock nnU-Net 2.8.1 on the same
file, side by side in one run.

For each size a CTA phantom (the whole head is in the field of view from 256 voxels at 0.45 mm on; spacing
0.45 x 0.45 x 0.8 mm, a typical CTA) is written to NIfTI, then

- **record**: ``cerebro benchmark run`` on that one case with one ZFP setting (so two records: the uncompressed
  volume and the setting), ``--workers W``, the routed CTA model, no TTA; wall seconds per record and the peak of
  the summed RSS of the process tree;
- **ours**: ``cerebro segment IN OUT --model cerebro-default-cta --no-tta`` (``--precision`` as given: ``auto``
  is bfloat16 on CPUs with AMX / AVX-512 BF16), process start and model loading included;
- **stock**: ``nnUNetv2_predict_from_modelfolder -m FOLDER -f 0 -device cpu --disable_tta`` on the same file and
  the same model folder (nnU-Net's own CLI, its default worker counts), process start included.

The masks of ours and stock are compared: the share of voxels that differ and their Dice. Stock nnU-Net is not a
dependency: install it in its own venv (see bench/bench_default_model.py) and pass ``--nnunet-python``.

Usage: PYTHONPATH=. python bench/bench_real_size.py [--sizes 128 256 300x512x512] [--workers 2]
       [--setting zfp:accuracy:tolerance=50] [--precision auto] [--nnunet-python /tmp/venv-nnunet/bin/python]
       [--no-stock] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_pipeline import Measured

from cerebro.datasets import Manifest
from cerebro.io import read_volume
from cerebro.phantoms import generate_phantom
from cerebro.phantoms.write import write_phantom_case
from cerebro.segment.catalog import get_model_entry
from cerebro.segment.weights.download import fetch_model

MODEL = "cerebro-default-cta"
SPACING = (0.45, 0.45, 0.8)  # (i, j, k) mm: a typical CTA


def shape_of(text: str) -> tuple[int, int, int]:
    """``128`` -> (128, 128, 128); ``300x512x512`` -> (300, 512, 512) as (k, j, i)."""
    parts = [int(p) for p in text.lower().split("x")]
    return (parts[0],) * 3 if len(parts) == 1 else (parts[0], parts[1], parts[2])


def run_record(manifest: Path, store: Path, setting: str, workers: int, precision: str) -> Measured:
    """``cerebro benchmark run`` of the case at one setting (two records), timed."""
    shutil.rmtree(store, ignore_errors=True)
    with Measured() as measured:
        subprocess.run(["cerebro", "benchmark", "run", str(manifest), "--store", str(store), "--setting", setting,
                        "--model", "cerebro-default", "--device", "cpu", "--workers", str(workers),
                        "--precision", precision, "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return measured


def run_ours(image: Path, output: Path, precision: str) -> Measured:
    """``cerebro segment`` of one file, timed."""
    with Measured() as measured:
        subprocess.run(["cerebro", "segment", str(image), str(output), "--model", MODEL, "--device", "cpu",
                        "--no-tta", "--precision", precision, "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return measured


def run_stock(image: Path, work: Path, folder: Path, nnunet_python: str) -> tuple[Measured, Path]:
    """Stock ``nnUNetv2_predict_from_modelfolder`` on one file, timed; returns the mask's path."""
    inputs, outputs = work / "stock_in", work / "stock_out"
    shutil.rmtree(inputs, ignore_errors=True)
    shutil.rmtree(outputs, ignore_errors=True)
    inputs.mkdir(parents=True)
    (inputs / "case_0000.nii.gz").symlink_to(image.resolve())
    predict = Path(nnunet_python).with_name("nnUNetv2_predict_from_modelfolder")
    with Measured() as measured:
        subprocess.run([str(predict), "-i", str(inputs), "-o", str(outputs), "-m", str(folder), "-f", "0",
                        "-device", "cpu", "--disable_tta"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return measured, outputs / "case.nii.gz"


def compare(a: Path, b: Path) -> tuple[float, float]:
    """(share of voxels that differ, Dice) of two masks."""
    x, y = read_volume(a).array > 0, read_volume(b).array > 0
    total = int(x.sum() + y.sum())
    return float((x != y).mean()), (2.0 * float((x & y).sum()) / total) if total else 1.0


def _cell(values: dict, key: str, fmt: str) -> str:
    return format(values[key], fmt) if key in values else "-"


def main(argv: list[str] | None = None) -> int:
    """Measure every size and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["128", "256", "300x512x512"], help="cube sizes or KxJxI")
    parser.add_argument("--workers", type=int, default=2, help="benchmark workers")
    parser.add_argument("--setting", default="zfp:accuracy:tolerance=50", help="the record's codec setting")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32"))
    parser.add_argument("--nnunet-python", default="/tmp/venv-nnunet/bin/python", help="stock nnU-Net's python")
    parser.add_argument("--no-stock", action="store_true", help="skip stock nnU-Net")
    parser.add_argument("--no-record", action="store_true", help="skip the benchmark record")
    parser.add_argument("--seed", type=int, default=931000, help="phantom seed")
    parser.add_argument("--out", help="keep the files here (default: a temporary folder)")
    args = parser.parse_args(argv)
    work = Path(args.out or tempfile.mkdtemp(prefix="cerebro-real-size-"))
    folder = fetch_model(get_model_entry(MODEL), offline=True)
    rows = []
    for text in args.sizes:
        shape = shape_of(text)
        case_dir = work / "x".join(map(str, shape))
        phantom = generate_phantom(shape, "cta", args.seed, spacing=SPACING)
        case = write_phantom_case(phantom, case_dir, "cta_case")
        manifest = case_dir / "manifest.csv"
        Manifest([case]).write(manifest)
        voxels = int(np.prod(shape))
        del phantom
        row: dict = {"shape": "x".join(map(str, shape[::-1])), "mvoxels": voxels / 1e6}
        if not args.no_record:
            record = run_record(manifest, case_dir / "store", args.setting, args.workers, args.precision)
            row["record_s"], row["record_peak"] = record.wall / 2, record.peak
        ours = run_ours(Path(case.image_path), case_dir / "ours.nii.gz", args.precision)
        row["ours_s"], row["ours_peak"] = ours.wall, ours.peak
        if not args.no_stock:
            stock, stock_mask = run_stock(Path(case.image_path), case_dir, folder, args.nnunet_python)
            row["stock_s"], row["stock_peak"] = stock.wall, stock.peak
            row["differ"], row["dice"] = compare(case_dir / "ours.nii.gz", stock_mask)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\nmachine: {platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} "
          f"cores; precision {args.precision}; workers {args.workers}; setting {args.setting}")
    print("| volume (i x j x k) | M voxels | record s | record peak GiB | segment ours s | ours peak GiB | "
          "stock s | stock peak GiB | stock / ours | voxels differing | Dice ours vs stock |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        gib = {k: r[k] / 2**30 for k in ("record_peak", "ours_peak", "stock_peak") if k in r}
        cells = [r["shape"], f"{r['mvoxels']:.1f}", _cell(r, "record_s", ".0f"), _cell(gib, "record_peak", ".2f"),
                 f"{r['ours_s']:.0f}", f"{gib['ours_peak']:.2f}", _cell(r, "stock_s", ".0f"),
                 _cell(gib, "stock_peak", ".2f"), f"{r['stock_s'] / r['ours_s']:.2f}x" if "stock_s" in r else "-",
                 f"{100 * r['differ']:.4f} %" if "differ" in r else "-", _cell(r, "dice", ".5f")]
        print("| " + " | ".join(cells) + " |")
    if not args.out:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
