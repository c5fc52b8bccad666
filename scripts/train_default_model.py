"""Train CerebroBench's default vessel model (small plain nnU-Net) on domain-randomised synthetic angiograms plus
CTA / TOF-MRA phantoms, write its nnU-Net v2 results folder, and optionally copy the files that ship into the
package. The shipped model was made with (see docs/default-model.md):

    PYTHONPATH=. python scripts/train_default_model.py --out /work/runs/default-v2 --iterations 10000 \
        --synthetic-cases 96 --phantoms 6 --init cerebro/segment/default_model/Dataset900_CerebroPhantoms/\
nnUNetTrainer__nnUNetPlans__3d_fullres --export cerebro/segment/default_model

A killed run continues from its last checkpoint with the same command plus ``--resume``. Then update the
sha256 of the ``cerebro-default`` catalog entry (printed at the end).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from cerebro.cli._common import cli_progress
from cerebro.train.default_model import (
    CT_DATASET_NAME,
    DEFAULT_OPTIONS,
    MODEL_MODALITIES,
    DefaultModelData,
    export,
    train_default_model,
)


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, train, print where the folder is and its digest."""
    o, d = DEFAULT_OPTIONS, DefaultModelData()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder receiving <Dataset>/<Trainer__Plans__3d_fullres>/")
    parser.add_argument("--modality", choices=MODEL_MODALITIES, default=d.modality,
                        help="any: the z-score model of every style (TOF-MRA); cta: the CT model (CTNormalization)")
    parser.add_argument("--ct-share", type=float, default=d.ct_share,
                        help="CT model: share of synthetic cases from the whole-head CTA generator")
    parser.add_argument("--iterations", type=int, default=o.iterations, help="training steps")
    parser.add_argument("--seed", type=int, default=o.seed, help="seed of the cases, sampling and init")
    parser.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads")
    parser.add_argument("--synthetic-cases", type=int, default=d.synthetic_cases, help="domain-randomised cases")
    parser.add_argument("--phantoms", type=int, default=d.phantoms_per_modality, help="phantoms per modality")
    parser.add_argument("--phantom-share", type=float, default=d.phantom_share, help="share of patches from phantoms")
    parser.add_argument("--learning-rate", type=float, default=o.learning_rate, help="AdamW start rate")
    parser.add_argument("--loss", default=o.loss, help="training loss (see cerebro train --help)")
    parser.add_argument("--compression-probability", type=float, default=o.compression_probability,
                        help="share of patches replaced by a codec round trip")
    parser.add_argument("--wider-view", type=float, default=d.wider_view,
                        help="share of synthetic draws normalised as if seen in a larger field of view")
    parser.add_argument("--validate-every", type=int, default=o.validate_every, help="iterations between validations")
    parser.add_argument("--init", metavar="FOLDER", help="start from the weights of this results folder (fine-tune)")
    parser.add_argument("--resume", action="store_true", help="continue from fold_0/checkpoint_latest.pth")
    parser.add_argument("--export", metavar="DIR", help="copy plans, dataset.json and checkpoint_final.pth here")
    args = parser.parse_args(argv)
    init = args.init
    if init and args.export and Path(init).resolve().is_relative_to(Path(args.export).resolve()):
        # the export replaces the folder the run starts from: start from a copy
        copy = Path(tempfile.mkdtemp(prefix="init-", dir=args.out if Path(args.out).is_dir() else None))
        shutil.copytree(init, copy / Path(init).name)
        init = str(copy / Path(init).name)
    options = replace(DEFAULT_OPTIONS, iterations=args.iterations, seed=args.seed, learning_rate=args.learning_rate,
                      loss=args.loss, compression_probability=args.compression_probability,
                      validate_every=args.validate_every, init=init,
                      dataset_name=CT_DATASET_NAME if args.modality == "cta" else DEFAULT_OPTIONS.dataset_name)
    data = DefaultModelData(threads=args.threads, synthetic_cases=args.synthetic_cases,
                            phantoms_per_modality=args.phantoms, phantom_share=args.phantom_share,
                            wider_view=args.wider_view, modality=args.modality, ct_share=args.ct_share)
    started = time.perf_counter()
    with cli_progress("train default model") as progress:
        folder = train_default_model(args.out, options, data, resume=args.resume, progress=progress)
    from cerebro.segment.weights.digest import folder_sha256

    print(f"wrote {folder} in {time.perf_counter() - started:.0f} s")
    if args.export:
        folder = export(folder, Path(args.export))
        print(f"exported to {folder}")
    print(f"sha256 (folder digest for the catalog): {folder_sha256(folder)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
