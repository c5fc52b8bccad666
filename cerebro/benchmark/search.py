"""Rate control on segmentation quality: the most compressing value of a codec's setting whose Dice loss stays
within a bound, found by bracketing and bisection over the setting (tolerance, rate, ratio...).

Each trial is an ordinary benchmark run of one setting over the cases (:func:`~cerebro.benchmark.runner.
run_benchmark`), so its records land in the store: a search resumes where it stopped (a repeated search replays
the same trials from the store), and its trials show in ``cerebro benchmark table`` and ``limits``. The loss is
that of :mod:`cerebro.benchmark.limits`, judged on the mean over cases or on the worst case. The search assumes
that more compression never lowers the loss (true of the codecs' size knobs up to noise) and recommends the
most compressing trial found within the bound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cerebro.benchmark.limits import AGAINST, CRITERIA, SettingLoss, setting_losses
from cerebro.benchmark.runner import run_benchmark
from cerebro.benchmark.store import ResultStore
from cerebro.benchmark.sweep import SweepSetting
from cerebro.codecs.base import Codec, Setting, get_codec
from cerebro.codecs.setting import CodecSetting
from cerebro.datasets.manifest import Case
from cerebro.errors import CerebroError
from cerebro.progress import Progress, time_left
from cerebro.setting_search import Axis, bracket_and_bisect

_DIGITS = 3  # trial values are snapped to 3 significant digits (or integers): short, readable setting keys


@dataclass(frozen=True)
class SearchTrial:
    """One evaluated value of the searched setting over all cases."""

    value: float
    setting: str
    ratio: float
    mean_loss: float
    worst_loss: float
    within: bool


@dataclass
class DiceSearchResult:
    """What :func:`search_dice_limit` found; ``recommended`` is None when no trial stayed within the bound."""

    codec: str
    mode: str
    model: str
    setting_name: str
    max_dice_loss: float
    against: str
    criterion: str
    cases: int
    recommended: SearchTrial | None
    records_added: int
    trials: list[SearchTrial] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)

    def to_text(self) -> str:
        """The trials, one line each, and the recommendation."""
        lines = [f"{'setting':<40} {'CR':>8} {'mean loss':>10} {'worst loss':>11}  within"]
        lines += [f"{t.setting:<40} {t.ratio:8.2f} {t.mean_loss:+10.5f} {t.worst_loss:+11.5f}  "
                  f"{'yes' if t.within else 'no'}" for t in self.trials]
        bound = f"{self.criterion} Dice loss <= {self.max_dice_loss:g} against {self.against}"
        if self.recommended is None:
            lines.append(f"no {self.setting_name} of {self.codec}:{self.mode} keeps the {bound} on {self.cases} cases "
                         f"for {self.model}; try a lossless mode or a larger bound")
        else:
            best = self.recommended
            lines.append(f"recommended: {best.setting} -> CR {best.ratio:.2f}, mean loss {best.mean_loss:+.5f}, "
                         f"worst {best.worst_loss:+.5f} ({bound}; {self.model}, {self.cases} cases, "
                         f"{len(self.trials)} trials, {self.records_added} new records)")
        return "\n".join(lines)


def default_mode(codec: Codec) -> str:
    """The codec's first lossy mode that has a searchable setting."""
    from cerebro.ratecontrol import searchable_setting

    for mode, spec in codec.modes.items():
        if not spec.lossless:
            try:
                searchable_setting(codec, mode, None, "ratio")
                return mode
            except CerebroError:
                continue
    raise CerebroError(f"codec {codec.name} has no lossy mode with a setting to search; it is lossless only")


def _direction(codec: Codec, mode: str, spec: Setting, fixed: dict[str, Any], case: Case) -> int:
    """+1 when a larger value compresses more, -1 when less: declared, or probed on the first case's two ends."""
    if spec.name == "ratio":
        return 1
    if spec.monotonic:
        return 1 if spec.monotonic == "increasing" else -1
    from cerebro.cbv.compress import compress_volume
    from cerebro.cbv.container import container_bytes
    from cerebro.io import read_volume

    volume = read_volume(case.image_path)
    sizes = [len(container_bytes(compress_volume(volume, codec, mode, {**fixed, spec.name: end})))
             for end in (spec.minimum, spec.maximum)]
    return 1 if sizes[1] <= sizes[0] else -1


