"""The paper's dual-axis figures: compression ratio (left axis, bars) and mean Dice (right axis, line) across the
settings of one codec mode, one panel per model and codec mode, the uncompressed Dice as a dashed line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cerebro.benchmark.sweep import UNCOMPRESSED
from cerebro.errors import CerebroError
from cerebro.fsutil import atomic_path, require_output_suffix


def _panels(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Summary rows grouped by (model, 'codec:mode'), without the uncompressed rows."""
    panels: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row["setting"] != UNCOMPRESSED:
            codec_mode = ":".join(row["setting"].split(":")[:2])
            panels.setdefault((row["model"], codec_mode), []).append(row)
    return panels


def plot_ratio_vs_dice(rows: list[dict[str, Any]], path: str | os.PathLike[str], dpi: int = 150) -> Path:
    """Write the figure of the summary ``rows`` (:func:`~cerebro.benchmark.summary.summarise`): .png, .pdf or .svg."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    require_output_suffix(path, (".png", ".pdf", ".svg"), "figure")
    panels = _panels(rows)
    if not panels:
        raise CerebroError("the results hold no compressed settings yet; run `cerebro benchmark run` first")
    baseline = {r["model"]: r["dice_mean"] for r in rows if r["setting"] == UNCOMPRESSED}
    figure, axes = plt.subplots(len(panels), 1, figsize=(7, 3.2 * len(panels)), squeeze=False)
    for ax, ((model, codec_mode), group) in zip(axes[:, 0], panels.items()):
        group = sorted(group, key=lambda r: r["ratio"] or 0)
        labels = [r["setting"].split(":", 2)[2] if r["setting"].count(":") == 2 else r["setting"] for r in group]
        positions = range(len(group))
        ax.bar(positions, [r["ratio"] or 0 for r in group], color="tab:blue", alpha=0.6)
        ax.set_ylabel("compression ratio", color="tab:blue")
        ax.set_xticks(list(positions), labels, rotation=20, fontsize=8)
        ax.set_title(f"{model}: {codec_mode}", fontsize=10)
        dice_axis = ax.twinx()
        dice_axis.plot(list(positions), [r["dice_mean"] for r in group], "o-", color="tab:red", label="mean Dice")
        if baseline.get(model) is not None:
            dice_axis.axhline(baseline[model], color="tab:red", linestyle="--", linewidth=1, label="uncompressed")
        dice_axis.set_ylabel("mean Dice", color="tab:red")
        dice_axis.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    target = Path(path)
    with atomic_path(target) as tmp:
        figure.savefig(tmp, dpi=dpi)
    plt.close(figure)
    return target
