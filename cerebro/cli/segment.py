"""``cerebro segment IN OUT --model ID``: segment vessels in a volume with a catalog model."""

from __future__ import annotations

import argparse
import warnings

from cerebro.cli._common import add_precision_argument, add_progress_format, command_progress, print_json_line
from cerebro.device import DEVICES
from cerebro.fsutil import check_outputs, require_input_file, require_output_suffix
from cerebro.io import VOLUME_SUFFIXES, read_volume, write_volume
from cerebro.modality import MODALITIES
from cerebro.segment.catalog import DEFAULT_MODEL_ID


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``segment`` sub-command."""
    parser = subparsers.add_parser("segment", help="segment vessels with a model of the catalog",
                                   description="Segment vessels in IN with catalog model ID and write the label "
                                   "mask to OUT (same grid as IN). See `cerebro models list`.")
    parser.add_argument("input", metavar="IN", help="input volume (NIfTI, NRRD, MHA, DICOM folder)")
    parser.add_argument("output", metavar="OUT", help="output label mask (e.g. mask.nii.gz)")
    parser.add_argument("--model", default=DEFAULT_MODEL_ID, metavar="ID",
                        help=f"model id from `cerebro models list` (default {DEFAULT_MODEL_ID}: shipped, offline)")
    parser.add_argument("--modality", choices=MODALITIES,
                        help=f"the volume's modality: picks the model of {DEFAULT_MODEL_ID} (default: from the "
                        "intensities; air near -1000 HU means CT)")
    parser.add_argument("--device", default="auto",
                        help=f"one of {', '.join(DEVICES)} (default auto: CUDA > MPS > CPU)")
    parser.add_argument("--no-tta", action="store_true", help="disable test-time augmentation (mirroring): faster")
    add_precision_argument(parser)
    parser.add_argument("--probabilities", metavar="P", help="also write the foreground probability volume to P")
    parser.add_argument("--weights", metavar="FILE", help="use this local weights file (or nnU-Net folder/zip) "
                        "instead of the catalog download")
    parser.add_argument("--cache-dir", metavar="DIR", help="model cache (default $CEREBRO_CACHE or "
                        "~/.cache/cerebrobench)")
    parser.add_argument("--allow-unpinned", action="store_true",
                        help="accept catalog models whose revision/sha256 are not pinned yet (prints the sha256)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_progress_format(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read, segment, write (atomically; the input is never overwritten)."""
    from cerebro.segment.api import route_for, segment

    require_input_file(args.input)
    for output, what in ((args.output, "output"), (args.probabilities, "--probabilities")):
        if output:
            require_output_suffix(output, VOLUME_SUFFIXES, what)
    check_outputs([args.input], [args.output, *([args.probabilities] if args.probabilities else [])])
    volume = read_volume(args.input)
    as_json = args.progress_format == "json"
    route = route_for(volume, args.model, args.modality)
    if route.routed:
        if as_json:
            print_json_line({"model": route.model_id, "requested": route.requested, "modality": route.modality,
                             "reason": route.reason})
        else:
            print(f"model: {route.describe()}")
    with warnings.catch_warnings(record=True) as caught, command_progress(
            f"segment ({route.model_id})", args.progress_format, enabled=not args.quiet) as progress:
        warnings.simplefilter("always")
        result = segment(volume, route.model_id, device=args.device, tta=not args.no_tta, progress=progress,
                         return_probabilities=bool(args.probabilities), cache_dir=args.cache_dir,
                         weights=args.weights, allow_unpinned=args.allow_unpinned, precision=args.precision)
    for warning in caught:
        if as_json:
            print_json_line({"warning": str(warning.message)})
        else:
            print(f"warning: {warning.message}")
    write_volume(result.mask, args.output)
    if args.probabilities and result.probabilities is not None:
        write_volume(result.probabilities, args.probabilities)
    counts = {result.labels.get(int(v), str(v)): int((result.mask.array == v).sum())
              for v in sorted(set(result.labels) - {0})}
    if as_json:
        print_json_line({"result": {"mask": args.output, "probabilities": args.probabilities,
                                    "labels": {str(k): v for k, v in result.labels.items()}, "voxels": counts,
                                    "model": route.model_id, "route": route.reason}})
    else:
        print(f"wrote {args.output}: " + ", ".join(f"{name} {n} voxels" for name, n in counts.items()))
    return 0