def search_dice_limit(cases: Sequence[Case], codec: str, model_id: str, store: ResultStore, max_dice_loss: float,
                      mode: str | None = None, against: str = "truth", criterion: str = "mean",
                      settings: dict[str, str] | None = None, setting: str | None = None, max_trials: int = 10,
                      resolution: float = 0.05, device: str = "auto", tta: bool = False, precision: str = "auto",
                      metrics: str = "all", cache_dir: str | None = None, allow_unpinned: bool = False,
                      progress: Progress | None = None) -> DiceSearchResult:
    """Search the setting of ``codec``/``mode`` for the largest compression with Dice loss <= ``max_dice_loss``.

    ``settings`` fixes the mode's other settings (NAME -> text value); ``setting`` names the searched one when
    the mode has several; ``max_trials`` caps the trials (each segments every case once); bisection stops when
    the bracket is narrower than ``resolution`` (relative, on a log axis). Raises CerebroError for bad requests.
    """
    from cerebro.ratecontrol import search_range, searchable_setting

    if against not in AGAINST:
        raise CerebroError(f"unknown reference {against!r}; use one of: {', '.join(AGAINST)}")
    if criterion not in CRITERIA:
        raise CerebroError(f"unknown criterion {criterion!r}; use one of: {', '.join(CRITERIA)}")
    if not (math.isfinite(max_dice_loss) and 0 <= max_dice_loss < 1):
        raise CerebroError(f"--max-dice-loss must be a Dice difference in [0, 1), e.g. 0.001; got {max_dice_loss}")
    if max_trials < 2:
        raise CerebroError(f"--max-trials must be at least 2, got {max_trials}")
    if not cases:
        raise CerebroError("the search needs at least one labelled case")
    codec_obj = get_codec(codec)
    mode = mode or default_mode(codec_obj)
    spec = searchable_setting(codec_obj, mode, setting, "ratio")
    fixed = dict(settings or {})
    if spec.name in fixed:
        raise CerebroError(f"{spec.name} is the setting being searched; do not also fix it with --setting "
                           f"{spec.name}={fixed[spec.name]}")
    spec = search_range(codec_obj, mode, spec, fixed)  # checks the fixed settings
    resolved = codec_obj.resolve_settings(mode, {**fixed, spec.name: spec.minimum})
    chosen = {name: resolved[name] for name in fixed}
    progress = progress or Progress()
    axis = Axis(spec, _DIGITS)
    direction = _direction(codec_obj, mode, spec, chosen, cases[0])
    trials: dict[float, SearchTrial] = {}
    added = [0]
    started = time.monotonic()

    def evaluate(u: float) -> SearchTrial:
        x = axis.value(u)
        if x in trials:
            return trials[x]
        if len(trials) >= max_trials:
            raise _OutOfTrials
        sweep = SweepSetting(CodecSetting.of(codec_obj, mode, {**chosen, spec.name: x}))
        band = progress.sub(len(trials) / max_trials, (len(trials) + 1) / max_trials)
        left = time_left(time.monotonic() - started, len(trials), max_trials)
        band.update(0.0, f"trial {len(trials) + 1} of at most {max_trials}: {sweep.key}"
                    + (f" (at most {left})" if left else ""))
        added[0] += run_benchmark(cases, [sweep], [model_id], store, device=device, tta=tta, precision=precision,
                                  metrics=metrics,
                                  cache_dir=cache_dir, allow_unpinned=allow_unpinned, progress=band)
        loss = _loss_of(store, model_id, sweep.key, against, len(cases))
        trials[x] = SearchTrial(x, sweep.key, loss.ratio, loss.mean_loss, loss.worst_loss,
                                loss.loss(criterion) <= max_dice_loss)
        return trials[x]

    start = axis.to_axis(float(spec.default)) if spec.default is not None else _default_start(axis, cases[0])
    with store.writer():  # one writer across all trials
        try:
            bracket_and_bisect(axis, direction, evaluate, lambda trial: trial.within, start,
                               math.log1p(resolution) if axis.log else resolution * (axis.high - axis.low))
        except _OutOfTrials:
            pass
    within = [t for t in trials.values() if t.within]
    best = max(within, key=lambda t: (t.ratio, -t.mean_loss)) if within else None
    progress.update(1.0, f"recommended {best.setting}" if best else "no setting within the bound")
    return DiceSearchResult(codec, mode, model_id, spec.name, float(max_dice_loss), against, criterion, len(cases),
                            best, added[0], list(trials.values()))


class _OutOfTrials(Exception):
    """Internal: the trial budget is spent."""


def _default_start(axis: Axis, case: Case) -> float:
    """Where a setting without a default starts: 1 % of the first case's data range for a positive range spanning
    over six decades (a tolerance in image units), else the middle of the axis."""
    if axis.log and axis.spec.maximum / axis.spec.minimum > 1e6:
        from cerebro.io import read_volume
        from cerebro.metrics.quality import default_data_range

        data_range = default_data_range(read_volume(case.image_path).array) or 1.0
        return axis.to_axis(max(data_range / 100, float(axis.spec.minimum)))
    return 0.5 * (axis.low + axis.high)


def _loss_of(store: ResultStore, model_id: str, key: str, against: str, cases: int) -> SettingLoss:
    """The stored loss of one setting over all cases (an error if the store lacks some of its records)."""
    for loss in setting_losses(store.records(), against):
        if loss.model == model_id and loss.setting == key and loss.cases == cases:
            return loss
    raise CerebroError(f"{store.results_path} lacks records of {key} for {model_id}; run the search again")
