"""Compression settings of a benchmark sweep, written ``codec:mode[:name=value,...]``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cerebro.codecs.base import get_codec
from cerebro.errors import CerebroError

UNCOMPRESSED = "uncompressed"  # the setting key of the predictions on the original volumes
TARGET_RATIO = "target_ratio"  # a setting reached per case by rate control: codec:mode:target_ratio=25


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
        """The settings as keyword arguments of the codec (without ``target_ratio``)."""
        return {name: value for name, value in self.settings if name != TARGET_RATIO}

    @property
    def target_ratio(self) -> float | None:
        """The compression ratio that rate control reaches on each case (None: the settings are fixed)."""
        return dict(self.settings).get(TARGET_RATIO)


def parse_setting(text: str) -> SweepSetting:
    """``"zfp:accuracy:tolerance=500"`` -> SweepSetting; the codec checks the mode and the values' ranges.

    ``target_ratio=R`` (e.g. ``sz3:abs:target_ratio=25``) asks for rate control: on each case the mode's size
    setting is searched until the file is R times smaller than the volume (within 5 %)."""
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
    target = raw.pop(TARGET_RATIO, None)
    codec = get_codec(codec_name)
    searched = _searched_by_target(codec, mode, target, text, raw) if target is not None else {}
    resolved = codec.resolve_settings(mode, {**raw, **searched})
    given: dict[str, Any] = {name: resolved[name] for name in raw}  # what the user chose, not the defaults
    if target is not None:
        given[TARGET_RATIO] = float(target)
    return SweepSetting(codec_name, mode, tuple(sorted(given.items())))


def _searched_by_target(codec: Any, mode: str, value: str, text: str, raw: dict[str, str]) -> dict[str, Any]:
    """Check a ``target_ratio`` (a number > 1, for a lossy mode that rate control can drive, whose searched setting
    is not also fixed); returns the searched setting at its minimum, to validate the others with."""
    from cerebro.ratecontrol import searchable_setting

    try:
        ratio = float(value)
    except ValueError:
        ratio = float("nan")
    if not 1 < ratio < float("inf"):
        raise CerebroError(f"setting {text!r}: target_ratio must be a number above 1 (e.g. 25 for 25:1)")
    spec = searchable_setting(codec, mode, None, "ratio")
    if spec.name == "ratio":
        raise CerebroError(f"setting {text!r}: {codec.name} {mode} reaches a ratio by itself; write ratio={value}")
    if spec.name in raw:
        raise CerebroError(f"setting {text!r}: target_ratio searches {spec.name}; do not also fix it")
    return {spec.name: spec.minimum}


# The paper's grid (Tables 1-4): ZFP fixed rate 16/8/4/2 bits per voxel and absolute error tolerance 500/1000/1500.
PAPER_SETTINGS: tuple[str, ...] = (
    "zfp:rate:rate=16", "zfp:rate:rate=8", "zfp:rate:rate=4", "zfp:rate:rate=2",
    "zfp:accuracy:tolerance=500", "zfp:accuracy:tolerance=1000", "zfp:accuracy:tolerance=1500",
)

# Named setting lists: `cerebro benchmark run --preset NAME` and the CerebroBenchmark panel's presets.
PRESETS: dict[str, tuple[str, ...]] = {
    "paper": PAPER_SETTINGS,
    "ratios": tuple(f"{codec}:target_ratio={r}" for codec in ("zfp:rate", "sz3:abs", "sperr:pwe", "jpeg2000:quality")
                    for r in (10, 25, 50, 100)) + tuple(f"inr-hashgrid:ratio:ratio={r}" for r in (10, 25, 50, 100)),
    "error-bounded": tuple(f"{codec}:tolerance={t}" for codec in ("zfp:accuracy", "sz3:abs", "sperr:pwe")
                           for t in (10, 50, 200)),
    "lossless": ("zfp:reversible", "zstd:lossless", "blosc2:lossless"),
}
PRESET_TITLES = {
    "paper": "paper: ZFP rate 16/8/4/2 and tolerance 500/1000/1500",
    "ratios": "every codec at 10/25/50/100:1 (rate control per case)",
    "error-bounded": "error-bounded codecs: ZFP, SZ3, SPERR at tolerance 10/50/200",
    "lossless": "lossless baselines: ZFP reversible, zstd, blosc2",
}
