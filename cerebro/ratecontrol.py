"""Rate control: find the setting of a lossy codec mode that reaches a target ratio, PSNR or max error.

The searched setting is the mode's numeric size/quality knob: a setting named like the target itself
(e.g. the ``ratio`` setting of the SIREN codecs' ``ratio`` mode: searched from the target value, so one
trial usually suffices), else the one declared with ``Setting.monotonic`` ("increasing" = larger
compresses more, "decreasing" = smaller compresses more). A lossy mode that declares none but has
exactly one numeric setting with a range is searched too; its direction is then found by probing
(two encodes). The search brackets the target by geometric steps
from a start value, then bisects, in log space when the setting's range is positive (tolerances,
rates, steps), on integers for integer settings.

Targets and what "hit" means (``tolerance`` is relative, default 5 %):

- ``ratio``: compression ratio = original native bytes / .cbv container bytes (the same number as
  :class:`cerebro.cbv.roundtrip.RoundTripReport`); hit when ``|achieved / target - 1| <= tolerance``.
- ``psnr``: PSNR in dB over the original's max - min; hit when ``|achieved - target| <= tolerance * target``.
- ``max_error``: max absolute error (image units); must not exceed the target, hit when
  ``achieved >= (1 - tolerance) * target`` (integer volumes: ``achieved >= floor(target)`` also counts).

A target outside what the setting's range can reach raises :class:`TargetUnreachable` (a CerebroError)
giving the reachable range.
A target inside it that the codec cannot meet within the tolerance (its ratios jump in steps, e.g.
JPEG-LS's integer NEAR on small volumes) returns the closest result with ``hit=False``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from cerebro.cbv.compress import compress_volume, decompress
from cerebro.codecs.base import Codec, Setting, get_codec
from cerebro.codecs.setting import format_value
from cerebro.errors import CerebroError
from cerebro.metrics.quality import default_data_range, max_abs_error, psnr
from cerebro.progress import Progress
from cerebro.setting_search import Axis, bracket_and_bisect
from cerebro.volume import Volume

TARGETS = ("ratio", "psnr", "max_error")
_WIDE_RANGE = 1e6
_LOG_RESOLUTION = 1e-4  # bisection stops when the bracket is narrower than 0.01 % of the value


@dataclass
class Evaluation:
    """One trial encode: the searched setting's value and what it achieved."""

    value: float
    ratio: float
    psnr_db: float | None = None
    max_abs_error: float | None = None


