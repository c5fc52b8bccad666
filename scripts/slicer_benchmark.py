"""Run the CerebroBenchmark module's logic headless, e.g. on a machine without a screen:

    Slicer --no-main-window --python-script scripts/slicer_benchmark.py -- \\
        --volume angio.nii.gz --reference vessels.nii.gz --store results --csv results.csv --report report.html

or ``--dataset FOLDER_OR_MANIFEST [--layout nnunet]`` instead of ``--volume``. The volume (and reference label map)
are loaded into the MRML scene, the benchmark runs through ``CerebroBenchmarkLogic`` (a background ``cerebro
benchmark run`` process, as from the panel), the results table node is written as CSV and the HTML report is made.
Outside Slicer it runs the same way with any Python that has the ``slicer-core`` wheel. Exit status 0 on success,
2 with one ``error:`` line for a user error.
"""

from __future__ import annotations

import argparse
import csv
import sys
import traceback
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slicer_benchmark.py", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--volume", help="angiography volume (NIfTI, NRRD, ...) loaded into the scene")
    source.add_argument("--dataset", help="dataset folder or manifest")
    parser.add_argument("--reference", help="label map of the vessels on the volume's grid (optional)")
    parser.add_argument("--layout", default="nnunet", help="layout of a dataset folder (nnunet)")
    parser.add_argument("--store", required=True, help="results folder (created; resumed)")
    parser.add_argument("--setting", action="append", help="CODEC:MODE[:NAME=VALUE,...] (repeatable; default: the "
                        "paper's ZFP grid)")
    parser.add_argument("--model", action="append", help="catalog model (repeatable; default cerebro-default)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--metrics", default="all", choices=("all", "overlap"))
    parser.add_argument("--max-dice-loss", type=float, default=0.001, help="bound of the limits table (0.001)")
    parser.add_argument("--csv", help="write the results table node as CSV here")
    parser.add_argument("--report", help="write the HTML report here")
    return parser


def table_node_rows(table_node) -> list[list[str]]:
    """The cells of a table node as text, the column names first."""
    table = table_node.GetTable()
    columns = [table.GetColumn(c) for c in range(table.GetNumberOfColumns())]
    rows = [[column.GetName() for column in columns]]
    for r in range(table.GetNumberOfRows()):
        rows.append([str(column.GetValue(r)) for column in columns])
    return rows


def run(argv: list[str]) -> int:
    """Parse ``argv``, run the benchmark through the module logic, write the CSV and the report."""
    import slicer

    from cerebro.benchmark.report import write_report
    from cerebro.benchmark.sweep import PAPER_SETTINGS
    from cerebro.errors import CerebroError
    from cerebro.fsutil import atomic_path
    from cerebro.io import read_volume
    from cerebro.progress import Progress
    from cerebro.segment.catalog import DEFAULT_MODEL_ID
    from CerebroLib.benchmark_logic import CerebroBenchmarkLogic
    from CerebroLib.mrml import segmentation_node_from_masks, volume_to_node

    args = _parser().parse_args(argv)
    scene = getattr(slicer, "mrmlScene", None) or slicer.vtkMRMLScene()
    logic = CerebroBenchmarkLogic()
    if args.volume:
        volume_node = volume_to_node(read_volume(args.volume), scene, Path(args.volume).name.split(".")[0])
        reference = None
        if args.reference:
            label = read_volume(args.reference)
            reference = segmentation_node_from_masks(
                {"vessel": (label.with_array((label.array > 0).astype("uint8")), (0.0, 0.8, 0.0))}, volume_node,
                "reference")
        source = logic.scene_manifest(volume_node, args.store, reference)
    elif args.reference:
        raise CerebroError("--reference goes with --volume; a dataset brings its own labels")
    else:
        source = args.dataset

    def show(fraction: float, message: str) -> None:
        print(f"{100 * fraction:5.1f}% {message}", flush=True)

    nodes = logic.run(source, args.store, args.setting or list(PAPER_SETTINGS), args.model or [DEFAULT_MODEL_ID],
                      scene, progress=Progress(on_update=show), layout=args.layout, device=args.device,
                      metrics=args.metrics, max_dice_loss=args.max_dice_loss)
    rows = table_node_rows(nodes.results_table)
    print(f"results table '{nodes.results_table.GetName()}': {len(rows) - 1} rows")
    if args.csv:
        with atomic_path(args.csv) as tmp, open(tmp, "w", newline="", encoding="utf-8") as stream:
            csv.writer(stream).writerows(rows)
        print(f"wrote {args.csv}")
    if args.report:
        print(f"wrote {write_report(args.store, args.report, (args.max_dice_loss, 0.01))}")
    return 0


def main(argv: list[str]) -> int:
    """``run`` with user errors as one ``error:`` line and exit status 2."""
    from cerebro.errors import CerebroError

    if argv[:1] == ["--"]:  # Slicer passes what follows its own options
        argv = argv[1:]
    try:
        return run(argv)
    except CerebroError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def exit_application(code: int) -> None:
    """Leave with ``code``: inside Slicer quit the application (``--python-script`` does not quit by itself), else
    exit this Python."""
    try:
        import slicer
        import slicer.util
    except ImportError:
        slicer = None
    if slicer is not None and hasattr(slicer, "app"):
        slicer.util.exit(code)
    else:
        sys.exit(code)


def run_script(argv: list[str], leave=exit_application) -> None:
    """:func:`main`, then always ``leave(status)``, whatever happened: an unexpected exception prints its traceback
    and leaves with 1, argparse's exits (``--help``, a usage error) keep their status. A ``--no-main-window`` Slicer
    whose script raised would otherwise keep running, with no window, forever."""
    code = 1
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - a bug or Ctrl+C: say what, and still quit
        traceback.print_exc()
    finally:
        leave(code)


if __name__ == "__main__":
    if not any((Path(p) / "CerebroLib").is_dir() for p in sys.path if p):
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone
    run_script(sys.argv[1:])
