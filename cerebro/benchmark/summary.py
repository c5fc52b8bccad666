"""Benchmark records -> the paper's tables: per model and setting, the compressed size, compression ratio, mean
PSNR/SSIM, and each overlap metric both 'overall' (from the voxel counts pooled over all cases) and as the mean
over cases, plus clDice, HD95 and the Dice against the prediction on the uncompressed volume."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from typing import Any

from cerebro.benchmark.sweep import UNCOMPRESSED
from cerebro.compressed import MB
from cerebro.errors import CerebroError
from cerebro.metrics.overlap import Confusion

OVERLAP = ("dice", "iou", "sensitivity", "precision", "volume_similarity")
FORMATS = ("text", "markdown", "csv")

# (row key, header, format) of the table; None values print as "-".
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("model", "model", "s"), ("setting", "setting", "s"), ("cases", "n", "d"),
    ("compressed_mb", "size MB", ".2f"), ("ratio", "CR", ".2f"), ("psnr_db", "PSNR", ".2f"), ("ssim", "SSIM", ".4f"),
    ("dice_overall", "Dice all", ".5f"), ("dice_mean", "Dice mean", ".5f"),
    ("iou_overall", "IoU all", ".5f"), ("iou_mean", "IoU mean", ".5f"),
    ("sensitivity_overall", "Sens all", ".5f"), ("sensitivity_mean", "Sens mean", ".5f"),
    ("volume_similarity_overall", "VS all", ".5f"), ("volume_similarity_mean", "VS mean", ".5f"),
    ("cldice_mean", "clDice", ".4f"), ("hd95_mm_mean", "HD95 mm", ".2f"),
    ("dice_vs_uncompressed_mean", "Dice/uncomp.", ".5f"),
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
    for name in OVERLAP:
        overall = getattr(pooled, name)
        row[f"{name}_overall"] = overall if math.isfinite(overall) else None
        row[f"{name}_mean"] = _mean(r["vs_truth"].get(name) for r in group)
    for name in ("cldice", "hd95_mm", "assd_mm", "b0_error", "b1_error"):
        row[f"{name}_mean"] = _mean(r["vs_truth"].get(name) for r in group)
    row["dice_vs_uncompressed_mean"] = _mean(r["vs_uncompressed"].get("dice") for r in group)
    return row


# The demo's table: one case, so no overall-vs-mean pairs; the compression side in more detail.
DEMO_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("setting", "ZFP setting", "s"), ("ratio", "ratio", ".1f"), ("bits_per_voxel", "bits/vx", ".2f"),
    ("psnr_db", "PSNR dB", ".1f"), ("ssim", "SSIM", ".4f"), ("max_abs_error", "max err", ".0f"),
    ("dice_mean", "Dice/truth", ".4f"), ("cldice_mean", "clDice/truth", ".4f"),
    ("dice_vs_uncompressed_mean", "Dice/uncomp.", ".4f"),
)


def render(rows: list[dict[str, Any]], fmt: str = "text",
           columns: tuple[tuple[str, str, str], ...] = COLUMNS) -> str:
    """The summary as a fixed-width text table, a Markdown table, or CSV (every field of every row); ``columns``:
    (row key, header, format) of each text/Markdown column."""
    if fmt not in FORMATS:
        raise CerebroError(f"unknown table format {fmt!r}; use one of: {', '.join(FORMATS)}")
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else [k for k, _, _ in COLUMNS])
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    cells = [[header for _, header, _ in columns]]
    for row in rows:
        cells.append(["-" if row.get(key) is None else format(row[key], spec) for key, _, spec in columns])
    if fmt == "markdown":
        lines = ["| " + " | ".join(line) + " |" for line in cells]
        lines.insert(1, "|" + "|".join("---" if spec == "s" else "---:" for _, _, spec in columns) + "|")
        return "\n".join(lines) + "\n"
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) if spec == "s" else c.rjust(w)
                       for c, w, (_, _, spec) in zip(line, widths, columns)) for line in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines) + "\n"
