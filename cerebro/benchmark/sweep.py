"""Compression settings of a benchmark sweep, written ``codec:mode[:name=value,...]``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cerebro.codecs.base import Codec, get_codec
from cerebro.codecs.setting import CodecSetting, format_value, setting_text, split_setting_text
from cerebro.errors import CerebroError

UNCOMPRESSED = "uncompressed"  # the setting key of the predictions on the original volumes
TARGET_RATIO = "target_ratio"  # a setting reached per case by rate control: codec:mode:target_ratio=25


@dataclass(frozen=True)
class SweepSetting:
    """One codec setting of a sweep, fixed, or with a ``target_ratio`` that rate control reaches on each case by
    searching the mode's size setting (then left out of ``setting``)."""

    setting: CodecSetting
    target_ratio: float | None = None

    @property
    def codec(self) -> str:
        return self.setting.codec

    @property
    def mode(self) -> str:
        return self.setting.mode

    @property
    def key(self) -> str:
        """``codec:mode[:name=value,...]``, the exact text form: the setting's identity in the result store."""
        target = ((TARGET_RATIO, self.target_ratio),) if self.target_ratio is not None else ()
        return setting_text(self.codec, self.mode, self.setting.values + target)

    def settings_dict(self) -> dict[str, Any]:
        """The chosen settings as keyword arguments of the codec (without ``target_ratio``)."""
        return self.setting.as_dict()


def parse_setting(text: str) -> SweepSetting:
    """``"zfp:accuracy:tolerance=500"`` -> SweepSetting; the codec checks the mode and the values' ranges.

    ``target_ratio=R`` (e.g. ``sz3:abs:target_ratio=25``) asks for rate control: on each case the mode's size
    setting is searched until the file is R times smaller than the volume (within 5 %)."""
    codec_name, mode, raw = split_setting_text(text)
    target = raw.pop(TARGET_RATIO, None)
    if target is None:
        return SweepSetting(CodecSetting.of(codec_name, mode, raw))
    codec = get_codec(codec_name)
    ratio, searched = _searched_by_target(codec, mode, target, text, raw)
    resolved = codec.resolve_settings(mode, {**raw, **searched})
    chosen = CodecSetting(codec.name, mode, tuple(sorted((name, resolved[name]) for name in raw)))
    return SweepSetting(chosen, ratio)


def _searched_by_target(codec: Codec, mode: str, value: str, text: str,
                        raw: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """Check a ``target_ratio`` (a number > 1, for a lossy mode that rate control can drive, whose searched setting
    is not also fixed); returns it, and the searched setting at its minimum to validate the others with."""
    from cerebro.ratecontrol import searchable_setting

    try:
        ratio = float(value)
    except ValueError:
        ratio = float("nan")
    if not 1 < ratio < float("inf"):
        raise CerebroError(f"setting {text!r}: target_ratio must be a number above 1 (e.g. 25 for 25:1)")
    spec = searchable_setting(codec, mode, None, "ratio")
    if spec.name == "ratio":
        raise CerebroError(f"setting {text!r}: {codec.name} {mode} reaches a ratio by itself; "
                           f"write ratio={format_value(ratio)}")
    if spec.name in raw:
        raise CerebroError(f"setting {text!r}: target_ratio searches {spec.name}; do not also fix it")
    return ratio, {spec.name: spec.minimum}


def parse_setting_lines(text: str) -> list[SweepSetting]:
    """Settings written one per line (``#`` starts a comment outside quotes; blank lines skipped), as the panel's
    text box holds them; duplicates dropped. A bad line is a one-line error naming it."""
    settings: dict[str, SweepSetting] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = _without_comment(line).strip()
        if not line:
            continue
        try:
            setting = parse_setting(line)
        except CerebroError as error:
            raise CerebroError(f"setting line {number}: {error}") from None
        settings.setdefault(setting.key, setting)
    if not settings:
        raise CerebroError(f"give at least one compression setting, e.g. {PAPER_SETTINGS[4]}")
    return list(settings.values())


def _without_comment(line: str) -> str:
    """``line`` up to a ``#`` that is not inside a quoted value."""
    quoted = escaped = False
    for index, char in enumerate(line):
        if quoted and char == "\\" and not escaped:
            escaped = True
            continue
        if char == '"' and not escaped:
            quoted = not quoted
        elif char == "#" and not quoted:
            return line[:index]
        escaped = False
    return line


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
