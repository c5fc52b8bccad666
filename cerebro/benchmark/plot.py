"""The benchmark's figures. The paper's dual-axis figures: compression ratio (left axis, bars) and mean Dice (right
axis, line) across the settings of one codec mode, one panel per model and codec mode, the uncompressed Dice as a
dashed line. And Dice against compression ratio for every codec mode on one chart per model, with the bands of the
Dice-loss bounds below the uncompressed Dice."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cerebro.benchmark.sweep import UNCOMPRESSED
from cerebro.errors import CerebroError
from cerebro.fsutil import atomic_path, require_output_suffix


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (no screen needed).

    matplotlib keeps a font cache in ``$MPLCONFIGDIR`` or ``~/.config/matplotlib``; where neither can be written (a
    read-only home, a service account) it complains in two lines on every run, so a private temporary folder is
    given to it instead."""
    if "matplotlib" not in sys.modules and not os.environ.get("MPLCONFIGDIR"):
        home_config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "matplotlib"
        place = home_config if home_config.exists() else home_config.parent
        while not place.exists() and place != place.parent:
            place = place.parent
        if not os.access(place, os.W_OK | os.X_OK):
            os.environ["MPLCONFIGDIR"] = tempfile.mkdtemp(prefix="cerebro-matplotlib-")
            atexit.register(shutil.rmtree, os.environ["MPLCONFIGDIR"], ignore_errors=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def codec_mode(setting: str) -> str:
    """``codec:mode`` of a setting key ``codec:mode[:values]``."""
    return ":".join(setting.split(":")[:2])


def _panels(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Summary rows grouped by (model, 'codec:mode'), without the uncompressed rows and without settings run on
    fewer cases than the model's uncompressed baseline (their mean is over other cases: not comparable)."""
    baseline_cases = {r["model"]: r["cases"] for r in rows if r["setting"] == UNCOMPRESSED}
    panels: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row["setting"] != UNCOMPRESSED and row["cases"] >= baseline_cases.get(row["model"], 0):
            panels.setdefault((row["model"], codec_mode(row["setting"])), []).append(row)
    return panels


def ratio_dice_figure(rows: list[dict[str, Any]]) -> Any:
    """The paper's dual-axis figure of the summary ``rows`` (:func:`~cerebro.benchmark.summary.summarise`)."""
    plt = pyplot()
    panels = _panels(rows)
    if not panels:
        raise CerebroError("the results hold no compressed settings yet; run `cerebro benchmark run` first")
    baseline = {r["model"]: r["dice_mean"] for r in rows if r["setting"] == UNCOMPRESSED}
    figure, axes = plt.subplots(len(panels), 1, figsize=(7, 3.2 * len(panels)), squeeze=False)
    for ax, ((model, mode), group) in zip(axes[:, 0], panels.items()):
        group = sorted(group, key=lambda r: r["ratio"] or 0)
        labels = [r["setting"].split(":", 2)[2] if r["setting"].count(":") == 2 else r["setting"] for r in group]
        positions = range(len(group))
        ax.bar(positions, [r["ratio"] or 0 for r in group], color="tab:blue", alpha=0.6)
        ax.set_ylabel("compression ratio", color="tab:blue")
        ax.set_xticks(list(positions), labels, rotation=20, fontsize=8)
        ax.set_title(f"{model}: {mode}", fontsize=10)
        dice_axis = ax.twinx()
        dice_axis.plot(list(positions), [r["dice_mean"] for r in group], "o-", color="tab:red", label="mean Dice")
        if baseline.get(model) is not None:
            dice_axis.axhline(baseline[model], color="tab:red", linestyle="--", linewidth=1, label="uncompressed")
        dice_axis.set_ylabel("mean Dice", color="tab:red")
        dice_axis.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    return figure


def dice_vs_ratio_figure(rows: list[dict[str, Any]], model: str, bounds: Sequence[float] = ()) -> Any:
    """Mean Dice (against the truth) over compression ratio (log axis) for every codec mode of ``model``, with
    the uncompressed Dice as a dashed line and a shaded band for each Dice-loss bound below it: the whole range on
    the left, and zoomed to the bounds on the right (where the limits are decided)."""
    plt = pyplot()
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    panels = {mode: group for (m, mode), group in _panels(rows).items() if m == model}
    if not panels:
        raise CerebroError(f"the results hold no compressed settings of {model}")
    baseline = next((r["dice_mean"] for r in rows if r["model"] == model and r["setting"] == UNCOMPRESSED), None)
    figure, axes = plt.subplots(1, 2 if baseline is not None else 1, figsize=(12, 4.6), squeeze=False)
    for number, ax in enumerate(axes[0]):
        if baseline is not None:
            ax.axhline(baseline, color="black", linestyle="--", linewidth=1, label="uncompressed")
            for bound, alpha in zip(sorted(bounds), (0.18, 0.09, 0.05)):
                ax.axhspan(baseline - bound, baseline, color="tab:green", alpha=alpha, linewidth=0,
                           label=f"Dice loss <= {bound:g}")
        for mode, group in panels.items():
            group = sorted((r for r in group if r["ratio"] and r["dice_mean"] is not None), key=lambda r: r["ratio"])
            ax.plot([r["ratio"] for r in group], [r["dice_mean"] for r in group], "o-", markersize=4, label=mode)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("compression ratio (original bytes / file bytes, log scale)")
        ax.grid(True, which="both", alpha=0.3)
        if number == 0:
            ax.set_ylabel("mean Dice against the truth")
            ax.set_title(f"{model}: Dice against compression ratio, every codec", fontsize=10)
            ax.legend(fontsize=8, loc="lower left")
        else:
            widest = max(bounds, default=0.01)
            ax.set_ylim(baseline - 3 * widest, baseline + widest / 2)
            ax.set_title("zoomed to the Dice-loss bounds", fontsize=10)
    figure.tight_layout()
    return figure


def save_figure(figure: Any, path: str | os.PathLike[str], dpi: int = 150) -> Path:
    """Write ``figure`` atomically (.png, .pdf or .svg) and close it."""
    require_output_suffix(path, (".png", ".pdf", ".svg"), "figure")
    target = Path(path)
    try:
        with atomic_path(target) as tmp:
            figure.savefig(tmp, dpi=dpi, format=target.suffix.lstrip(".").lower())
    finally:
        pyplot().close(figure)
    return target


def plot_ratio_vs_dice(rows: list[dict[str, Any]], path: str | os.PathLike[str], dpi: int = 150) -> Path:
    """Write the dual-axis figure of the summary ``rows``: .png, .pdf or .svg."""
    require_output_suffix(path, (".png", ".pdf", ".svg"), "figure")
    return save_figure(ratio_dice_figure(rows), path, dpi)
