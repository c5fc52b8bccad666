"""Vessel-aware compression (codec ``roi``) against ZFP at equal Dice loss, side by side in one run.

Work: held-out phantoms never used before (``--cases`` CTA + ``--cases`` TOF-MRA of ``--size``^3, seeds from
``--seed``), the shipped ``cerebro-default-mra`` model (the model of every style, one model for both
modalities) without TTA. For every codec mode below, ``cerebro benchmark search`` finds the largest compression
ratio whose **mean** Dice loss against the truth stays within each bound
(0.001, then 0.01 in the same store, so the second search reuses the first one's trials); the searches of the
codecs run two at a time (``--jobs``), each timed on its own:

- ``zfp:rate`` and ``zfp:accuracy`` (ZFP's answer is the better of its two lossy size knobs);
- ``sperr:pwe`` (the best plain codec of the earlier runs);
- ``roi:vesselness`` with its defaults (SPERR base; region bound 10, margin 0, threshold 0.02), and with the
  region's bound fixed at 15 instead.

Then the region's failure mode, measured: at the recommended roi setting, the region is built with higher
vesselness thresholds (fainter vessels fall outside it); for each, the share of true vessel voxels outside the
region, the model's sensitivity on those voxels and the mean Dice loss.

Usage: python bench/bench_roi.py [--out DIR] [--size 96] [--cases 2] [--seed 924000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

SEARCHES = [("zfp", "rate"), ("zfp", "accuracy"), ("sperr", "pwe"), ("roi", "vesselness"),
            ("roi", "vesselness", "roi_tolerance=15")]
BOUNDS = (0.001, 0.01)
MODEL = "cerebro-default-mra"  # the model every search and check runs (the default before modality routing)
FAILURE_THRESHOLDS = (0.02, 0.1, 0.3)


def cerebro(*args: str) -> list[str]:
    """The ``cerebro`` command of this interpreter."""
    return [sys.executable, "-m", "cerebro.cli.main", *args]


def search(manifest: Path, store: Path, codec: str, mode: str, *fixed: str) -> list[dict]:
    """Both bounds' searches for one codec mode (``fixed``: NAME=VALUE of other settings), one after the other in
    one store; each with its wall time."""
    results = []
    for bound in BOUNDS:
        start = time.perf_counter()
        done = subprocess.run(cerebro("benchmark", "search", str(manifest), "--store", str(store), "--codec", codec,
                                      "--mode", mode, "--max-dice-loss", str(bound), "--metrics", "overlap",
                                      "--model", MODEL, "--device", "cpu", "--json", "--quiet",
                                      *[arg for item in fixed for arg in ("--setting", item)]),
                              capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if done.returncode:
            raise SystemExit(f"search {codec}:{mode} failed: {done.stderr.strip()}")
        result = json.loads(done.stdout)
        result["wall_s"] = time.perf_counter() - start
        results.append(result)
    return results


def failure_mode(manifest: Path, setting: dict) -> list[dict]:
    """The region at higher vesselness thresholds: true vessel voxels left outside it and what the model does."""
    from cerebro.cbv.compress import compress_volume, decompress
    from cerebro.cbv.container import container_bytes
    from cerebro.codecs import get_codec
    from cerebro.datasets.manifest import Manifest
    from cerebro.io import read_volume
    from cerebro.metrics.overlap import dice
    from cerebro.segment.api import load_model

    model = load_model(MODEL, device="cpu")
    rows = []
    cases = Manifest.read(manifest).cases
    originals = {}
    for threshold in FAILURE_THRESHOLDS:
        losses, outside, sensitivity, ratios, shares = [], [], [], [], []
        for case in cases:
            volume = read_volume(case.image_path)
            truth = read_volume(case.label_path).array > 0
            if case.case_id not in originals:
                originals[case.case_id] = model.predict(volume, tta=False).mask.array > 0
            compressed = compress_volume(volume, "roi", "vesselness", {**setting, "threshold": threshold}, workers=1)
            region = get_codec("roi").region(compressed.encoded, volume.shape)
            predicted = model.predict(decompress(compressed), tta=False).mask.array > 0
            missed = truth & ~region
            losses.append(dice(truth, originals[case.case_id]) - dice(truth, predicted))
            outside.append(missed.sum() / truth.sum())
            sensitivity.append((predicted & missed).sum() / missed.sum() if missed.any() else float("nan"))
            ratios.append(volume.nbytes / len(container_bytes(compressed)))
            shares.append(region.mean())
        rows.append({"threshold": threshold, "region_share": float(np.mean(shares)), "ratio": float(np.mean(ratios)),
                     "vessel_outside": float(np.mean(outside)), "sensitivity_outside": float(np.nanmean(sensitivity)),
                     "mean_loss": float(np.mean(losses)), "worst_loss": float(np.max(losses))})
    return rows


def main() -> None:
    """Phantoms, the searches two at a time, the failure-mode table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_roi"))
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--seed", type=int, default=924000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    data = args.out / "phantoms"
    if not (data / "manifest.csv").exists():
        subprocess.run(cerebro("phantom", str(data), "--modality", "both", "--size", str(args.size), "--cases",
                               str(args.cases), "--seed", str(args.seed), "--quiet"), check=True,
                       stdout=subprocess.DEVNULL)
    manifest = data / "manifest.csv"
    start = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = dict(zip(SEARCHES, pool.map(lambda s: search(manifest, args.out / ("store_" + "_".join(s)), *s),
                                           SEARCHES)))
    total = time.perf_counter() - start
    (args.out / "searches.json").write_text(json.dumps({":".join(s): r for s, r in runs.items()}, indent=1))
    print(f"{2 * args.cases} held-out phantoms ({args.cases} CTA + {args.cases} TOF-MRA, {args.size}^3, seeds from "
          f"{args.seed}), {MODEL} without TTA; {len(SEARCHES)} searches, {args.jobs} at a time: "
          f"{total / 60:.1f} min wall\n")
    print("| mean Dice loss <= | codec:mode | recommended | CR | mean loss | worst loss | CR / ZFP's | trials | "
          "new records | wall |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for n, bound in enumerate(BOUNDS):
        zfp = max((runs[s][n]["recommended"] or {}).get("ratio", 0.0) for s in SEARCHES if s[0] == "zfp")
        for codec_mode in SEARCHES:
            result = runs[codec_mode][n]
            best = result["recommended"]
            cells = ["none within", "-", "-", "-", "-"]
            if best:
                cells = [best["setting"], f"{best['ratio']:.2f}", f"{best['mean_loss']:+.5f}",
                         f"{best['worst_loss']:+.5f}", f"{best['ratio'] / zfp:.2f}x" if zfp else "-"]
            print(f"| {bound:g} | {':'.join(codec_mode)} | " + " | ".join(cells) +
                  f" | {len(result['trials'])} | {result['records_added']} | {result['wall_s'] / 60:.1f} min |")
    best_roi = runs[("roi", "vesselness")][0]["recommended"]
    if best_roi:
        setting = dict(item.split("=") for item in best_roi["setting"].split(":", 2)[2].split(","))
        settings = {k: float(v) if k != "base" else v for k, v in setting.items()}
        print(f"\nThe region's failure mode at {best_roi['setting']} (means over the cases):\n")
        print("| threshold | region share | CR | true vessel voxels outside the region | sensitivity there | "
              "mean Dice loss | worst |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for row in failure_mode(manifest, settings):
            print(f"| {row['threshold']:g} | {row['region_share']:.1%} | {row['ratio']:.1f} | "
                  f"{row['vessel_outside']:.2%} | {row['sensitivity_outside']:.3f} | {row['mean_loss']:+.5f} | "
                  f"{row['worst_loss']:+.5f} |")


if __name__ == "__main__":
    main()
