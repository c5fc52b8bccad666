"""Typed reads of a codec's ``codec_meta`` from a ``.cbv`` header: every value checked before a decoder uses it.

A ``.cbv`` file may be damaged or crafted; each getter returns the value in the type the decoder needs or
raises one :class:`~cerebro.errors.CerebroError` line naming the field, what it must be and what it holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from cerebro.errors import CerebroError

MAX_DIMENSION = 2**31 - 1
"""The largest array dimension, chunk count or slab size a header may declare."""


def corrupt(codec: str, field: str, requirement: str, value: Any) -> CerebroError:
    """The error for a ``codec_meta`` field that is missing or out of range (the value shown cut to 60 characters)."""
    shown = "missing" if value is _MISSING else f"got {str(repr(value))[:60]}"
    return CerebroError(f"{codec} codec_meta.{field} must be {requirement}, {shown}; the file is corrupt, "
                        "re-create it from the original")


_MISSING = object()


def meta_int(meta: dict[str, Any], field: str, low: int, high: int, codec: str) -> int:
    """``meta[field]`` as an int in ``[low, high]`` (a JSON integer; booleans and floats refused)."""
    value = meta.get(field, _MISSING)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise corrupt(codec, field, f"an integer from {low} to {high}", value)
    return value


def meta_float(meta: dict[str, Any], field: str, codec: str) -> float:
    """``meta[field]`` as a finite float (a JSON number)."""
    value = meta.get(field, _MISSING)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise corrupt(codec, field, "a finite number", value)
    return float(value)


def meta_choice(meta: dict[str, Any], field: str, choices: Sequence[Any], codec: str) -> Any:
    """``meta[field]``, which must be one of ``choices``."""
    value = meta.get(field, _MISSING)
    if value is _MISSING or not any(value == c and type(value) is type(c) for c in choices):
        raise corrupt(codec, field, f"one of {list(choices)}", value)
    return value


def meta_int_list(meta: dict[str, Any], field: str, length: int, low: int, high: int, codec: str) -> list[int]:
    """``meta[field]`` as a list of ``length`` ints, each in ``[low, high]``."""
    value = meta.get(field, _MISSING)
    if not isinstance(value, list) or len(value) != length or not all(
            isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in value):
        raise corrupt(codec, field, f"a list of {length} integers from {low} to {high}", value)
    return list(value)


def meta_dict(meta: dict[str, Any], field: str, codec: str) -> dict[str, Any]:
    """``meta[field]`` as a JSON object."""
    value = meta.get(field, _MISSING)
    if not isinstance(value, dict):
        raise corrupt(codec, field, "an object", value)
    return value


def require_chunk_count(chunk_sizes: Sequence[int], expected: int, codec: str) -> None:
    """Raise unless the file holds exactly ``expected`` chunks."""
    if len(chunk_sizes) != expected:
        raise CerebroError(f"{codec}: the header lists {len(chunk_sizes)} chunks where the volume needs "
                           f"{expected}; the file is corrupt, re-create it from the original")