@dataclass
class RateControlResult:
    """The setting found by :func:`search_setting` and what it achieves."""

    codec: str
    mode: str
    target: str
    target_value: float
    tolerance: float
    setting: str
    settings: dict[str, Any]
    achieved: float
    hit: bool
    ratio: float
    psnr_db: float | None
    max_abs_error: float | None
    evaluations: list[Evaluation] = field(default_factory=list)

    @property
    def relative_error(self) -> float:
        """``achieved / target - 1`` (signed)."""
        return self.achieved / self.target_value - 1.0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (an infinite PSNR becomes None)."""
        data = asdict(self)
        data["relative_error"] = self.relative_error
        for entry in [data, *data["evaluations"]]:
            if entry.get("psnr_db") is not None and not math.isfinite(entry["psnr_db"]):
                entry["psnr_db"] = None
        return data

    def to_text(self) -> str:
        """One line per fact, for the CLI."""
        unit = {"ratio": ":1", "psnr": " dB", "max_error": " (image units)"}[self.target]
        lines = [
            f"codec {self.codec} / {self.mode}: {self.setting} = {format_value(self.settings[self.setting])}",
            f"target {self.target} {self.target_value:g}{unit}: achieved {self.achieved:.4g}{unit} "
            f"({100 * self.relative_error:+.1f} %, {'hit' if self.hit else 'NOT within'} ±{100 * self.tolerance:g} %)",
            f"ratio {self.ratio:.2f}:1" + (f", PSNR {self.psnr_db:.2f} dB" if self.psnr_db is not None else "")
            + (f", max error {self.max_abs_error:g}" if self.max_abs_error is not None else ""),
            f"{len(self.evaluations)} trial encodes",
        ]
        return "\n".join(lines)


def searchable_setting(codec: Codec, mode: str, name: str | None = None, target: str | None = None) -> Setting:
    """The setting of ``codec``'s ``mode`` that rate control varies for ``target`` (see the module doc).

    ``name`` picks it explicitly; raises CerebroError when there is none or the choice is ambiguous.
    """
    if mode not in codec.modes:
        raise CerebroError(f"codec {codec.name} has no mode {mode!r}; choose one of: {', '.join(codec.modes)}")
    spec = codec.modes[mode]
    lossy = [m for m, s in codec.modes.items() if not s.lossless]
    if spec.lossless:
        raise CerebroError(f"{codec.name} mode {mode} is lossless and has nothing to search; "
                           f"choose a lossy mode: {', '.join(lossy) or 'none (this codec is lossless only)'}")
    numeric = [s for s in spec.settings if s.kind in (int, float) and s.minimum is not None and s.maximum is not None]
    if name is not None:
        match = [s for s in numeric if s.name == name]
        if not match:
            raise CerebroError(f"{codec.name} mode {mode} has no numeric setting {name!r}; "
                               f"searchable: {', '.join(s.name for s in numeric) or 'none'}")
        return match[0]
    named = [s for s in numeric if s.name == target]
    if named:
        return named[0]
    declared = [s for s in numeric if s.monotonic]
    candidates = declared or numeric
    if len(candidates) != 1:
        raise CerebroError(f"{codec.name} mode {mode} has {len(candidates)} candidate settings to search "
                           f"({', '.join(s.name for s in candidates) or 'none'}); name one with setting=")
    return candidates[0]


def search_range(codec: Codec, mode: str, spec: Setting, fixed: dict[str, Any]) -> Setting:
    """``spec`` with the range it may take when the mode's other settings are ``fixed`` (validated here: a
    CerebroError names a bad one), e.g. the roi codec's base tolerance from its region's bound upwards."""
    others = codec.resolve_settings(mode, {**fixed, spec.name: spec.maximum})
    low, high = codec.setting_range(mode, spec.name, others)
    return replace(spec, minimum=spec.kind(low), maximum=spec.kind(high))


def search_setting(
    volume: Volume,
    codec: str | Codec,
    mode: str,
    target: str,
    value: float,
    tolerance: float = 0.05,
    max_iter: int = 30,
    settings: dict[str, Any] | None = None,
    setting: str | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> RateControlResult:
    """Find the value of ``codec``/``mode``'s size/quality setting that reaches ``target`` = ``value``.

    ``target`` is "ratio" (X:1), "psnr" (dB) or "max_error" (image units); ``settings`` fixes the
    mode's other settings; ``max_iter`` caps the number of trial encodes. Returns the best trial
    (closest to the target; for max_error the closest not above it) with ``hit`` telling whether it is
    within ``tolerance``. Raises CerebroError for a bad request or a target outside the reachable range.
    """
    codec = get_codec(codec) if isinstance(codec, str) else codec
    if target not in TARGETS:
        raise CerebroError(f"unknown rate-control target {target!r}; choose one of: {', '.join(TARGETS)}")
    if not (math.isfinite(value) and value > 0) or (target == "ratio" and value <= 1):
        raise CerebroError(f"target {target} must be a positive finite number (ratio > 1), got {value}")
    if not 0 < tolerance < 1:
        raise CerebroError(f"tolerance must be between 0 and 1 (e.g. 0.05 for 5 %), got {tolerance}")
    spec = searchable_setting(codec, mode, setting, target)
    if spec.name in (settings or {}):
        raise CerebroError(f"{spec.name}={settings[spec.name]} fixes the setting that is searched for the {target} "
                           f"target; leave it out, or search another setting with --search")
    fixed = dict(settings or {})
    spec = search_range(codec, mode, spec, fixed)
    volume.require_finite()
    progress = progress or Progress()
    evaluations: list[Evaluation] = []
    need_quality = target != "ratio"
    data_range = default_data_range(volume.array) or 1.0

    axis = Axis(spec)

    def evaluate(x: float) -> Evaluation:
        x = axis.snap(x)
        for done in evaluations:
            if done.value == x:
                return done
        if len(evaluations) >= max_iter:
            raise _OutOfIterations
        band = (min(len(evaluations) / max_iter, 0.99), min((len(evaluations) + 1) / max_iter, 0.99))
        progress.update(band[0], f"trial {len(evaluations) + 1}: {spec.name}={format_value(spec.kind(x))}")
        compressed = compress_volume(volume, codec, mode, {**fixed, spec.name: x}, progress.sub(*band), workers)
        from cerebro.cbv.container import container_bytes

        trial = Evaluation(x, volume.nbytes / len(container_bytes(compressed)))
        if need_quality:
            decoded = decompress(compressed, workers=workers).array
            trial.psnr_db = psnr(volume.array, decoded, data_range)
            trial.max_abs_error = max_abs_error(volume.array, decoded)
        evaluations.append(trial)
        return trial

    goal = _goal(target, value, tolerance, volume.dtype)
    try:
        direction = _direction(spec, evaluate, target)
        start = axis.snap(value) if spec.name == target else _start(axis, data_range)
        resolution = _LOG_RESOLUTION if axis.log else _LOG_RESOLUTION * (axis.high - axis.low)
        bracket_and_bisect(axis, direction, lambda u: evaluate(axis.value(u)), lambda e: goal.excess(e) < 0,
                           axis.to_axis(start), resolution, goal.hit)
    except _OutOfIterations:
        pass
    best = min(evaluations, key=goal.badness)
    result = RateControlResult(
        codec=codec.name, mode=mode, target=target, target_value=float(value), tolerance=tolerance,
        setting=spec.name, settings=codec.resolve_settings(mode, {**fixed, spec.name: best.value}),
        achieved=goal.measure(best), hit=goal.hit(best), ratio=best.ratio, psnr_db=best.psnr_db,
        max_abs_error=best.max_abs_error, evaluations=evaluations,
    )
    if not goal.hit(best) and not (spec.monotonic == "" and spec.name != target and len(evaluations) <= 2):
        try:
            _raise_if_unreachable(codec, mode, spec, target, value, evaluations, goal)
        except TargetUnreachable as error:
            error.closest = result
            raise
    progress.update(1.0, "done")
    return result


class TargetUnreachable(CerebroError):
    """The target lies outside what the codec mode's setting range can reach on this volume; ``closest`` is the
    trial that came nearest (a :class:`RateControlResult` with ``hit=False``)."""

    closest: RateControlResult | None = None


class _OutOfIterations(Exception):
    """Internal: the trial budget is spent."""


@dataclass
class _Goal:
    """How to read a trial for one target: its signed distance in 'more compression' units, and hit."""

    measure: Callable[[Evaluation], float]
    excess: Callable[[Evaluation], float]  # > 0: compressed more than the target asks, < 0: less
    hit: Callable[[Evaluation], bool]
    badness: Callable[[Evaluation], float]


def _goal(target: str, value: float, tolerance: float, dtype: np.dtype) -> _Goal:
    if target == "ratio":
        def measure(e: Evaluation) -> float:
            return e.ratio

        def excess(e: Evaluation) -> float:
            return math.log(e.ratio / value)

        def hit(e: Evaluation) -> bool:
            return abs(e.ratio / value - 1) <= tolerance

        return _Goal(measure, excess, hit, lambda e: abs(excess(e)))
    if target == "psnr":
        def measure(e: Evaluation) -> float:
            return float(e.psnr_db)

        def excess(e: Evaluation) -> float:
            return value - min(float(e.psnr_db), 1e6)

        return _Goal(measure, excess, lambda e: abs(excess(e)) <= tolerance * value, lambda e: abs(excess(e)))
    floor_ok = math.floor(value) if np.dtype(dtype).kind in "iu" else math.inf

    def measure_error(e: Evaluation) -> float:
        return float(e.max_abs_error)

    def excess_error(e: Evaluation) -> float:
        return float(e.max_abs_error) - value

    def hit_error(e: Evaluation) -> bool:
        err = float(e.max_abs_error)
        return err <= value and (err >= (1 - tolerance) * value or err >= floor_ok)

    def badness_error(e: Evaluation) -> float:
        err = float(e.max_abs_error)
        return (1e9 + err) if err > value else (value - err)

    return _Goal(measure_error, excess_error, hit_error, badness_error)


def _start(axis: Axis, data_range: float) -> float:
    """First value tried: the default; else, for a positive range spanning over 6 decades (a tolerance
    in image units), 1 % of the data range; else the middle of the range (geometric when positive)."""
    spec = axis.spec
    if spec.default is not None:
        return axis.snap(float(spec.default))
    if spec.minimum > 0 and spec.maximum / spec.minimum > _WIDE_RANGE:
        return axis.snap(data_range / 100)
    return axis.value(0.5 * (axis.low + axis.high))


def _direction(spec: Setting, evaluate: Callable[[float], Evaluation], target: str) -> int:
    """+1 if a larger value compresses more, -1 if less; compares the range's two ends when not declared."""
    if spec.name == target:  # a setting that is the target itself: a larger ratio / max error compresses more
        return -1 if target == "psnr" else 1
    if spec.monotonic:
        return 1 if spec.monotonic == "increasing" else -1
    return 1 if evaluate(spec.maximum).ratio >= evaluate(spec.minimum).ratio else -1


def _raise_if_unreachable(
    codec: Codec, mode: str, spec: Setting, target: str, value: float, evaluations: list[Evaluation], goal: _Goal
) -> None:
    """CerebroError when every trial fell on the same side of the target (it lies outside the reachable range)."""
    sides = {goal.excess(e) < 0 for e in evaluations}
    if len(sides) != 1:
        return
    measured = [goal.measure(e) for e in evaluations]
    tried = [e.value for e in evaluations]
    raise TargetUnreachable(
        f"{codec.name} {mode} cannot reach {target} {value:g} on this volume: trials with {spec.name} "
        f"{min(tried):g}..{max(tried):g} (valid {spec.minimum:g}..{spec.maximum:g}) gave {target} "
        f"{min(measured):.4g}..{max(measured):.4g}; choose a target in that range or another codec"
    )
