"""Compression settings of a benchmark sweep, written ``codec:mode[:name=value,...]``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cerebro.codecs.base import get_codec
from cerebro.errors import CerebroError

UNCOMPRESSED = "uncompressed"  # the setting key of the predictions on the original volumes


@dataclass(frozen=True)
class SweepSetting:
    """One codec, mode and its validated settings (sorted by name, so equal settings give equal keys)."""

    codec: str
    mode: str
    settings: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> str:
        """``codec:mode[:name=value,...]``: the setting's identity in the result store."""
        values = ",".join(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
                          for name, value in self.settings)
        return f"{self.codec}:{self.mode}" + (f":{values}" if values else "")

    def settings_dict(self) -> dict[str, Any]:
        """The settings as keyword arguments of the codec."""
        return dict(self.settings)


def parse_setting(text: str) -> SweepSetting:
    """``"zfp:accuracy:tolerance=500"`` -> SweepSetting; the codec checks the mode and the values' ranges."""
    parts = text.strip().split(":", 2)
    if len(parts) < 2 or not all(parts[:2]):
        raise CerebroError(f"setting {text!r} is not CODEC:MODE[:NAME=VALUE,...]; e.g. zfp:accuracy:tolerance=500")
    codec_name, mode = parts[0].strip(), parts[1].strip()
    raw: dict[str, str] = {}
    for item in (parts[2].split(",") if len(parts) == 3 and parts[2].strip() else []):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CerebroError(f"setting {text!r}: {item!r} is not NAME=VALUE; e.g. zfp:rate:rate=4")
        raw[name.strip().replace("-", "_")] = value.strip()
    resolved = get_codec(codec_name).resolve_settings(mode, raw)
    given = {name: resolved[name] for name in raw}  # keep what the user chose, not the codec's defaults
    return SweepSetting(codec_name, mode, tuple(sorted(given.items())))


# The paper's grid (Tables 1-4): ZFP fixed rate 16/8/4/2 bits per voxel and absolute error tolerance 500/1000/1500.
PAPER_SETTINGS: tuple[str, ...] = (
    "zfp:rate:rate=16", "zfp:rate:rate=8", "zfp:rate:rate=4", "zfp:rate:rate=2",
    "zfp:accuracy:tolerance=500", "zfp:accuracy:tolerance=1000", "zfp:accuracy:tolerance=1500",
)
