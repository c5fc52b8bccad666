"""Dice of a default-model results folder on held-out phantoms (new seeds, CTA and TOF-MRA), run through
CerebroBench's own nnU-Net inference pipeline:

    PYTHONPATH=. python scripts/evaluate_default_model.py \
        cerebro/segment/default_model/Dataset900_CerebroPhantoms/nnUNetTrainer__nnUNetPlans__3d_fullres
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from cerebro.cli._common import cli_progress, print_json
from cerebro.segment.nnunet import load_nnunet_model
from cerebro.train.default_model import MODALITIES, evaluate_on_phantoms


def main(argv: list[str] | None = None) -> int:
    """Evaluate and print one row per case plus the mean Dice per modality."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="the nnU-Net results folder (Trainer__Plans__3d_fullres)")
    parser.add_argument("--shape", type=int, default=128, help="phantom cube size in voxels")
    parser.add_argument("--cases", type=int, default=2, help="held-out phantoms per modality")
    parser.add_argument("--no-tta", action="store_true", help="disable mirroring test-time augmentation")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_nnunet_model(args.folder, device="cpu")
    with cli_progress("evaluate") as progress:
        rows = evaluate_on_phantoms(model, args.shape, args.cases, tta=not args.no_tta, progress=progress)
    if args.json:
        print_json(rows)
        return 0
    print(f"{'modality':8} {'seed':>7} {'shape':>5} {'tta':>5} {'dice':>6} {'seconds':>8}")
    for r in rows:
        print(f"{r['modality']:8} {r['seed']:7d} {r['shape']:5d} {r['tta']!s:>5} {r['dice']:6.3f} {r['seconds']:8.1f}")
    for modality in MODALITIES:
        values = [r["dice"] for r in rows if r["modality"] == modality]
        print(f"mean Dice {modality}: {np.mean(values):.3f} (n={len(values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
