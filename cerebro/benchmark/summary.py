"""Benchmark records -> the paper's tables: per model and setting, the compressed size, compression ratio, mean
PSNR/SSIM, and each overlap metric both 'overall' (from the voxel counts pooled over all cases) and as the mean
over cases, plus clDice, HD95 and the Dice against the prediction on the uncompressed volume."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cerebro.benchmark.sweep import UNCOMPRESSED
from cerebro.benchmark.table import FORMATS as TABLE_FORMATS
from cerebro.benchmark.table import check_format, render_table
from cerebro.cbv.compressed import MB
from cerebro.metrics.overlap import Confusion

COUNTS = ("tp", "fp", "fn", "tn")  # the voxel counts of a record, pooled over cases into the "_overall" ratios
FORMATS = TABLE_FORMATS


@dataclass(frozen=True)
class Column:
    """One column of the results: the summary row's key, its header, text format, unit and meaning; ``in_text``:
    shown by ``cerebro benchmark table`` (text / Markdown; CSV and the Slicer table have every column)."""

    key: str
    header: str
    fmt: str
    unit: str = ""
    description: str = ""
    in_text: bool = True


# The results table's columns, the one list (the CLI's tables and the Slicer panel's table node); None prints "-".
COLUMNS: tuple[Column, ...] = (
    Column("model", "model", "s", "", "segmentation model"),
    Column("setting", "setting", "s", "", "codec:mode:settings"),
    Column("cases", "n", "d", "cases", "number of cases"),
    Column("compressed_mb", "size MB", ".2f", "MB", "compressed bytes summed over cases"),
    Column("ratio", "CR", ".2f", ":1", "compression ratio: original bytes / file bytes, pooled over cases"),
    Column("bits_per_voxel", "bits/voxel", ".3f", "bits", "file bits per voxel, mean over cases", False),
    Column("psnr_db", "PSNR", ".2f", "dB", "peak signal-to-noise ratio over max - min, mean over cases"),
    Column("ssim", "SSIM", ".4f", "", "3D structural similarity, mean over cases"),
    Column("max_abs_error", "max error", ".4g", "image units", "largest absolute voxel error over all cases", False),
    Column("dice_overall", "Dice all", ".5f", "", "Dice of the voxels pooled over cases, against the reference"),
    Column("dice_mean", "Dice mean", ".5f", "", "Dice against the reference, mean over cases"),
    Column("iou_overall", "IoU all", ".5f", "", "IoU (Jaccard) pooled over cases"),
    Column("iou_mean", "IoU mean", ".5f", "", "IoU, mean over cases"),
    Column("sensitivity_overall", "Sens all", ".5f", "", "sensitivity pooled over cases"),
    Column("sensitivity_mean", "Sens mean", ".5f", "", "sensitivity, mean over cases"),
    Column("precision_overall", "Prec all", ".5f", "", "precision pooled over cases", False),
    Column("precision_mean", "Prec mean", ".5f", "", "precision, mean over cases", False),
    Column("volume_similarity_overall", "VS all", ".5f", "", "volume similarity pooled over cases"),
    Column("volume_similarity_mean", "VS mean", ".5f", "", "volume similarity, mean over cases"),
    Column("cldice_mean", "clDice", ".4f", "", "centreline Dice (topology-aware), mean over cases"),
    Column("hd95_mm_mean", "HD95 mm", ".2f", "mm", "95th percentile Hausdorff distance, mean over cases"),
    Column("dice_vs_uncompressed_mean", "Dice/uncomp.", ".5f", "",
           "Dice against the model's prediction on the uncompressed volume, mean over cases"),
)


def _mean(values: Iterable[Any]) -> float | None:
    """Mean of the finite numbers among ``values`` (None when there are none)."""
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def _max(values: Iterable[Any]) -> float | None:
    """Largest finite number among ``values`` (None when there are none)."""
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return max(finite) if finite else None


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, setting): the uncompressed baseline first, then the settings in the order they ran."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["model"], record["setting"]), []).append(record)
    models = list(dict.fromkeys(r["model"] for r in records))
    order = sorted(groups, key=lambda k: (models.index(k[0]), k[1] != UNCOMPRESSED))  # stable: run order kept
    return [_row(model, setting, groups[(model, setting)]) for model, setting in order]


def _row(model: str, setting: str, group: list[dict[str, Any]]) -> dict[str, Any]:
    original = sum(r["compression"]["original_nbytes"] for r in group)
    compressed = sum(r["compression"]["compressed_nbytes"] for r in group)
    pooled = Confusion(0, 0, 0, 0)
    for r in group:
        pooled += Confusion(*(int(r["vs_truth"][k]) for k in ("tp", "fp", "fn", "tn")))
    row: dict[str, Any] = {
        "model": model, "setting": setting, "cases": len(group), "original_mb": original / MB,
        "compressed_mb": compressed / MB, "ratio": original / compressed if compressed else None,
        "bits_per_voxel": _mean(r["compression"].get("bits_per_voxel") for r in group),
        "max_abs_error": _max(r["compression"].get("max_abs_error") for r in group),
        "psnr_db": _mean(r["compression"].get("psnr_db") for r in group),
        "ssim": _mean(r["compression"].get("ssim") for r in group),
    }
    ratios = pooled.ratios()
    # every metric of the records (cerebro.metrics.segmentation): its mean over cases; the overlap ratios pooled too
    names = dict.fromkeys([*ratios, *(name for r in group for name in r["vs_truth"] if name not in COUNTS)])
    for name in names:
        if name in ratios:
            row[f"{name}_overall"] = ratios[name] if math.isfinite(ratios[name]) else None
        row[f"{name}_mean"] = _mean(r["vs_truth"].get(name) for r in group)
    row["dice_vs_uncompressed_mean"] = _mean(r["vs_uncompressed"].get("dice") for r in group)
    row.update({column.key: None for column in COLUMNS if column.key not in row})  # not measured: None
    return row


# The demo's table: one case, so no overall-vs-mean pairs; the compression side in more detail.
DEMO_COLUMNS: tuple[Column, ...] = (
    Column("setting", "ZFP setting", "s"), Column("ratio", "ratio", ".1f"), Column("bits_per_voxel", "bits/vx", ".2f"),
    Column("psnr_db", "PSNR dB", ".1f"), Column("ssim", "SSIM", ".4f"), Column("max_abs_error", "max err", ".0f"),
    Column("dice_mean", "Dice/truth", ".4f"), Column("cldice_mean", "clDice/truth", ".4f"),
    Column("dice_vs_uncompressed_mean", "Dice/uncomp.", ".4f"),
)


def render(rows: list[dict[str, Any]], fmt: str = "text", columns: tuple[Column, ...] = COLUMNS) -> str:
    """The summary as a fixed-width text table or a Markdown table of the ``columns`` shown in text, or CSV (every
    field of every row)."""
    check_format(fmt)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else [c.key for c in COLUMNS])
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    shown = [c for c in columns if c.in_text]
    cells = [["-" if row.get(c.key) is None else format(row[c.key], c.fmt) for c in shown] for row in rows]
    return render_table([c.header for c in shown], cells, [c.fmt != "s" for c in shown], fmt)
