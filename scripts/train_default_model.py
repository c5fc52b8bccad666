"""Train CerebroBench's default vessel model (small plain nnU-Net on CTA + TOF-MRA phantoms) and write its
nnU-Net v2 results folder. The shipped model was made in four steps (see docs/default-model.md):

    PYTHONPATH=. python scripts/train_default_model.py --out /tmp/stage1 --iterations 100 --no-calibration
    PYTHONPATH=. python scripts/train_default_model.py --out /tmp/stage2 --iterations 80 --learning-rate 1e-3 \
        --foreground-fraction 0.33 --no-calibration --init /tmp/stage1/Dataset900_CerebroPhantoms/<results folder>
    PYTHONPATH=. python scripts/train_default_model.py --out /tmp/stage3 --iterations 0 \
        --init /tmp/stage2/Dataset900_CerebroPhantoms/<results folder>
    PYTHONPATH=. python scripts/train_default_model.py --out cerebro/segment/default_model --iterations 130 \
        --learning-rate 1e-3 --foreground-fraction 0.33 --bone-fraction 0.3 --cases 4 --cta-case-shape 144 \
        --init /tmp/stage3/Dataset900_CerebroPhantoms/<results folder>

Then update the sha256 of the ``cerebro-default`` catalog entry (printed at the end).
"""

from __future__ import annotations

import argparse
import sys
import time

from cerebro.cli._common import cli_progress
from cerebro.train.default_model import TrainingConfig, train_default_model


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, train, print where the folder is and its digest."""
    defaults = TrainingConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder receiving <Dataset>/<Trainer__Plans__3d_fullres>/")
    parser.add_argument("--iterations", type=int, default=defaults.iterations, help="training steps")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of phantoms, sampling and init")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="torch CPU threads")
    parser.add_argument("--cases", type=int, default=defaults.cases_per_modality, help="phantoms per modality")
    parser.add_argument("--case-shape", type=int, default=defaults.case_shape, help="phantom cube size in voxels")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate, help="AdamW start rate")
    parser.add_argument("--foreground-fraction", type=float, default=defaults.foreground_patch_fraction,
                        help="share of patches centred near vessels")
    parser.add_argument("--cta-case-shape", type=int, default=defaults.cta_case_shape,
                        help="cube size of the CTA phantoms (default: --case-shape); larger holds more skull")
    parser.add_argument("--bone-fraction", type=float, default=defaults.bone_patch_fraction,
                        help="share of patches centred on CTA bone (> 700 HU) as hard negatives")
    parser.add_argument("--init", metavar="FOLDER", help="start from the weights of this results folder (fine-tune)")
    parser.add_argument("--no-calibration", action="store_true",
                        help="skip the decision-threshold calibration of the output bias at the end")
    args = parser.parse_args(argv)
    config = TrainingConfig(iterations=args.iterations, seed=args.seed, threads=args.threads,
                            cases_per_modality=args.cases, case_shape=args.case_shape, learning_rate=args.learning_rate,
                            foreground_patch_fraction=args.foreground_fraction, init_from=args.init,
                            cta_case_shape=args.cta_case_shape, bone_patch_fraction=args.bone_fraction,
                            calibration_patches=0 if args.no_calibration else defaults.calibration_patches)
    started = time.perf_counter()
    with cli_progress("train default model") as progress:
        folder = train_default_model(args.out, config, progress)
    from cerebro.segment.weights.digest import folder_sha256

    print(f"wrote {folder} in {time.perf_counter() - started:.0f} s")
    print(f"sha256 (folder digest for the catalog): {folder_sha256(folder)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
