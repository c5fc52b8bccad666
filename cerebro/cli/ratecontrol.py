"""``cerebro ratecontrol``: find the codec setting that reaches a target ratio, PSNR or max error."""

from __future__ import annotations

import argparse
import sys

from cerebro.cli._common import cli_progress, print_json
from cerebro.errors import CerebroError

MISSED = 3
"""Exit status of a search that missed its target (documented in the command's help)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ratecontrol`` sub-command."""
    parser = subparsers.add_parser(
        "ratecontrol",
        help="search a lossy codec's setting for a target compression ratio, PSNR or max error",
        description="Bisect the size/quality setting of CODEC's MODE (e.g. sz3 abs: tolerance) until the "
        "volume compresses to the target; prints the setting found and what it achieves.",
        epilog=f"Exit status: 0 the target was hit within --tolerance; {MISSED} it was missed (the closest trial is "
        "printed) or lies outside what the setting can reach; 2 a user error.",
    )
    parser.add_argument("input", help="input volume (NIfTI, NRRD, MHA, DICOM folder, ...)")
    parser.add_argument("--codec", required=True, help="codec name (see `cerebro codecs` / available_codecs())")
    parser.add_argument("--mode", required=True, help="lossy mode of the codec (e.g. sz3: abs, zfp: rate)")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--target-ratio", type=float, help="compression ratio X (for X:1)")
    group.add_argument("--target-psnr", type=float, help="PSNR in dB over the volume's max - min")
    group.add_argument("--target-max-error", type=float, help="max absolute error in image units")
    parser.add_argument("--tolerance", type=float, default=0.05, help="relative tolerance of the target (0.05)")
    parser.add_argument("--max-iter", type=int, default=30, help="most trial encodes (30)")
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                        help="fix another setting of the mode (repeatable), e.g. --setting axis=j")
    parser.add_argument("--search", metavar="NAME", help="setting to search when the mode has several")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the volume, search, print the result."""
    from cerebro.codecs.setting import assignments
    from cerebro.io import read_volume
    from cerebro.ratecontrol import TargetUnreachable, search_setting

    if args.max_iter < 1:
        raise CerebroError(f"--max-iter must be at least 1, got {args.max_iter}")
    target, value = next((t, v) for t, v in (("ratio", args.target_ratio), ("psnr", args.target_psnr),
                                             ("max_error", args.target_max_error)) if v is not None)
    fixed = assignments(args.setting, "--setting")
    volume = read_volume(args.input)
    with cli_progress(f"ratecontrol {args.codec}", enabled=not args.json) as progress:
        try:
            result = search_setting(volume, args.codec, args.mode, target, value, tolerance=args.tolerance,
                                    max_iter=args.max_iter, settings=fixed, setting=args.search, progress=progress)
        except TargetUnreachable as unreachable:
            print(f"missed: {unreachable}", file=sys.stderr)
            if unreachable.closest is None:
                return MISSED
            result = unreachable.closest
    if args.json:
        print_json(result.as_dict())
    else:
        print(result.to_text())
    return 0 if result.hit else MISSED

