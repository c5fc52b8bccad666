"""``cerebro dataset manifest``: list the cases of a vessel dataset on disk into a manifest (CSV or JSON)."""

from __future__ import annotations

import argparse

from cerebro.errors import CerebroError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``dataset`` sub-command (with its ``manifest`` action)."""
    parser = subparsers.add_parser("dataset", help="read vessel datasets on disk (nnU-Net, TopCoW, RSNA, ...)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    manifest = actions.add_parser(
        "manifest", help="check a dataset folder and write its manifest",
        description="Find every case of a dataset in its own layout, check that each label lies on its image's "
        "grid, and write a manifest (case_id, image_path, label_path, modality, extra).",
    )
    manifest.add_argument("folder", help="dataset folder (for --layout paired: the image folder)")
    manifest.add_argument("--layout", required=True, choices=("nnunet", "topcow", "rsna", "bids-pvs", "paired"))
    manifest.add_argument("--labels", help="label folder (--layout paired only)")
    manifest.add_argument("--modality", default="unknown", help="modality to record (--layout paired only)")
    manifest.add_argument("--no-check", action="store_true", help="skip the image/label geometry check")
    manifest.add_argument("-o", "--output", required=True, help="manifest file to write (.csv or .json)")
    manifest.set_defaults(func=run_manifest)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def run_manifest(args: argparse.Namespace) -> int:
    """Load the dataset in the chosen layout and write its manifest."""
    from pathlib import Path

    from cerebro.datasets import LAYOUTS, load_paired_folders
    from cerebro.fsutil import check_outputs, require_writable

    require_writable(args.output, "manifest")
    check = not args.no_check
    if args.layout == "paired":
        if not args.labels:
            raise CerebroError("--layout paired needs --labels LABEL_FOLDER; give the folder of label files")
        manifest = load_paired_folders(args.folder, args.labels, args.modality, check=check)
    else:
        manifest = LAYOUTS[args.layout](args.folder, check=check)
    dataset_files = [Path(folder) / name for folder in (args.folder, args.labels) if folder
                     for name in ("dataset.json", "manifest.csv", "manifest.json")]
    case_files = [path for case in manifest for path in (case.image_path, case.label_path) if path]
    check_outputs([*dataset_files, *case_files], [args.output])
    path = manifest.write(args.output)
    print(f"{len(manifest)} cases -> {path}")
    return 0
