"""Dice and clDice of a model on the held-out families (generators kept out of training) and on the held-out
phantoms of our generator, through CerebroBench's own inference pipeline:

    PYTHONPATH=. python scripts/evaluate_default_model.py \
        cerebro/segment/default_model/Dataset900_CerebroPhantoms/nnUNetTrainer__nnUNetPlans__3d_fullres
    PYTHONPATH=. python scripts/evaluate_default_model.py vesselness --families ct-tubes mr-tubes --phantoms 0

MODEL is an nnU-Net results folder or a catalog model id (e.g. ``vesselness``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from cerebro.cli._common import cli_progress
from cerebro.train.evaluate import evaluate, family_cases, phantom_cases, summarise
from cerebro.train.heldout import FAMILIES


def _percent(share: float | None) -> str:
    """A share as a 6-wide percentage, or a dash for non-CT rows."""
    return f"{100 * share:6.2f}" if share is not None else f"{'-':>6}"


def main(argv: list[str] | None = None) -> int:
    """Evaluate and print one row per case, then the mean / minimum per family."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="an nnU-Net results folder or a catalog model id")
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), choices=FAMILIES, help="held-out families")
    parser.add_argument("--cases", type=int, default=3, help="cases per family")
    parser.add_argument("--phantoms", type=int, default=4, help="held-out phantoms per modality (0: none)")
    parser.add_argument("--phantom-shape", type=int, default=128, help="phantom cube size in voxels")
    parser.add_argument("--tta", action="store_true", help="mirroring test-time augmentation")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if Path(args.model).is_dir():
        from cerebro.segment.families.nnunet import load_nnunet_model

        model = load_nnunet_model(args.model, device="cpu")
    else:
        from cerebro.segment.api import load_model

        model = load_model(args.model, device="cpu")
    makers = family_cases(args.families, args.cases) + phantom_cases(args.phantom_shape, args.phantoms)
    print(f"{'family':16} {'seed':>7} {'dice':>6} {'cldice':>6} {'bone %':>6} {'seconds':>8}")
    rows = []
    with cli_progress("evaluate") as progress:
        for r in evaluate(model, makers, args.tta, progress):
            rows.append(r)
            print(f"{r['family']:16} {r['seed']:7d} {r['dice']:6.3f} {r['cldice']:6.3f} {_percent(r['bone_share'])} "
                  f"{r['seconds']:8.1f}", flush=True)
    print()
    print(f"{'family':16} {'n':>3} {'Dice':>6} {'min':>6} {'clDice':>6} {'min':>6} {'bone %':>6}")
    for s in summarise(rows):
        print(f"{s['family']:16} {s['cases']:3d} {s['dice']:6.3f} {s['dice_min']:6.3f} {s['cldice']:6.3f} "
              f"{s['cldice_min']:6.3f} {_percent(s['bone_share_max'])}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
