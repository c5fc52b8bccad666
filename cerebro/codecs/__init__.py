"""Codecs behind one interface (see :mod:`cerebro.codecs.base`).

Each codec lives in its own module in this package and calls ``register`` at import. Its third-party library is
imported on first use (``lazy_module``), so every codec and its settings are known even where the library is
missing; ``available_codecs`` lists the ones that can run here (``Codec.unavailable`` says why not).
"""

from __future__ import annotations

import importlib
import pkgutil

from cerebro.codecs.base import Codec, Encoded, Mode, Setting, available_codecs, get_codec, register

__all__ = ["Codec", "Encoded", "Mode", "Setting", "available_codecs", "get_codec", "register", "load_builtin_codecs"]

_loaded = False


def load_builtin_codecs() -> None:
    """Import every codec module of this package once (each registers itself)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        try:
            importlib.import_module(f"{__name__}.{info.name}")
        except ModuleNotFoundError as exc:  # optional third-party library not installed
            if (exc.name or "").split(".")[0] == "cerebro":
                raise
