"""``cerebro phantom``: write synthetic CTA / TOF-MRA phantoms as an nnU-Net raw dataset with a manifest."""

from __future__ import annotations

import argparse

from cerebro.cli._common import cli_progress, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``phantom`` sub-command."""
    parser = subparsers.add_parser(
        "phantom", help="generate synthetic cerebrovascular phantoms (image + exact vessel mask)",
        description="Generate seeded vessel-tree phantoms and write imagesTr/labelsTr/dataset.json (nnU-Net raw "
        "layout) plus fractionsTr (partial volume), centerlinesTr and manifest.csv.",
    )
    parser.add_argument("out_dir", help="output folder (the dataset; with --modality both, holds cta/ and mra/)")
    parser.add_argument("--modality", choices=("cta", "mra", "both"), default="cta")
    parser.add_argument("--size", type=int, default=128, help="cube edge in voxels (default 128)")
    parser.add_argument("--shape", type=int, nargs=3, metavar=("Z", "Y", "X"), help="array shape; overrides --size")
    parser.add_argument("--spacing", type=float, nargs=3, metavar=("SI", "SJ", "SK"),
                        help="voxel size in mm (default 0.45 0.45 0.6 for CTA, 0.35 0.35 0.5 for MRA)")
    parser.add_argument("--cases", type=int, default=1, help="number of phantoms per modality (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first case; case n uses seed + n")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate and write the phantoms; print the manifest summary as JSON."""
    from cerebro.phantoms import write_phantom_dataset

    shape = tuple(args.shape) if args.shape else (args.size,) * 3
    with cli_progress("phantoms", enabled=not args.quiet) as progress:
        manifest = write_phantom_dataset(args.out_dir, args.modality, shape, args.cases, args.seed,
                                         tuple(args.spacing) if args.spacing else None, progress)
    print_json({
        "manifest": f"{args.out_dir}/manifest.csv",
        "cases": [{"case_id": c.case_id, "image": str(c.image_path), "label": str(c.label_path),
                   "modality": c.modality, **c.extra["stats"]} for c in manifest],
    })
    return 0
