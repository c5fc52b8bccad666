"""``cerebro models list|download``: the segmentation model catalog and its weights cache."""

from __future__ import annotations

import argparse
import warnings

from cerebro.cli._common import add_progress_format, command_progress, print_json, print_json_line


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` sub-command with ``list`` and ``download``."""
    parser = subparsers.add_parser("models", help="list segmentation models or download their weights")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list the catalog")
    listing.add_argument("--json", action="store_true", help="print the full catalog entries as JSON")
    listing.set_defaults(func=run_list)
    download = actions.add_parser("download", help="download (or verify the cached copy of) a model's weights")
    download.add_argument("model", metavar="ID", help="model id from `cerebro models list`")
    download.add_argument("--cache-dir", metavar="DIR", help="cache folder (default $CEREBRO_CACHE or "
                          "~/.cache/cerebrobench)")
    download.add_argument("--allow-unpinned", action="store_true",
                          help="accept an entry without pinned revision/sha256 and print the file's sha256")
    download.add_argument("--offline", action="store_true", help="never use the network (like HF_HUB_OFFLINE=1)")
    download.add_argument("--quiet", action="store_true", help="no progress bar")
    add_progress_format(download)
    download.set_defaults(func=run_download)


def run_list(args: argparse.Namespace) -> int:
    """Print the catalog: a table, or JSON with ``--json``."""
    from cerebro.segment.catalog import load_catalog

    catalog = load_catalog()
    if args.json:
        print_json([entry.as_dict() for entry in catalog.values()])
        return 0
    rows = [("ID", "FAMILY", "MODALITY", "WEIGHTS", "PINNED")]
    for entry in catalog.values():
        where = f"{entry.repo}/{entry.file}" if entry.repo else ("local file " + entry.file if entry.file else "none")
        where = "shipped with CerebroBench" if entry.local else where
        if entry.routes:
            where = "by modality: " + ", ".join(f"{m} -> {target}" for m, target in sorted(entry.routes.items()))
        pinned = "yes" if entry.pinned or entry.routes else "no"
        rows.append((entry.id, entry.family or "(routes)", entry.modality, where, pinned))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def run_download(args: argparse.Namespace) -> int:
    """Fetch the weights into the cache (sha256-checked) and print where they are."""
    from cerebro.segment.catalog import get_model_entry
    from cerebro.segment.weights.download import fetch_model

    entry = get_model_entry(args.model)
    as_json = args.progress_format == "json"
    if not entry.needs_weights:
        if as_json:
            print_json_line({"result": {"model": entry.id, "path": None}})
        else:
            print(f"model '{entry.id}' needs no weights")
        return 0
    with warnings.catch_warnings(record=True) as caught, command_progress(
            f"download {entry.id}", args.progress_format, enabled=not args.quiet) as progress:
        warnings.simplefilter("always")
        path = fetch_model(entry, cache_dir=args.cache_dir, offline=True if args.offline else None,
                           progress=progress, allow_unpinned=args.allow_unpinned)
    for warning in caught:
        if as_json:
            print_json_line({"warning": str(warning.message)})
        else:
            print(f"warning: {warning.message}")
    if as_json:
        print_json_line({"result": {"model": entry.id, "path": str(path)}})
    else:
        print(path)
    return 0
