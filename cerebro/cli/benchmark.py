"""``cerebro benchmark run|table|plot``: segmentation quality versus compression over a labelled dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from cerebro.cli._common import cli_progress
from cerebro.errors import CerebroError
from cerebro.segment.catalog import DEFAULT_MODEL_ID


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``benchmark`` sub-command and its actions."""
    from cerebro.benchmark.runner import METRIC_SETS
    from cerebro.benchmark.summary import FORMATS
    from cerebro.benchmark.sweep import PAPER_SETTINGS

    parser = subparsers.add_parser("benchmark", help="sweep codecs x settings x models x cases; tables and plots")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    run = actions.add_parser(
        "run", help="compress every case at every setting and segment it with every model",
        description="Each case is compressed once per setting and segmented by every model, on the original and on "
        "each decoded volume; one record per (case, setting, model) goes to STORE/results.jsonl. Records already "
        "there are skipped, so an interrupted run continues where it stopped.")
    run.add_argument("dataset", help="a manifest (.csv/.json from `cerebro dataset manifest`) or a dataset folder")
    run.add_argument("--layout", choices=("nnunet", "topcow", "rsna", "bids-pvs"), default="nnunet",
                     help="layout of a dataset folder (default nnunet)")
    run.add_argument("--store", required=True, help="result folder (created; reused to resume)")
    run.add_argument("--model", action="append", metavar="ID", help=f"catalog model (repeatable; default "
                     f"{DEFAULT_MODEL_ID})")
    run.add_argument("--setting", action="append", metavar="CODEC:MODE[:NAME=VALUE,...]",
                     help="compression setting (repeatable), e.g. zfp:accuracy:tolerance=500; default: the paper's "
                     "grid " + " ".join(PAPER_SETTINGS))
    run.add_argument("--max-cases", type=int, help="only the first N cases")
    run.add_argument("--metrics", choices=METRIC_SETS, default="all",
                     help="all (default: overlap, HD95/ASSD, clDice, Betti errors) or overlap (faster)")
    run.add_argument("--device", default="auto", help="auto (CUDA > MPS > CPU), cpu, cuda or mps")
    run.add_argument("--tta", action="store_true", help="test-time augmentation (mirroring) when segmenting")
    run.add_argument("--cache-dir", metavar="DIR", help="model cache (default $CEREBRO_CACHE or ~/.cache/cerebrobench)")
    run.add_argument("--allow-unpinned", action="store_true", help="accept catalog models not pinned to a sha256")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=run_benchmark_command)
    table = actions.add_parser("table", help="the paper's tables from a result folder")
    table.add_argument("store", help="result folder of `cerebro benchmark run`")
    table.add_argument("--format", choices=FORMATS, default="text", help="text (default), markdown or csv")
    table.add_argument("-o", "--output", help="write to this file instead of printing")
    table.set_defaults(func=run_table)
    plot = actions.add_parser("plot", help="dual-axis compression ratio / mean Dice figure")
    plot.add_argument("store", help="result folder of `cerebro benchmark run`")
    plot.add_argument("output", help="figure file (.png, .pdf or .svg)")
    plot.set_defaults(func=run_plot)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _cases(args: argparse.Namespace) -> list:
    from cerebro.datasets import LAYOUTS, Manifest

    source = Path(args.dataset)
    if not source.exists():
        raise CerebroError(f"dataset not found: {source}; give a manifest file or a dataset folder")
    cases = list(Manifest.read(source) if source.is_file() else LAYOUTS[args.layout](source, check=True))
    cases = cases[: args.max_cases] if args.max_cases else cases
    unlabelled = [c.case_id for c in cases if c.label_path is None]
    if unlabelled:
        raise CerebroError(f"{len(unlabelled)} cases have no label (first: {unlabelled[0]}); the benchmark needs "
                           "ground truth: use labelled cases only")
    if not cases:
        raise CerebroError(f"no cases found in {source}; check the folder and --layout")
    return cases


def _records(store_dir: str) -> list[dict]:
    from cerebro.benchmark.store import ResultStore

    if not Path(store_dir).is_dir():
        raise CerebroError(f"result folder not found: {store_dir}; run `cerebro benchmark run --store` first")
    records = ResultStore(store_dir).records()
    if not records:
        raise CerebroError(f"{store_dir} holds no results yet; run `cerebro benchmark run --store {store_dir}`")
    return records


def run_benchmark_command(args: argparse.Namespace) -> int:
    """``cerebro benchmark run``"""
    from cerebro.benchmark.runner import run_benchmark
    from cerebro.benchmark.store import ResultStore
    from cerebro.benchmark.summary import render, summarise
    from cerebro.benchmark.sweep import PAPER_SETTINGS, parse_setting

    settings = [parse_setting(text) for text in (args.setting or PAPER_SETTINGS)]
    models = list(dict.fromkeys(args.model or [DEFAULT_MODEL_ID]))
    cases = _cases(args)
    store = ResultStore(args.store)
    with cli_progress("benchmark", enabled=not args.quiet) as progress:
        added = run_benchmark(cases, settings, models, store, device=args.device, tta=args.tta,
                              metrics=args.metrics, cache_dir=args.cache_dir, allow_unpinned=args.allow_unpinned,
                              progress=progress)
    print(f"{added} new records ({len(cases)} cases x {len(settings) + 1} settings incl. uncompressed x "
          f"{len(models)} models) in {store.results_path}")
    print(render(summarise(store.records())), end="")
    return 0


def run_table(args: argparse.Namespace) -> int:
    """``cerebro benchmark table``"""
    from cerebro.benchmark.summary import render, summarise
    from cerebro.fsutil import atomic_path

    text = render(summarise(_records(args.store)), args.format)
    if args.output:
        with atomic_path(args.output) as tmp:
            tmp.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


def run_plot(args: argparse.Namespace) -> int:
    """``cerebro benchmark plot``"""
    from cerebro.benchmark.plot import plot_ratio_vs_dice
    from cerebro.benchmark.summary import summarise

    print(f"wrote {plot_ratio_vs_dice(summarise(_records(args.store)), args.output)}")
    return 0
