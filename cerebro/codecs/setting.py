"""One codec setting — a codec, one of its modes and typed values — and its one text form.

The text form is ``codec:mode[:name=value,...]`` (e.g. ``zfp:accuracy:tolerance=500``): names sorted, numbers in
the shortest form that reads back to the same value (``500``, ``0.12345678``, ``1234567``), plain strings as they
are and others JSON-quoted (``mask="/data/my scans/vessels.nii.gz"``). It round-trips exactly:
``CodecSetting.parse(s.text) == s`` for every value a codec accepts. Every caller — the CLI, the benchmark sweep
and search, rate control, the panels — parses text here once (:func:`parse_assignments` is the only ``NAME=VALUE``
reader) and passes the typed value on; the codec validates it once (:meth:`CodecSetting.of`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cerebro.codecs.base import Codec, all_codecs, get_codec
from cerebro.errors import CerebroError

EXAMPLE = "zfp:accuracy:tolerance=500"
_PLAIN = re.compile(r"[A-Za-z0-9_./+@%~:-]+")  # strings written unquoted; others JSON-quoted


def format_value(value: Any) -> str:
    """The exact text of a setting's value: ints as digits; floats as ``{:g}`` when that reads back to the same
    float (the form stores always used), else the shortest exact form (``repr``, without a trailing ``.0``);
    strings of letters, digits and ``_ . / + @ % ~ : -`` as they are, others (spaces, commas, quotes, ``#``...)
    JSON-quoted."""
    if isinstance(value, bool):
        raise TypeError("codec settings are numbers or strings, not booleans")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        short = f"{value:g}"
        if float(short) == value:
            return short
        exact = repr(value)
        return exact[:-2] if exact.endswith(".0") else exact
    text = str(value)
    return text if _PLAIN.fullmatch(text) else json.dumps(text)


def _read_value(text: str, start: int, what: str) -> tuple[str, int]:
    """The raw value starting at ``text[start]`` (a JSON string when it opens with a quote, else up to the next
    comma) and the index after it (at a comma or the end)."""
    if text[start:].lstrip().startswith('"'):
        begin = start + len(text[start:]) - len(text[start:].lstrip())
        try:
            value, end = json.JSONDecoder().raw_decode(text, begin)
        except json.JSONDecodeError:
            raise CerebroError(f"{what}: a quoted value is not closed; write it as \"...\" with \\\" inside") from None
        rest = text[end:].lstrip()
        if rest and not rest.startswith(","):
            raise CerebroError(f"{what}: unexpected {rest[:20]!r} after a quoted value; separate settings with commas")
        return value, len(text) - len(rest)
    end = text.find(",", start)
    end = len(text) if end < 0 else end
    return text[start:end].strip(), end


def parse_assignments(text: str, what: str, single: bool = False) -> dict[str, str]:
    """``"name=value,name=value"`` -> ``{name: raw text}`` (names with ``-`` read as ``_``; quoted values unquoted).

    ``single``: ``text`` is one ``NAME=VALUE`` (a repeated command-line option), so a comma belongs to the value.
    ``what`` names the text in the one-line CerebroError a malformed item gives."""
    values: dict[str, str] = {}
    position = 0
    while position < len(text):
        equals = text.find("=", position)
        stop = text.find(",", position)
        if equals < 0 or (not single and 0 <= stop < equals) or not text[position:equals].strip():
            item = text[position:] if single or stop < 0 else text[position:stop]
            raise CerebroError(f"{what}: {item.strip()!r} is not NAME=VALUE; e.g. {EXAMPLE.split(':')[-1]}")
        name = text[position:equals].strip().replace("-", "_")
        if single and not text[equals + 1:].lstrip().startswith('"'):
            value, position = text[equals + 1:].strip(), len(text)
        else:
            value, position = _read_value(text, equals + 1, what)
        if name in values:
            raise CerebroError(f"{what}: {name} is given twice")
        values[name] = value
        position += 1  # past the comma
        if position == len(text) and text.endswith(","):
            raise CerebroError(f"{what}: a comma ends the settings; remove it")
    return values


def assignments(items: Iterable[str], option: str) -> dict[str, str]:
    """The values of a repeated ``NAME=VALUE`` command-line ``option`` (``--set tolerance=5 --set ...``) by name."""
    values: dict[str, str] = {}
    for item in items:
        for name, value in parse_assignments(item, option, single=True).items():
            if name in values:
                raise CerebroError(f"{option}: {name} is given twice")
            values[name] = value
        if not item.strip():
            raise CerebroError(f"{option} expects NAME=VALUE, got an empty value; e.g. --set tolerance=5")
    return values


def split_setting_text(text: str) -> tuple[str, str, dict[str, str]]:
    """``"codec:mode[:name=value,...]"`` -> (codec, mode, raw values by name), unvalidated."""
    parts = text.strip().split(":", 2)
    if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
        raise CerebroError(f"setting {text!r} is not CODEC:MODE[:NAME=VALUE,...]; e.g. {EXAMPLE}")
    raw = parse_assignments(parts[2].strip(), f"setting {text!r}") if len(parts) == 3 else {}
    return parts[0].strip(), parts[1].strip(), raw


def setting_text(codec: str, mode: str, values: Iterable[tuple[str, Any]]) -> str:
    """The exact text form of ``codec``/``mode`` with ``values`` (sorted by name here)."""
    items = ",".join(f"{name}={format_value(value)}" for name, value in sorted(values))
    return f"{codec}:{mode}" + (f":{items}" if items else "")


@dataclass(frozen=True)
class CodecSetting:
    """A codec, one of its modes and the values chosen for its settings (validated and typed, sorted by name;
    settings left out take the codec's defaults when it encodes). Make one with :meth:`of` or :meth:`parse`."""

    codec: str
    mode: str
    values: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, codec: str | Codec, mode: str, values: Mapping[str, Any] | None = None) -> CodecSetting:
        """Validate ``values`` (typed or text) for ``codec``'s ``mode`` — the one validation — and keep them typed.
        A one-line CerebroError names an unknown codec, mode or setting, or a value of the wrong type or range."""
        found = get_codec(codec) if isinstance(codec, str) else codec
        given = dict(values or {})
        resolved = found.resolve_settings(mode, given)
        return cls(found.name, mode, tuple(sorted((name, resolved[name]) for name in given)))

    @classmethod
    def parse(cls, text: str) -> CodecSetting:
        """Read the text form (``zfp:accuracy:tolerance=500``); the inverse of :attr:`text`."""
        codec, mode, raw = split_setting_text(text)
        return cls.of(codec, mode, raw)

    @property
    def text(self) -> str:
        """The exact text form: ``parse(s.text) == s``."""
        return setting_text(self.codec, self.mode, self.values)

    def __str__(self) -> str:
        return self.text

    def as_dict(self) -> dict[str, Any]:
        """The chosen values by name (the codec fills in the others)."""
        return dict(self.values)


def as_setting(codec: str | Codec | CodecSetting, mode: str | None = None,
               settings: Mapping[str, Any] | None = None) -> CodecSetting:
    """``codec`` if it is a CodecSetting already, or its text form (``"zfp:accuracy:tolerance=5"``), each without
    ``mode`` and ``settings``; else the validated CodecSetting of ``codec``, ``mode`` and ``settings`` (for callers
    that name the three apart)."""
    if isinstance(codec, CodecSetting) or (isinstance(codec, str) and ":" in codec):
        if mode is not None or settings:
            raise TypeError("give a setting alone, or a codec name with its mode and settings")
        return codec if isinstance(codec, CodecSetting) else CodecSetting.parse(codec)
    if mode is None:
        found = get_codec(codec) if isinstance(codec, str) else codec
        raise CerebroError(f"choose a mode for {found.name}: {', '.join(found.modes)}")
    return CodecSetting.of(codec, mode, settings)


def setting_types() -> dict[str, type]:
    """Every setting name of every codec and its type, installed or not (one type per name; a test keeps them
    equal): a parameter node made before a codec's library was installed holds its settings too."""
    return {spec.name: spec.kind for codec in all_codecs().values()
            for mode in codec.modes.values() for spec in mode.settings}
