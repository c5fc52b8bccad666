"""``cerebro train DATASET --out DIR``: train a vessel model with one of the seeds' recipes and write an nnU-Net v2
results folder that CerebroSegment, ``cerebro segment --weights`` and stock ``nnUNetv2_predict`` load."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

from cerebro.cli._common import add_progress_format, command_progress, print_json_line
from cerebro.errors import CerebroError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` sub-command."""
    from cerebro.train.options import LOSSES, SAMPLING_MODES, TrainOptions

    d = TrainOptions()
    parser = subparsers.add_parser(
        "train", help="train a vessel model (nnU-Net / U-Mamba) on a labelled dataset",
        description="Train a network on a labelled dataset (a manifest or a dataset folder) and write an nnU-Net v2 "
        "results folder OUT/<dataset name>/<Trainer>__nnUNetPlans__3d_fullres (plans.json, dataset.json, "
        "fold_0/checkpoint_final.pth, checkpoint_best.pth, checkpoint_latest.pth, training_log.csv, progress.png). "
        "A killed run continues with the same command plus --resume.")
    parser.add_argument("dataset", help="a manifest (.csv/.json from `cerebro dataset manifest`) or a dataset folder")
    parser.add_argument("--layout", choices=("nnunet", "topcow", "rsna", "bids-pvs"), default="nnunet",
                        help="layout of a dataset folder (default nnunet)")
    parser.add_argument("--out", required=True, help="folder that receives the results folder")
    parser.add_argument("--family", choices=("nnunet", "umamba"), default=d.family,
                        help="network: plain nnU-Net (PlainConvUNet) or U-Mamba Bot (default nnunet)")
    parser.add_argument("--loss", choices=LOSSES, default=d.loss,
                        help="ce+dice (default), bce+dice (PVS/UNet++), cldice or skeleton-recall (topology), "
                        "mip (SPOCKMIP's projection loss)")
    parser.add_argument("--sampling", choices=SAMPLING_MODES, default=d.sampling,
                        help="patch centres: uniform, foreground-fraction (default) or centreline (k-means of "
                        "centreline points)")
    parser.add_argument("--foreground-fraction", type=float, default=d.foreground_fraction,
                        help="share of patches centred near vessels with foreground-fraction sampling (0.33)")
    parser.add_argument("--centreline-channel", action="store_true",
                        help="second input channel: the centreline prior (skeleton of the vesselness mask)")
    parser.add_argument("--compression-probability", type=float, default=d.compression_probability,
                        help="share of patches replaced by a round trip through a random codec (ZFP, SZ3, SPERR, "
                        "JPEG 2000) at a random ratio: compression-aware training (default 0)")
    parser.add_argument("--compression-ratios", type=float, nargs=2, default=list(d.compression_ratios),
                        metavar=("LOW", "HIGH"), help="ratio range of those round trips (default 4 64)")
    parser.add_argument("--init", metavar="FOLDER", help="fine-tune: start from this results folder's weights")
    parser.add_argument("--iterations", type=int, default=d.iterations, help=f"training steps ({d.iterations})")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help=f"patches per step ({d.batch_size})")
    parser.add_argument("--patch-size", type=int, nargs=3, default=list(d.patch_size), metavar="N",
                        help="training patch (default 48 48 48)")
    parser.add_argument("--inference-patch-size", type=int, nargs=3, default=list(d.inference_patch_size),
                        metavar="N", help="sliding-window tile written to plans.json (default 64 64 64)")
    parser.add_argument("--features", type=int, nargs="+", default=list(d.features), metavar="N",
                        help="features per stage (default 8 16 32 64 128)")
    parser.add_argument("--learning-rate", type=float, default=d.learning_rate, help="AdamW start rate (1e-3)")
    parser.add_argument("--validation", type=float, default=d.validation,
                        help="share of the cases (the last ones) kept for validation (0.2)")
    parser.add_argument("--validate-every", type=int, default=d.validate_every, help="iterations between validations")
    parser.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every,
                        help="iterations between resumable checkpoints")
    parser.add_argument("--dataset-name", default=d.dataset_name, help="nnU-Net dataset name (Dataset901_Vessels)")
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of initialisation and sampling")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--threads", type=int, help="PyTorch CPU threads (default: all cores)")
    parser.add_argument("--max-cases", type=int, help="use only the first N cases")
    parser.add_argument("--resume", action="store_true", help="continue from fold_0/checkpoint_latest.pth")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_progress_format(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the inputs, train, print where the results folder is."""
    from cerebro.fsutil import require_writable
    from cerebro.train.options import TrainOptions

    options = TrainOptions(
        family=args.family, loss=args.loss, sampling=args.sampling, foreground_fraction=args.foreground_fraction,
        centreline_channel=args.centreline_channel, compression_probability=args.compression_probability,
        compression_ratios=tuple(args.compression_ratios), iterations=args.iterations, batch_size=args.batch_size,
        patch_size=tuple(args.patch_size), inference_patch_size=tuple(args.inference_patch_size),
        features=tuple(args.features), learning_rate=args.learning_rate, validation=args.validation,
        validate_every=args.validate_every, checkpoint_every=args.checkpoint_every, seed=args.seed,
        dataset_name=args.dataset_name, init=args.init)
    options.check()
    source = Path(args.dataset)
    if not source.exists():
        raise CerebroError(f"dataset not found: {source}; give a manifest file or a dataset folder")
    out = Path(args.out)
    for inside in [source] + ([Path(args.init)] if args.init else []):
        if out.resolve() == inside.resolve() or inside.resolve() in out.resolve().parents:
            raise CerebroError(f"--out {out} lies inside the input {inside}; choose a folder outside it")
    created = not out.exists()
    require_writable(out / "plans.json", "--out")
    try:
        return _run_training(args, options, source, out)
    except BaseException:
        if created:  # a run that failed before writing anything leaves no --out folder behind
            with contextlib.suppress(OSError):
                out.rmdir()
        raise


def _run_training(args: argparse.Namespace, options: Any, source: Path, out: Path) -> int:
    """Read the cases, train, print the results folder (the part of ``cerebro train`` after the checks)."""
    from cerebro.datasets import LAYOUTS, Manifest

    cases = list(Manifest.read(source) if source.is_file() else LAYOUTS[args.layout](source, check=True))
    if args.max_cases is not None:
        if args.max_cases < 1:
            raise CerebroError(f"--max-cases must be at least 1, got {args.max_cases}")
        cases = cases[: args.max_cases]
    try:
        import torch

        from cerebro.train.run import train
    except ImportError as error:
        raise CerebroError(f"cerebro train needs PyTorch and MONAI ({error.name} is missing); install them with: "
                           "pip install 'cerebrobench[ml,train]'") from None
    if args.threads:
        torch.set_num_threads(args.threads)
    with command_progress("train", args.progress_format, enabled=not args.quiet) as progress:
        folder = train(cases, out, options, resume=args.resume, device=args.device, progress=progress)
    if args.progress_format == "json":
        print_json_line({"result": {"results_folder": str(folder)}})
    else:
        print(f"wrote {folder}")
    return 0
