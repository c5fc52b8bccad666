"""``cerebro benchmark run|table|plot|limits|search|report``: segmentation quality versus compression over a
labelled dataset, and how far each codec can compress within a Dice-loss bound."""

from __future__ import annotations

import argparse
from pathlib import Path

from cerebro.cli._common import (
    add_precision_argument,
    add_progress_format,
    command_progress,
    print_json,
    print_json_line,
)
from cerebro.errors import CerebroError
from cerebro.segment.catalog import DEFAULT_MODEL_ID


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``benchmark`` sub-command and its actions."""
    from cerebro.benchmark.executors import EXECUTORS
    from cerebro.benchmark.runner import METRIC_SETS
    from cerebro.benchmark.summary import FORMATS
    from cerebro.benchmark.sweep import PAPER_SETTINGS, PRESET_TITLES, PRESETS

    parser = subparsers.add_parser("benchmark", help="sweep codecs x settings x models x cases; tables and plots")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    run = actions.add_parser(
        "run", help="compress every case at every setting and segment it with every model",
        description="Each case is compressed once per setting and segmented by every model, on the original and on "
        "each decoded volume; one record per (case, setting, model) goes to STORE/results.jsonl. Records already "
        "there are skipped, so an interrupted run continues where it stopped.")
    _add_dataset_arguments(run)
    run.add_argument("--model", action="append", metavar="ID", help=f"catalog model (repeatable; default "
                     f"{DEFAULT_MODEL_ID})")
    run.add_argument("--setting", action="append", metavar="CODEC:MODE[:NAME=VALUE,...]",
                     help="compression setting (repeatable), e.g. zfp:accuracy:tolerance=500, or "
                     "sz3:abs:target_ratio=25 (rate control per case); default: the paper's grid "
                     + " ".join(PAPER_SETTINGS))
    run.add_argument("--preset", action="append", choices=sorted(PRESETS), help="named settings (repeatable, "
                     "with --setting): " + "; ".join(f"{k}: {PRESET_TITLES[k]}" for k in sorted(PRESETS)))
    _add_model_arguments(run, METRIC_SETS)
    run.add_argument("--executor", choices=EXECUTORS, default="local",
                     help="local (default): a pipeline on this machine's cores; ray: tasks on a Ray cluster")
    run.add_argument("--workers", type=int, default=0, metavar="N",
                     help="local: worker processes (default 0 = all cores; 1 = in this process); ray without "
                     "--address: CPUs of the local Ray runtime")
    run.add_argument("--address", metavar="ADDR", help="ray: the cluster to join (e.g. ray://head:10001 or auto); "
                     "default: start a local Ray runtime")
    run.add_argument("--shard", metavar="K/N", help="only the K-th of N shards of the cases (every N-th from the "
                     "K-th): run each shard into its own store, on any machines, then `benchmark merge` them")
    run.set_defaults(func=run_benchmark_command)
    merge = actions.add_parser(
        "merge", help="merge the stores of shards of one sweep into one store",
        description="Copy the records, kept masks and predictions and case lists of STOREs (shards of one sweep, "
        "`benchmark run --shard K/N`, run with the same options) into OUT, a new folder. A record two stores hold "
        "is written once if both computed the same result, else the merge is refused.")
    merge.add_argument("output", metavar="OUT", help="the merged store (a new folder)")
    merge.add_argument("stores", metavar="STORE", nargs="+", help="result folders to merge (two or more)")
    merge.add_argument("--quiet", action="store_true", help="no progress bar")
    merge.set_defaults(func=run_merge)
    table = actions.add_parser("table", help="the paper's tables from a result folder")
    table.add_argument("store", help="result folder of `cerebro benchmark run`")
    table.add_argument("--format", choices=FORMATS, default="text", help="text (default), markdown or csv")
    table.add_argument("-o", "--output", help="write to this file instead of printing")
    table.set_defaults(func=run_table)
    plot = actions.add_parser("plot", help="dual-axis compression ratio / mean Dice figure")
    plot.add_argument("store", help="result folder of `cerebro benchmark run`")
    plot.add_argument("output", help="figure file (.png, .pdf or .svg)")
    plot.set_defaults(func=run_plot)
    _register_limits_and_search(actions, METRIC_SETS)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    from cerebro.datasets.loaders import LAYOUTS

    parser.add_argument("dataset", help="a manifest (.csv/.json from `cerebro dataset manifest`) or a dataset folder")
    parser.add_argument("--layout", choices=tuple(LAYOUTS), default="nnunet",
                        help="layout of a dataset folder (default nnunet)")
    parser.add_argument("--store", required=True, help="result folder (created; reused to resume)")
    parser.add_argument("--without-labels", action="store_true",
                        help="accept cases without a label: they are scored against the model's prediction on the "
                        "uncompressed volume")


def _add_model_arguments(parser: argparse.ArgumentParser, metric_sets: tuple[str, ...]) -> None:
    parser.add_argument("--max-cases", type=int, help="only the first N cases")
    parser.add_argument("--metrics", choices=metric_sets, default="all",
                        help="all (default: overlap, HD95/ASSD, clDice, Betti errors) or overlap (faster)")
    parser.add_argument("--device", default="auto", help="auto (CUDA > MPS > CPU), cpu, cuda or mps")
    parser.add_argument("--tta", action="store_true", help="test-time augmentation (mirroring) when segmenting")
    add_precision_argument(parser)
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="model cache (default $CEREBRO_CACHE or ~/.cache/cerebrobench)")
    parser.add_argument("--allow-unpinned", action="store_true", help="accept catalog models not pinned to a sha256")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_progress_format(parser)


def _register_limits_and_search(actions: argparse._SubParsersAction, metric_sets: tuple[str, ...]) -> None:
    from cerebro.benchmark.limits import AGAINST, CRITERIA
    from cerebro.benchmark.limits import FORMATS as LIMIT_FORMATS

    limits = actions.add_parser(
        "limits", help="per codec and model: the largest compression ratio within a Dice-loss bound",
        description="For each model and codec in STORE: the setting with the largest compression ratio whose Dice "
        "loss stays within --max-dice-loss, judged on the mean over cases and on the worst case. The loss is the "
        "drop in Dice against the truth from the uncompressed prediction (--against truth), or 1 - Dice against "
        "the uncompressed prediction (--against uncompressed).")
    limits.add_argument("store", help="result folder of `cerebro benchmark run` or `search`")
    limits.add_argument("--max-dice-loss", type=float, required=True, help="Dice difference, e.g. 0.001")
    limits.add_argument("--against", choices=AGAINST, default="truth", help="reference of the loss (truth)")
    limits.add_argument("--format", choices=LIMIT_FORMATS, default="text", help="text (default), markdown, csv, json")
    limits.add_argument("-o", "--output", help="write to this file instead of printing")
    limits.set_defaults(func=run_limits)
    search = actions.add_parser(
        "search", help="bisect a codec's setting for the largest compression within a Dice-loss bound",
        description="Rate control on segmentation quality: brackets and bisects the codec mode's size setting "
        "(tolerance, rate, ratio...), running each trial over all cases like `benchmark run` (its records go to "
        "STORE, so the search resumes and its trials show in tables), and recommends the most compressing "
        "setting whose Dice loss stays within the bound.")
    _add_dataset_arguments(search)
    search.add_argument("--codec", required=True, help="lossy codec (see `cerebro codecs`)")
    search.add_argument("--mode", help="codec mode (default: its first lossy mode with a size setting)")
    search.add_argument("--max-dice-loss", type=float, required=True, help="Dice difference, e.g. 0.001")
    search.add_argument("--against", choices=AGAINST, default="truth", help="reference of the loss (truth)")
    search.add_argument("--criterion", choices=CRITERIA, default="mean",
                        help="mean over cases (default) or worst case")
    search.add_argument("--model", default=DEFAULT_MODEL_ID, metavar="ID", help=f"catalog model ({DEFAULT_MODEL_ID})")
    search.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                        help="fix another setting of the mode (repeatable)")
    search.add_argument("--search", metavar="NAME", help="setting to search when the mode has several")
    search.add_argument("--max-trials", type=int, default=10, help="most trials, each over all cases (10)")
    search.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_model_arguments(search, metric_sets)
    search.set_defaults(func=run_search)
    report = actions.add_parser(
        "report", help="one self-contained HTML report: limits, Dice-vs-ratio curves, tables, overlays",
        description="Writes one HTML file with its figures embedded: the limits table for each bound, Dice against "
        "compression ratio for every codec, the paper's dual-axis figures, the results table and overlay grids "
        "(axial / coronal / sagittal, one row per compression level) of the best, median and worst case.")
    report.add_argument("store", help="result folder of `cerebro benchmark run` or `search`")
    report.add_argument("output", help="report file (.html)")
    report.add_argument("--max-dice-loss", type=float, action="append", metavar="LOSS",
                        help="Dice-loss bound of a limits table (repeatable; default 0.001 and 0.01)")
    report.add_argument("--against", choices=AGAINST, default="truth", help="reference of the loss (truth)")
    report.add_argument("--overlay-dpi", type=int, default=300, help="resolution of the overlay grids (300)")
    report.add_argument("--quiet", action="store_true", help="no progress bar")
    add_progress_format(report)
    report.set_defaults(func=run_report)


def _cases(args: argparse.Namespace) -> list:
    from cerebro.datasets import LAYOUTS, Manifest

    source = Path(args.dataset)
    if not source.exists():
        raise CerebroError(f"dataset not found: {source}; give a manifest file or a dataset folder")
    cases = list(Manifest.read(source) if source.is_file() else LAYOUTS[args.layout](source, check=True))
    if args.max_cases is not None:
        if args.max_cases < 1:
            raise CerebroError(f"--max-cases must be at least 1, got {args.max_cases}")
        cases = cases[: args.max_cases]
    if getattr(args, "shard", None):
        from cerebro.benchmark.merge import parse_shard, shard_cases

        k, n = parse_shard(args.shard)
        if cases and k > len(cases):
            raise CerebroError(f"--shard {args.shard}: the dataset has {len(cases)} cases, so shard {k} is empty; "
                               f"split it into at most {len(cases)} shards")
        cases = shard_cases(cases, k, n)
    unlabelled = [c.case_id for c in cases if c.label_path is None]
    if unlabelled and not args.without_labels:
        raise CerebroError(f"{len(unlabelled)} cases have no label (first: {unlabelled[0]}); the benchmark needs "
                           "ground truth: use labelled cases, or --without-labels to score against the prediction on "
                           "the uncompressed volume")
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
    from cerebro.benchmark.executors import make_executor
    from cerebro.benchmark.memory import largest_segment_bytes
    from cerebro.benchmark.runner import run_benchmark
    from cerebro.benchmark.store import ResultStore
    from cerebro.benchmark.summary import render, summarise
    from cerebro.benchmark.sweep import PAPER_SETTINGS, PRESETS, parse_setting

    chosen = [*(s for name in args.preset or () for s in PRESETS[name]), *(args.setting or ())]
    settings = [parse_setting(text) for text in (chosen or PAPER_SETTINGS)]
    models = list(dict.fromkeys(args.model or [DEFAULT_MODEL_ID]))
    cases = _cases(args)
    store = ResultStore(args.store)
    executor = make_executor(args.executor, args.workers, args.address, args.device, largest_segment_bytes(cases))
    if executor.memory_note and not args.quiet and args.progress_format != "json":
        print(f"note: {executor.memory_note}")
    with command_progress("benchmark", args.progress_format, enabled=not args.quiet) as progress:
        added = run_benchmark(cases, settings, models, store, device=args.device, tta=args.tta,
                              precision=args.precision, metrics=args.metrics, cache_dir=args.cache_dir,
                              allow_unpinned=args.allow_unpinned, progress=progress, executor=executor)
    if args.progress_format == "json":
        print_json_line({"result": {"added": added, "store": str(store.folder), "results": str(store.results_path)}})
        return 0
    print(f"{added} new records ({len(cases)} cases x {len(settings) + 1} settings incl. uncompressed x "
          f"{len(models)} models) in {store.results_path}")
    print(render(summarise(store.records())), end="")
    return 0


def run_table(args: argparse.Namespace) -> int:
    """``cerebro benchmark table``"""
    from cerebro.benchmark.summary import render, summarise

    _check_output(args.output, _store_files(args.store))
    _write_or_print(render(summarise(_records(args.store)), args.format), args.output)
    return 0


def run_plot(args: argparse.Namespace) -> int:
    """``cerebro benchmark plot``"""
    from cerebro.benchmark.plot import plot_ratio_vs_dice
    from cerebro.benchmark.summary import summarise

    _check_output(args.output, _store_files(args.store))
    print(f"wrote {plot_ratio_vs_dice(summarise(_records(args.store)), args.output)}")
    return 0


def _store_files(store: str) -> tuple[Path, ...]:
    """The files of a result store that an output must never replace."""
    from cerebro.benchmark.store import CASES_FILE, OPTIONS_FILE, RESULTS_FILE

    return tuple(Path(store) / name for name in (RESULTS_FILE, OPTIONS_FILE, CASES_FILE))


def _check_output(output: str | None, inputs: tuple[Path, ...]) -> None:
    """Before any work: ``output`` (if given) is writable and none of ``inputs``."""
    from cerebro.fsutil import check_outputs

    if output:
        check_outputs(inputs, [output])


def _write_or_print(text: str, output: str | None) -> None:
    """Print ``text``, or write it atomically to ``output`` (checked by :func:`_check_output` first)."""
    from cerebro.fsutil import atomic_path

    if not output:
        print(text, end="")
        return
    with atomic_path(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(f"wrote {output}")


def run_limits(args: argparse.Namespace) -> int:
    """``cerebro benchmark limits``"""
    from cerebro.benchmark.limits import compression_limits, render_limits

    _check_output(args.output, _store_files(args.store))
    limits = compression_limits(_records(args.store), args.max_dice_loss, args.against)
    if not limits:
        raise CerebroError(f"{args.store} has no compressed setting with records for every case of its uncompressed "
                           "baseline; run `cerebro benchmark run` to the end first")
    _write_or_print(render_limits(limits, args.format), args.output)
    return 0


def run_search(args: argparse.Namespace) -> int:
    """``cerebro benchmark search``"""
    from cerebro.benchmark.search import search_dice_limit
    from cerebro.benchmark.store import ResultStore
    from cerebro.codecs.setting import assignments

    fixed = assignments(args.setting, "--setting")
    cases = _cases(args)
    store = ResultStore(args.store)
    with command_progress(f"search {args.codec}", args.progress_format,
                          enabled=not (args.quiet or args.json)) as progress:
        result = search_dice_limit(cases, args.codec, args.model, store, args.max_dice_loss, mode=args.mode,
                                   against=args.against, criterion=args.criterion, settings=fixed,
                                   setting=args.search, max_trials=args.max_trials, device=args.device,
                                   tta=args.tta, precision=args.precision, metrics=args.metrics,
                                   cache_dir=args.cache_dir, allow_unpinned=args.allow_unpinned, progress=progress)
    if args.progress_format == "json":
        print_json_line({"result": result.as_dict()})
    elif args.json:
        print_json(result.as_dict())
    else:
        print(result.to_text())
    return 0


def run_report(args: argparse.Namespace) -> int:
    """``cerebro benchmark report``"""
    from cerebro.benchmark.report import DEFAULT_BOUNDS, write_report

    _records(args.store)  # a missing or empty store is one error line
    _check_output(args.output, _store_files(args.store))
    with command_progress("report", args.progress_format, enabled=not args.quiet) as progress:
        path = write_report(args.store, args.output, tuple(args.max_dice_loss or DEFAULT_BOUNDS), args.against,
                            args.overlay_dpi, progress)
    if args.progress_format == "json":
        print_json_line({"result": {"path": str(path), "bytes": path.stat().st_size}})
        return 0
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def run_merge(args: argparse.Namespace) -> int:
    """``cerebro benchmark merge``"""
    from cerebro.benchmark.merge import merge_stores
    from cerebro.benchmark.summary import render, summarise

    with command_progress("merge", enabled=not args.quiet) as progress:
        written = merge_stores(args.stores, args.output, progress)
    print(f"{written} records from {len(args.stores)} stores in {Path(args.output) / 'results.jsonl'}")
    print(render(summarise(_records(args.output))), end="")
    return 0
