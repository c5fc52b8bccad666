"""The codec interface every compressor implements (ZFP, SIREN, SZ3, JPEG 2000, ...).

A codec declares its modes and the valid range of each setting; ``encode`` turns a Volume into an
:class:`Encoded` (a list of byte chunks plus the small JSON-able metadata needed to decode), and
``decode`` turns it back into a voxel array of the original dtype. Geometry is kept by the caller
(the compressed file format), not by the codec.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cerebro.errors import CerebroError
from cerebro.progress import Progress
from cerebro.volume import Volume


@dataclass(frozen=True)
class Setting:
    """One numeric or choice setting of a codec mode, with its valid range and unit."""

    name: str
    kind: type = float
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    unit: str = ""
    help: str = ""
    monotonic: str = ""
    """For numeric settings that trade size for quality: "increasing" when a larger value compresses more
    (e.g. an error tolerance), "decreasing" when a smaller value compresses more (e.g. a quality in dB),
    "" when undeclared. Rate control (cerebro.ratecontrol) searches the declared one; a lossy mode that
    declares none gets its only numeric setting searched, the direction found by probing."""

    def coerce(self, value: Any) -> Any:
        """``value`` (typed, or as text) as this setting's type, its range unchecked; CerebroError if it is not one
        (an integer setting takes no fraction, no setting takes a bool)."""
        try:
            if isinstance(value, bool) or (self.kind is int and isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return self.kind(value.strip() if isinstance(value, str) and self.kind is not str else value)
        except (TypeError, ValueError, OverflowError):
            kind = {int: "an integer", float: "a number"}.get(self.kind, f"a {self.kind.__name__}")
            raise CerebroError(f"setting {self.name}={value!r} is not {kind}") from None

    def validate(self, value: Any) -> Any:
        """Coerce ``value`` to this setting's type and check its range; raise CerebroError if invalid."""
        coerced = self.coerce(value)
        if self.choices and coerced not in self.choices:
            raise CerebroError(f"setting {self.name}={coerced!r} must be one of {list(self.choices)}")
        if isinstance(coerced, float) and not np.isfinite(coerced):
            raise CerebroError(f"setting {self.name} must be finite, got {value!r}")
        lo, hi = self.minimum, self.maximum
        if (lo is not None and coerced < lo) or (hi is not None and coerced > hi):
            unit = f" {self.unit}" if self.unit else ""
            raise CerebroError(f"setting {self.name}={coerced} is out of range; valid: {lo} to {hi}{unit}")
        return coerced


@dataclass(frozen=True)
class Mode:
    """A codec mode (e.g. ZFP fixed-accuracy) with its settings."""

    name: str
    settings: tuple[Setting, ...] = ()
    lossless: bool = False
    help: str = ""


@dataclass
class Encoded:
    """A codec's output: byte chunks plus JSON-serialisable metadata that ``decode`` needs."""

    codec: str
    mode: str
    settings: dict[str, Any]
    chunks: list[bytes]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        """Total payload size in bytes (without container overhead)."""
        return sum(len(c) for c in self.chunks)


