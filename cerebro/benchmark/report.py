"""``cerebro benchmark report``: one self-contained HTML file (figures embedded as PNG) with the limits tables
("how far can I compress?"), Dice against compression ratio for every codec, the paper's dual-axis figures, the
results table and overlay grids of the best, median and worst case."""

from __future__ import annotations

import base64
import datetime
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cerebro import __version__
from cerebro.benchmark.limits import LIMIT_HEADERS, Limit, compression_limits, limit_cells
from cerebro.benchmark.plot import codec_mode, dice_vs_ratio_figure, pyplot, ratio_dice_figure
from cerebro.benchmark.store import ResultStore
from cerebro.benchmark.summary import COLUMNS, summarise
from cerebro.benchmark.sweep import UNCOMPRESSED
from cerebro.errors import CerebroError
from cerebro.fsutil import atomic_path, require_free_space, require_output_suffix, require_writable
from cerebro.progress import Progress

DEFAULT_BOUNDS = (0.001, 0.01)
_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;color:#222;
line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
.meta{color:#555;font-size:.9em}table{border-collapse:collapse;font-size:.82em;margin:.8em 0;display:block;
overflow-x:auto}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;white-space:nowrap}
th{background:#f2f4f7}td.s,th.s{text-align:left}tr:nth-child(even) td{background:#fafafa}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85em;color:#555}
nav a{margin-right:1em}.none{color:#a00}
"""


def _png(figure: Any, dpi: int) -> str:
    """The figure as a data: URI (PNG), closing it."""
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=dpi)
    finally:
        pyplot().close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(uri: str, caption: str, width: str = "100%") -> str:
    return (f'<figure><img src="{uri}" alt="{html.escape(caption)}" style="width:{width}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], text_columns: set[int],
           titles: Sequence[str] = ()) -> str:
    def cell(tag: str, i: int, value: str, title: str = "") -> str:
        css = ' class="s"' if i in text_columns else ""
        tip = f' title="{html.escape(title)}"' if title else ""
        return f"<{tag}{css}{tip}>{html.escape(value)}</{tag}>"

    head = "".join(cell("th", i, h, titles[i] if i < len(titles) else "") for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _limits_table(limits: Sequence[Limit]) -> str:
    rows = [limit_cells(limit) for limit in limits]
    return _table(LIMIT_HEADERS, rows, {0, 1, 4, 7, 9})


def _summary_table(rows: list[dict[str, Any]]) -> str:
    columns = [c for c in COLUMNS if c.in_text]
    cells = [["-" if row.get(c.key) is None else format(row[c.key], c.fmt) for c in columns] for row in rows]
    return _table([c.header for c in columns], cells, {0, 1}, [c.description for c in columns])


def _chosen_cases(records: list[dict[str, Any]], model: str) -> list[tuple[str, str]]:
    """(label, case id) of the best, median and worst case: by the case's mean Dice against the truth over all
    of ``model``'s records (fewer when there are fewer cases)."""
    by_case: dict[str, list[float]] = {}
    for r in records:
        if r["model"] == model and r["vs_truth"].get("dice") is not None:
            by_case.setdefault(r["case_id"], []).append(float(r["vs_truth"]["dice"]))
    ranked = sorted(by_case, key=lambda c: sum(by_case[c]) / len(by_case[c]), reverse=True)
    if not ranked:
        return []
    picks = [("best", ranked[0]), ("median", ranked[len(ranked) // 2]), ("worst", ranked[-1])]
    seen: set[str] = set()
    return [(label, case) for label, case in picks if not (case in seen or seen.add(case))]


def _overlay_settings(rows: list[dict[str, Any]], limits: Sequence[Limit], model: str) -> list[str]:
    """The compression levels shown as rows: uncompressed; per codec its limit at the largest bound (mean
    criterion) and its most compressing setting."""
    chosen = [UNCOMPRESSED]
    for limit in limits:
        if limit.model == model and limit.mean is not None:
            chosen.append(limit.mean.setting)
    extremes: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["model"] == model and row["setting"] != UNCOMPRESSED and row["ratio"]:
            codec = row["setting"].split(":", 1)[0]
            if codec not in extremes or row["ratio"] > extremes[codec]["ratio"]:
                extremes[codec] = row
    chosen += [row["setting"] for row in extremes.values()]
    return list(dict.fromkeys(chosen))


def _overlays(store: ResultStore, records: list[dict[str, Any]], rows: list[dict[str, Any]],
              limits: Sequence[Limit], model: str, dpi: int, progress: Progress) -> list[str]:
    """The overlay figures of ``model`` (HTML), or a paragraph saying why there are none."""
    from cerebro.benchmark.overlay import overlay_grid
    from cerebro.datasets.labels import load_label
    from cerebro.io import read_volume

    cases = {case.case_id: case for case in store.cases()}
    chosen = _chosen_cases(records, model)
    if not cases or not chosen:
        return ["<p>No overlays: the store does not list its cases' files (written by an older `benchmark run`; "
                "run it again on the same dataset to add them).</p>"]
    settings = _overlay_settings(rows, limits, model)
    ratio = {r["setting"]: r["ratio"] for r in rows if r["model"] == model}
    by_key = {(r["case_id"], r["setting"]): r for r in records if r["model"] == model}
    parts = []
    for number, (label, case_id) in enumerate(chosen):
        progress.update(number / len(chosen), f"overlays: {label} case {case_id}")
        case = cases.get(case_id)
        if case is None or not Path(case.image_path).is_file() or case.label_path is None \
                or not Path(case.label_path).is_file():
            parts.append(f"<p>No overlay of {html.escape(case_id)}: its image or label is no longer at the path "
                         "the store lists.</p>")
            continue
        image, truth = read_volume(case.image_path), load_label(case)
        grid = []
        for setting in settings:
            record = by_key.get((case_id, setting))
            mask = store.read_prediction(record) if record else None
            if mask is None or mask.shape != truth.shape:
                continue
            dice = record["vs_truth"].get("dice")
            cr = ratio.get(setting) or 1.0
            grid.append((f"{setting}\nCR {cr:.1f}, Dice {dice:.4f}" if dice is not None else setting, mask.array))
        if not grid:
            parts.append(f"<p>No overlay of {html.escape(case_id)}: the store kept no predictions of it.</p>")
            continue
        figure = overlay_grid(image.array, image.spacing, truth.array, grid,
                              f"{model}, {label} case {case_id} (original image, slab MIPs)")
        parts.append(_figure(_png(figure, dpi), f"{label.capitalize()} case {case_id}: one row per compression "
                             f"level (uncompressed, each codec's limit, each codec's most compressing setting); "
                             f"{dpi} DPI"))
    return parts


def build_report(store: ResultStore, bounds: Sequence[float] = DEFAULT_BOUNDS, against: str = "truth",
                 overlay_dpi: int = 300, progress: Progress | None = None) -> str:
    """The report of ``store`` as one HTML document (str)."""
    progress = progress or Progress()
    records = store.records()
    if not records:
        raise CerebroError(f"{store.folder} holds no results yet; run `cerebro benchmark run --store {store.folder}`")
    if not bounds:
        raise CerebroError("give at least one --max-dice-loss bound")
    rows = summarise(records)
    models = list(dict.fromkeys(r["model"] for r in records))
    limits_by_bound = {bound: compression_limits(records, bound, against) for bound in sorted(bounds)}
    cases = sorted({r["case_id"] for r in records})
    modes = sorted({codec_mode(r["setting"]) for r in records if r["setting"] != UNCOMPRESSED})
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>CerebroBench report: "
             f"{html.escape(store.folder.name)}</title><style>{_STYLE}</style></head><body>",
             "<h1>How far can these volumes be compressed before segmentation gets worse?</h1>",
             f'<p class="meta">CerebroBench {__version__} report of <code>{html.escape(str(store.folder))}</code>, '
             f"{when}: {len(records)} records, {len(cases)} cases, {len(models)} model(s) "
             f"({html.escape(', '.join(models))}), {len(rows)} model x setting rows, codec modes "
             f"{html.escape(', '.join(modes) or 'none')}.</p>",
             '<nav><a href="#limits">Limits</a><a href="#curves">Dice vs ratio</a><a href="#paper">Per codec mode'
             '</a><a href="#table">Results table</a><a href="#overlays">Overlays</a></nav>',
             '<h2 id="limits">How far can I compress?</h2>',
             "<p>Per model and codec (all its modes), the setting with the largest compression ratio whose Dice "
             + ("loss stays within the bound: the loss of a case is its Dice against the truth on the uncompressed "
                "volume minus that on the decoded one (negative: compression helped)."
                if against == "truth" else "loss stays within the bound: the loss of a case is 1 - Dice between "
                "the predictions on the decoded and on the uncompressed volume.")
             + " Judged on the mean over cases and on the worst case; a setting counts only when every case has "
               "a record.</p>"]
    for bound, limits in limits_by_bound.items():
        parts.append(f"<h3>Dice loss &le; {bound:g} (against {html.escape(against)})</h3>")
        parts.append(_limits_table(limits) if limits else '<p class="none">No complete compressed setting yet.</p>')
    progress.update(0.1, "figures")
    parts.append('<h2 id="curves">Dice against compression ratio</h2>')
    for model in models:
        try:
            parts.append(_figure(_png(dice_vs_ratio_figure(rows, model, list(bounds)), 150),
                                 f"{model}: mean Dice against the truth over compression ratio, every codec mode "
                                 "(settings run on every case); the green bands are the Dice-loss bounds below the "
                                 "uncompressed Dice"))
        except CerebroError as error:
            parts.append(f'<p class="none">{html.escape(str(error))}</p>')
    parts.append('<h2 id="paper">Compression ratio and mean Dice per codec mode</h2>'
                 "<p>The paper's dual-axis figures: bars are the compression ratio, the line the mean Dice, the "
                 "dashed line the Dice on the uncompressed volumes.</p>")
    try:
        parts.append(_figure(_png(ratio_dice_figure(rows), 110), "compression ratio (bars) and mean Dice (line) "
                             "for each setting", width="75%"))
    except CerebroError as error:
        parts.append(f'<p class="none">{html.escape(str(error))}</p>')
    parts.append('<h2 id="table">Results</h2><p>One row per model and setting; "all" pools the voxels of every '
                 'case, "mean" averages over cases. Hover a column header for its unit.</p>')
    parts.append(_summary_table(rows))
    parts.append('<h2 id="overlays">Overlays</h2>')
    largest = limits_by_bound[max(limits_by_bound)]
    for number, model in enumerate(models):
        parts += _overlays(store, records, rows, largest, model, overlay_dpi,
                           progress.sub(0.2 + 0.8 * number / len(models), 0.2 + 0.8 * (number + 1) / len(models)))
    parts.append(f'<p class="meta">Written by <code>cerebro benchmark report</code> (CerebroBench {__version__}).'
                 "</p></body></html>")
    progress.update(1.0, "report done")
    return "\n".join(parts)


def write_report(store_folder: str | os.PathLike[str], output: str | os.PathLike[str],
                 bounds: Sequence[float] = DEFAULT_BOUNDS, against: str = "truth", overlay_dpi: int = 300,
                 progress: Progress | None = None) -> Path:
    """Write the HTML report of the result store at ``store_folder`` to ``output`` (.html, atomically)."""
    require_output_suffix(output, (".html", ".htm"), "report")
    require_writable(output, "report")
    if not 50 <= overlay_dpi <= 600:
        raise CerebroError(f"--overlay-dpi must be between 50 and 600, got {overlay_dpi}")
    folder = Path(store_folder)
    if not folder.is_dir():
        raise CerebroError(f"result folder not found: {folder}; run `cerebro benchmark run --store` first")
    text = build_report(ResultStore(folder), bounds, against, overlay_dpi, progress)
    target = Path(output)
    data = text.encode("utf-8")
    require_free_space(target, len(data))  # figures are inlined: a report can be megabytes
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target
