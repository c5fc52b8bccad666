"""``cerebro demo``: the offline demo (phantom -> ZFP at growing tolerances -> segmentation -> Dice)."""

from __future__ import annotations

import argparse
import contextlib

from cerebro.cli._common import add_precision_argument, cli_progress, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="offline demo: how ZFP compression changes vessel segmentation on a synthetic angiogram",
        description="Generate a CTA-like (or TOF-MRA-like) phantom with an exact vessel mask, compress it with ZFP "
        "at growing error tolerances and rates, segment every decoded volume with the shipped default model and "
        "print compression ratio, PSNR, SSIM, max error and Dice (vs truth and vs the uncompressed prediction), "
        "through the benchmark runner and its table. Runs offline on a CPU in about a minute.",
    )
    parser.add_argument("--out", default=None, help="keep the phantom (image, truth) and the result store (masks, "
                        "records; `cerebro benchmark table|plot|report OUT/store`) in this folder")
    parser.add_argument("--size", type=int, default=96, help="phantom edge length in voxels (default 96)")
    parser.add_argument("--modality", choices=("cta", "mra"), default="cta", help="phantom appearance (default cta)")
    parser.add_argument("--seed", type=int, default=0, help="phantom seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto (CUDA > MPS > CPU), cpu, cuda or mps")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="worker processes (default 0 = all cores; 1 = in this process)")
    add_precision_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its table (or JSON)."""
    from pathlib import Path

    from cerebro.demo import run_demo
    from cerebro.errors import CerebroError
    from cerebro.fsutil import removed_on_failure, require_writable

    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise CerebroError(f"--out {args.out} is a file; give a folder for the demo's files")
    kept = removed_on_failure(args.out) if args.out else contextlib.nullcontext()
    with kept, cli_progress("demo", enabled=not args.json) as progress:  # a failed demo leaves no files behind
        if args.out:
            require_writable(Path(args.out) / "demo", "--out folder")
        result = run_demo(args.out, size=args.size, modality=args.modality, seed=args.seed, device=args.device,
                          workers=args.workers, progress=progress, precision=args.precision)
    if args.json:
        print_json({"modality": result.modality, "shape": list(result.shape), "model": result.model_id,
                    "routed_model": result.routed_model,
                    "store": None if result.store is None else str(result.store), "rows": result.rows})
    else:
        print(result.to_text())
    return 0