class Codec(ABC):
    """Base class of all codecs. Subclasses set ``name``, ``modes`` and implement encode/decode."""

    name: str = ""
    description: str = ""
    modes: dict[str, Mode] = {}
    requires: tuple[str, ...] = ()
    """Third-party modules the codec runs on, imported on first use (:func:`lazy_module`): without them the codec
    is known (its settings too, for the panels' parameter nodes) but not offered."""
    requires_feature: str = ""
    """``"module.FEATURE"``: a build feature of a required library that must be ``available`` (imagecodecs)."""

    def unavailable(self) -> str | None:
        """Why the codec cannot run here (a library or a library feature missing), or None when it can."""
        missing = [module for module in self.requires if not _importable(module)]
        if missing:
            return f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed"
        if self.requires_feature:
            module, feature = self.requires_feature.split(".")
            found = getattr(importlib.import_module(module), feature, None)
            if found is None or not found.available:
                return f"{module} was built without {feature}"
        return None

    def resolve_settings(self, mode: str, settings: dict[str, Any] | None = None) -> dict[str, Any]:
        """Validate ``settings`` for ``mode`` and fill in defaults; raise CerebroError naming any problem."""
        if mode not in self.modes:
            raise CerebroError(f"codec {self.name} has no mode {mode!r}; choose one of: {', '.join(self.modes)}")
        settings = dict(settings or {})
        resolved: dict[str, Any] = {}
        for spec in self.modes[mode].settings:
            if spec.name in settings:
                resolved[spec.name] = spec.validate(settings.pop(spec.name))
            elif spec.default is not None:
                resolved[spec.name] = spec.kind(spec.default)
            else:
                raise CerebroError(f"codec {self.name} mode {mode} needs the setting {spec.name} ({spec.help})")
        if settings:
            known = ", ".join(s.name for s in self.modes[mode].settings) or "none"
            raise CerebroError(f"setting {', '.join(settings)} does not apply to {self.name} mode {mode} (its "
                               f"settings: {known}); see `cerebro codecs`")
        return resolved

    def defaults(self, mode: str) -> dict[str, Any]:
        """The default value of every setting of ``mode`` that has one (what a setting left out encodes with)."""
        return {spec.name: spec.kind(spec.default) for spec in self.modes[mode].settings if spec.default is not None}

    @abstractmethod
    def encode(
        self, volume: Volume, mode: str, settings: dict[str, Any], progress: Progress | None = None
    ) -> Encoded:
        """Compress ``volume``'s voxels; ``settings`` are already resolved by :meth:`resolve_settings`."""

    @abstractmethod
    def decode(
        self, encoded: Encoded, shape: tuple[int, int, int], dtype: np.dtype, progress: Progress | None = None
    ) -> np.ndarray:
        """Rebuild the voxel array (shape (nz, ny, nx), original dtype) from ``encoded``, whose meta has passed
        :meth:`validate_meta` (:func:`cerebro.cbv.compress.decompress` checks it first; decoders do not again)."""

    @abstractmethod
    def validate_meta(self, meta: dict[str, Any], shape: tuple[int, int, int], dtype: np.dtype,
                      chunk_sizes: Sequence[int]) -> None:
        """Raise a one-line CerebroError unless ``meta`` (a file's ``codec_meta``) is what :meth:`encode` writes
        for a volume of ``shape`` and ``dtype`` stored in chunks of ``chunk_sizes`` bytes: every field the
        decoder reads, of the right type, in range and consistent (see :mod:`cerebro.codecs.meta`)."""


    def setting_range(self, mode: str, name: str, others: dict[str, Any]) -> tuple[float, float]:
        """The valid (minimum, maximum) of the numeric setting ``name`` of ``mode`` when the mode's other settings
        are ``others`` (resolved): the declared range, unless a codec's settings constrain each other."""
        spec = next(s for s in self.modes[mode].settings if s.name == name)
        return float(spec.minimum), float(spec.maximum)

    def region(self, encoded: Encoded, shape: tuple[int, int, int]) -> np.ndarray | None:
        """The voxels (bool, ``shape``) coded to a tighter bound than the rest, for codecs that have such a region
        (reported apart by :mod:`cerebro.cbv.roundtrip`); None for codecs that treat every voxel alike."""
        return None


def accepted_options(function: Any, **options: Any) -> dict[str, Any]:
    """The keyword ``options`` that a codec's encode/decode ``function`` accepts: ``workers`` (chunk-parallel codecs),
    ``file_overhead`` (codecs that size their output to a file-size budget: a function of the codec meta giving
    the bytes the ``.cbv`` file adds around the payload, supplied by the caller that writes the file)."""
    parameters = inspect.signature(function).parameters
    return {name: value for name, value in options.items() if name in parameters}


_REGISTRY: dict[str, Codec] = {}


def register(codec: Codec) -> Codec:
    """Add a codec instance to the registry under its ``name``."""
    _REGISTRY[codec.name] = codec
    return codec


def get_codec(name: str) -> Codec:
    """Look up a codec that can run here by name; raise CerebroError naming the known ones, or what is missing."""
    codec = all_codecs().get(name)
    if codec is None:
        raise CerebroError(f"unknown codec {name!r}; available: {', '.join(available_codecs())}")
    reason = codec.unavailable()
    if reason:
        raise CerebroError(f"codec {name} cannot run here: {reason}; install the codecs with: "
                           "pip install 'cerebrobench[codecs]'")
    return codec


def all_codecs() -> dict[str, Codec]:
    """Every codec by name, including those whose library is missing here (their settings are still known)."""
    from cerebro.codecs import load_builtin_codecs

    load_builtin_codecs()
    return dict(sorted(_REGISTRY.items()))


def available_codecs() -> dict[str, Codec]:
    """The codecs that can run here by name (those whose optional library is missing are not listed)."""
    return {name: codec for name, codec in all_codecs().items() if codec.unavailable() is None}


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class lazy_module:  # noqa: N801 - stands for a module name
    """A third-party module imported on first attribute access, so that a codec module imports (and declares its
    settings) where the library is missing."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


def lossy_codecs() -> list[str]:
    """The names of the registered codecs that have a lossy mode (the ones rate control and the search can drive)."""
    return [name for name, codec in available_codecs().items()
            if any(not mode.lossless for mode in codec.modes.values())]
