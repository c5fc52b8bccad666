"""Compression-aware training, measured: two fine-tunes of the same starting model with the same budget, data and
seed, one with compression-aware augmentation (a share of the training patches replaced by a round trip through
a random ZFP / SZ3 / SPERR / JPEG 2000 setting at 4-64:1) and one without; then the Dice loss of each against
the compression ratio on held-out cases (phantoms of evaluation seeds and held-out tube families), every
volume compressed to each target ratio by rate control.

    PYTHONPATH=. python bench/bench_compression_aware.py --init FOLDER --iterations 600 --out /tmp/caware \\
        --figure docs/images/compression_aware.png --json bench/results/compression_aware.json

Dice loss = Dice(truth, prediction on the original) - Dice(truth, prediction on the decoded volume); the table
prints the mean over the cases per codec and ratio, for both models.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from cerebro.cbv.compress import compress_volume, decompress
from cerebro.cli._common import cli_progress
from cerebro.metrics.overlap import dice
from cerebro.phantoms import generate_phantom
from cerebro.ratecontrol import TargetUnreachable, search_setting
from cerebro.segment.families.nnunet import load_nnunet_model
from cerebro.train.default_model import DEFAULT_OPTIONS, DefaultModelData, train_default_model
from cerebro.train.evaluate import EVAL_SEED_BASE
from cerebro.train.heldout import make_case

CODECS = (("zfp", "rate"), ("sz3", "abs"), ("jpeg2000", "quality"))
RATIOS = (10.0, 30.0, 100.0)


def held_out_cases(shape: int) -> list[tuple[str, object, object]]:
    """(name, image, mask): 2 CTA + 2 TOF-MRA phantoms of evaluation seeds, one ct-tubes and one mr-tubes case."""
    cases = []
    for modality in ("cta", "mra"):
        for n in range(2):
            phantom = generate_phantom(shape, modality, EVAL_SEED_BASE + n)
            cases.append((f"phantom-{modality}-{n}", phantom.image, phantom.mask))
    for family in ("ct-tubes", "mr-tubes"):
        case = make_case(family, 0)
        cases.append((f"{family}-0", case.image, case.mask))
    return cases


def decoded_versions(image, progress) -> list[tuple[str, str, float, float, object]]:
    """(codec, mode, target, achieved ratio, decoded volume) for every codec and target ratio."""
    out = []
    for codec, mode in CODECS:
        for ratio in RATIOS:
            try:
                found = search_setting(image, codec, mode, "ratio", ratio, tolerance=0.1, workers=1)
            except TargetUnreachable as error:
                if error.closest is None:
                    continue
                found = error.closest
            compressed = compress_volume(image, codec, mode, found.settings, workers=1)
            out.append((codec, mode, ratio, float(found.ratio), decompress(compressed, workers=1)))
    return out


def main(argv: list[str] | None = None) -> int:
    """Train both models (unless --models), evaluate, print the table, write the figure and JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", help="results folder both fine-tunes start from")
    parser.add_argument("--out", required=True, help="working folder")
    parser.add_argument("--iterations", type=int, default=600, help="fine-tuning steps of each model")
    parser.add_argument("--probability", type=float, default=0.5, help="compression share of the aware model")
    parser.add_argument("--synthetic-cases", type=int, default=24, help="domain-randomised training cases")
    parser.add_argument("--phantoms", type=int, default=3, help="training phantoms per modality")
    parser.add_argument("--shape", type=int, default=96, help="held-out phantom size")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--figure", help="PNG of Dice loss against ratio")
    parser.add_argument("--json", help="write every row here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    folders = {}
    seconds = {}
    for name, probability in (("plain", 0.0), ("compression-aware", args.probability)):
        options = replace(DEFAULT_OPTIONS, iterations=args.iterations, compression_probability=probability,
                          validate_every=args.iterations, init=args.init)
        data = DefaultModelData(threads=args.threads, synthetic_cases=args.synthetic_cases,
                                phantoms_per_modality=args.phantoms, validation_cases=2)
        started = time.perf_counter()
        with cli_progress(f"train {name}") as progress:
            folders[name] = train_default_model(out / name, options, data, progress=progress)
        seconds[name] = time.perf_counter() - started
        print(f"trained {name} in {seconds[name]:.0f} s -> {folders[name]}", flush=True)
    models = {name: load_nnunet_model(folder, device="cpu") for name, folder in folders.items()}
    rows = []
    with cli_progress("evaluate") as progress:
        cases = held_out_cases(args.shape)
        for c, (case, image, mask) in enumerate(cases):
            progress.update(c / len(cases), case)
            reference = {name: dice(mask, m.predict(image, tta=False).mask) for name, m in models.items()}
            for codec, mode, target, achieved, decoded in decoded_versions(image, progress):
                for name, model in models.items():
                    score = dice(mask, model.predict(decoded, tta=False).mask)
                    rows.append({"case": case, "model": name, "codec": codec, "mode": mode, "target_ratio": target,
                                 "ratio": achieved, "dice_original": reference[name], "dice": score,
                                 "dice_loss": reference[name] - score})
    print(f"\n{'codec':9} {'target':>6} {'ratio':>6} {'loss plain':>10} {'loss aware':>10}"
          f"  (mean over {len(cases)} cases)")
    for codec, _ in CODECS:
        for target in RATIOS:
            group = [r for r in rows if r["codec"] == codec and r["target_ratio"] == target]
            if not group:
                continue
            plain = [r["dice_loss"] for r in group if r["model"] == "plain"]
            aware = [r["dice_loss"] for r in group if r["model"] == "compression-aware"]
            ratio = np.mean([r["ratio"] for r in group])
            print(f"{codec:9} {target:6.0f} {ratio:6.1f} {np.mean(plain):10.4f} {np.mean(aware):10.4f}")
    for name in models:
        base = np.mean([r["dice_original"] for r in rows if r["model"] == name and r["codec"] == CODECS[0][0]
                        and r["target_ratio"] == RATIOS[0]])
        print(f"{name}: mean Dice on the originals {base:.4f}, training {seconds[name]:.0f} s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"iterations": args.iterations, "probability": args.probability,
                                               "rows": rows, "seconds": seconds}, indent=1) + "\n")
    if args.figure:
        plot(rows, Path(args.figure))
    return 0


def plot(rows: list[dict], path: Path) -> None:
    """Mean Dice loss against the mean achieved ratio, one panel per codec, both models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(CODECS), figsize=(4 * len(CODECS), 3.4), sharey=True)
    for axis, (codec, _) in zip(axes, CODECS):
        for name, style in (("plain", "o-"), ("compression-aware", "s-")):
            points = []
            for target in RATIOS:
                group = [r for r in rows if r["codec"] == codec and r["target_ratio"] == target and r["model"] == name]
                if group:
                    points.append((np.mean([r["ratio"] for r in group]), np.mean([r["dice_loss"] for r in group])))
            if points:
                axis.plot(*zip(*points), style, label=name)
        axis.set_xscale("log")
        axis.set_xticks(RATIOS, [f"{r:g}" for r in RATIOS])
        axis.minorticks_off()
        axis.set_title(codec)
        axis.set_xlabel("compression ratio (X:1)")
        axis.axhline(0, color="gray", lw=0.5)
    axes[0].set_ylabel("Dice loss vs the original")
    axes[0].legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
