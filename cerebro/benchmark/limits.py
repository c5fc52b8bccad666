""""How far can I compress?": per model and codec, the largest compression ratio whose Dice loss stays within a
bound, judged on the mean over cases and on the worst case.

The Dice loss of a case at a setting is, ``against="truth"``, the Dice of the model's prediction on the original
volume minus its Dice on the decoded one (both against the ground truth; negative when compression helped), and,
``against="uncompressed"``, ``1 - Dice`` between the predictions on the decoded and on the original volume. A
setting counts only when it holds a record for every case of the model's uncompressed baseline, so a partly run
setting never looks better than it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cerebro.benchmark.sweep import UNCOMPRESSED
from cerebro.benchmark.table import FORMATS as TABLE_FORMATS
from cerebro.benchmark.table import check_format, render_table
from cerebro.errors import CerebroError

AGAINST = ("truth", "uncompressed")
CRITERIA = ("mean", "worst")
FORMATS = (*TABLE_FORMATS, "json")


@dataclass(frozen=True)
class SettingLoss:
    """One setting of one model over the baseline's cases: pooled ratio and the Dice loss, mean and worst."""

    model: str
    setting: str
    cases: int
    ratio: float
    mean_loss: float
    worst_loss: float
    worst_case: str

    @property
    def codec(self) -> str:
        """The codec name, the first part of ``codec:mode[:settings]``."""
        return self.setting.split(":", 1)[0]

    def loss(self, criterion: str) -> float:
        """The loss under ``criterion`` ("mean" or "worst")."""
        return self.mean_loss if criterion == "mean" else self.worst_loss


@dataclass(frozen=True)
class Limit:
    """The largest-ratio setting of one model and codec within the bound under each criterion (None: none is)."""

    model: str
    codec: str
    max_dice_loss: float
    against: str
    settings_evaluated: int
    mean: SettingLoss | None
    worst: SettingLoss | None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)


def _case_loss(record: dict[str, Any], baseline: dict[str, Any], against: str) -> float | None:
    """The Dice loss of one record against its case's uncompressed record (None when a Dice is missing)."""
    if against == "uncompressed":
        dice = record["vs_uncompressed"].get("dice")
        return None if dice is None else 1.0 - float(dice)
    before, after = baseline["vs_truth"].get("dice"), record["vs_truth"].get("dice")
    return None if before is None or after is None else float(before) - float(after)


def setting_losses(records: Sequence[dict[str, Any]], against: str = "truth") -> list[SettingLoss]:
    """Every (model, setting) with records for all cases of the model's uncompressed baseline, in run order."""
    if against not in AGAINST:
        raise CerebroError(f"unknown reference {against!r}; use one of: {', '.join(AGAINST)}")
    baselines: dict[str, dict[str, dict[str, Any]]] = {}
    groups: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for record in records:
        if record["setting"] == UNCOMPRESSED:
            baselines.setdefault(record["model"], {})[record["case_id"]] = record
        else:
            groups.setdefault((record["model"], record["setting"]), {})[record["case_id"]] = record
    result = []
    for (model, setting), by_case in groups.items():
        cases = baselines.get(model, {})
        if not cases or any(case_id not in by_case for case_id in cases):
            continue
        losses = {case_id: _case_loss(by_case[case_id], cases[case_id], against) for case_id in cases}
        if any(value is None for value in losses.values()):
            continue
        original = sum(by_case[c]["compression"]["original_nbytes"] for c in cases)
        compressed = sum(by_case[c]["compression"]["compressed_nbytes"] for c in cases)
        worst_case = max(losses, key=lambda c: losses[c])
        result.append(SettingLoss(model, setting, len(cases), original / compressed if compressed else math.inf,
                                  sum(losses.values()) / len(losses), losses[worst_case], worst_case))
    return result


def _best(candidates: list[SettingLoss], criterion: str, bound: float) -> SettingLoss | None:
    """The highest ratio among the candidates within the bound (ties: the smaller loss)."""
    within = [c for c in candidates if c.loss(criterion) <= bound]
    return max(within, key=lambda c: (c.ratio, -c.loss(criterion))) if within else None


def compression_limits(records: Sequence[dict[str, Any]], max_dice_loss: float,
                       against: str = "truth") -> list[Limit]:
    """Per model and codec (all its modes together): the largest compression ratio whose Dice loss is at most
    ``max_dice_loss`` (a Dice difference, e.g. 0.001), as the mean over cases and in the worst case."""
    if not (isinstance(max_dice_loss, (int, float)) and math.isfinite(max_dice_loss) and 0 <= max_dice_loss < 1):
        raise CerebroError(f"--max-dice-loss must be a Dice difference in [0, 1), e.g. 0.001; got {max_dice_loss}")
    by_codec: dict[tuple[str, str], list[SettingLoss]] = {}
    for loss in setting_losses(records, against):
        by_codec.setdefault((loss.model, loss.codec), []).append(loss)
    return [Limit(model, codec, float(max_dice_loss), against, len(group), _best(group, "mean", max_dice_loss),
                  _best(group, "worst", max_dice_loss)) for (model, codec), group in by_codec.items()]


LIMIT_HEADERS = ("model", "codec", "settings", "CR (mean)", "setting (mean)", "mean loss",
            "CR (worst)", "setting (worst)", "worst loss", "worst case")


def limit_cells(limit: Limit) -> list[str]:
    """One limits-table row as text cells, in the order of the table's headers."""
    def part(best: SettingLoss | None, criterion: str) -> list[str]:
        if best is None:
            return ["-", "none within the bound", "-"]
        return [f"{best.ratio:.2f}", best.setting, f"{best.loss(criterion):+.5f}"]

    worst_case = limit.worst.worst_case if limit.worst else "-"
    return [limit.model, limit.codec, str(limit.settings_evaluated), *part(limit.mean, "mean"),
            *part(limit.worst, "worst"), worst_case]


def render_limits(limits: Sequence[Limit], fmt: str = "text") -> str:
    """The limits as a text table, a Markdown table, CSV or JSON (a title line states the bound and reference)."""
    import json

    check_format(fmt, FORMATS)
    if fmt == "json":
        return json.dumps([limit.as_dict() for limit in limits], indent=2) + "\n"
    title = ""
    if limits and fmt != "csv":
        title = (f"largest compression ratio with Dice loss <= {limits[0].max_dice_loss:g} "
                 f"(against {limits[0].against})\n")
    numeric = [i in (2, 3, 5, 6, 8) for i in range(len(LIMIT_HEADERS))]
    return title + render_table(LIMIT_HEADERS, [limit_cells(limit) for limit in limits], numeric, fmt)
