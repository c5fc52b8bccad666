"""Bracket and bisect over one numeric codec setting: the search that rate control (:mod:`cerebro.ratecontrol`:
a target ratio, PSNR or max error) and the Dice-limit search (:mod:`cerebro.benchmark.search`) share."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

from cerebro.codecs.base import Setting

Trial = TypeVar("Trial")
_FIRST_STEP = math.log(4.0)  # the first bracketing step on a log axis: a factor of 4


class Axis:
    """A numeric setting's range on a line: a log scale when the range is positive (tolerances, rates, steps), values
    snapped into the range and to integers (integer settings) or to ``digits`` significant digits."""

    def __init__(self, spec: Setting, digits: int = 10):
        self.spec = spec
        self.digits = digits
        self.log = spec.minimum > 0
        self.low, self.high = self.to_axis(float(spec.minimum)), self.to_axis(float(spec.maximum))

    def to_axis(self, x: float) -> float:
        """The axis position of value ``x``."""
        return math.log(x) if self.log else x

    def snap(self, x: float) -> float:
        """``x`` clamped into the range and rounded (to an integer, or to the axis's significant digits)."""
        x = min(max(x, float(self.spec.minimum)), float(self.spec.maximum))
        return float(round(x)) if self.spec.kind is int else float(f"{x:.{self.digits}g}")

    def value(self, u: float) -> float:
        """The setting value at axis position ``u``, snapped."""
        return self.snap(math.exp(u) if self.log else u)

    def first_step(self) -> float:
        """The first bracketing step: a factor of 4 on a log axis, else an eighth of the range."""
        return _FIRST_STEP if self.log else (self.high - self.low) / 8


def bracket_and_bisect(axis: Axis, direction: int, evaluate: Callable[[float], Trial],
                       below: Callable[[Trial], bool], start: float, resolution: float,
                       done: Callable[[Trial], bool] = lambda trial: False) -> None:
    """Search the boundary between trials that are ``below`` it (they could compress more) and those beyond.

    ``evaluate(u)`` runs a trial at axis position ``u``; ``direction`` is +1 when a larger value compresses more, -1
    when less. From ``start`` the search steps towards more compression while below, towards less while not,
    doubling the step until both sides are bracketed (or the range ends), then bisects until the bracket is
    narrower than ``resolution`` (axis units) or holds no value between its ends. ``done(trial)`` stops it at once
    (a target hit). The caller keeps the trials and picks the answer."""
    u = min(max(start, axis.low), axis.high)
    trial = evaluate(u)
    if done(trial):
        return
    step = axis.first_step()
    while True:
        nxt = min(max(u + (direction if below(trial) else -direction) * step, axis.low), axis.high)
        if axis.value(nxt) == axis.value(u):
            return  # the end of the range: every trial lies on one side
        new = evaluate(nxt)
        if done(new):
            return
        if below(new) != below(trial):
            inside, outside = (u, nxt) if below(trial) else (nxt, u)
            break
        u, trial, step = nxt, new, step * 2
    while abs(outside - inside) > resolution:
        mid = 0.5 * (inside + outside)
        if axis.value(mid) in (axis.value(inside), axis.value(outside)):
            return  # adjacent values: nothing in between
        new = evaluate(mid)
        if done(new):
            return
        if below(new):
            inside = mid
        else:
            outside = mid
