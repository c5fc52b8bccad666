"""The CerebroCompress module's logic: MRML volume nodes in, compressed/decompressed nodes and .cbv files out.

Qt-free (MRML + ``cerebro`` core only), so it runs inside Slicer (the module file re-exports it) and under
pytest with the ``slicer-core`` wheel. Node <-> Volume conversion is done by :mod:`CerebroLib.mrml`.

Compression runs in-process by default (``workers=1``): worker processes started from inside Slicer's
embedded Python are not reliable on every platform.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import vtk

from cerebro.codecs.base import Codec, Setting, available_codecs, get_codec
from cerebro.compress import CompressedVolume, RoundTripReport, compress_volume, decompress, round_trip
from cerebro.container import SUFFIX, read_compressed, read_header, write_compressed
from cerebro.errors import CerebroError
from cerebro.progress import Progress
from CerebroLib.mrml import copy_parent_transform, volume_from_node, volume_to_node

COMPRESSED_SUFFIX = SUFFIX


def codec_modes() -> dict[str, list[str]]:
    """Codec name -> its mode names, for every codec whose library is installed."""
    return {name: list(codec.modes) for name, codec in available_codecs().items()}


def mode_settings(codec: str, mode: str) -> tuple[Setting, ...]:
    """The settings (name, type, range, unit, default) of ``codec``'s ``mode``; CerebroError if unknown."""
    found = get_codec(codec)
    if mode not in found.modes:
        raise CerebroError(f"codec {codec} has no mode {mode!r}; choose one of: {', '.join(found.modes)}")
    return found.modes[mode].settings


def initial_value(setting: Setting) -> Any:
    """A valid starting value for a setting's widget.

    Its default if the codec gives one, else its first choice; else, for a range spanning more than three
    decades that contains 1 (e.g. a tolerance of 1e-12..1e30 intensity units), 1; else the range's middle.
    """
    if setting.default is not None:
        return setting.kind(setting.default)
    if setting.choices:
        return setting.choices[0]
    lo, hi = setting.minimum, setting.maximum
    if lo is None or hi is None:
        return setting.kind(lo if lo is not None else hi if hi is not None else 0)
    if lo <= 1.0 <= hi and hi - lo > 1e3 * max(lo, 1e-300):
        return setting.kind(1)
    return setting.kind(min(max(setting.kind((lo + hi) / 2.0), lo), hi))


def settings_to_text(settings: dict[str, Any]) -> str:
    """Serialise settings for the parameter node (JSON, keys sorted)."""
    return json.dumps(settings, sort_keys=True)


def settings_from_text(text: str, codec: str, mode: str) -> dict[str, Any]:
    """Settings stored in the parameter node, validated for ``codec``/``mode`` (unknown keys dropped, defaults set)."""
    try:
        stored = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        stored = {}
    known = {s.name: s for s in mode_settings(codec, mode)}
    values = {name: stored[name] for name in known if isinstance(stored, dict) and name in stored}
    for name, setting in known.items():
        values.setdefault(name, initial_value(setting))
    return get_codec(codec).resolve_settings(mode, values)


def is_compressed_file(path: str | Path) -> bool:
    """True if ``path`` is a readable CerebroBench .cbv file (checks the header only)."""
    if not str(path).lower().endswith(COMPRESSED_SUFFIX):
        return False
    try:
        read_header(path)
    except CerebroError:
        return False
    return True


class CerebroCompressLogic:
    """Compress a volume node with a codec and show the decompressed result (and its error) as new nodes."""

    def __init__(self, workers: int | None = 1) -> None:
        self.workers = workers

    def run(
        self,
        input_node: vtk.vtkObject,
        codec: str | Codec,
        mode: str,
        settings: dict[str, Any] | None = None,
        make_difference: bool = False,
        progress: Progress | None = None,
    ) -> tuple[vtk.vtkObject, vtk.vtkObject | None, RoundTripReport]:
        """Compress + decompress ``input_node``; returns (decompressed node, difference node or None, report).

        The difference volume is float32 ``decompressed - original`` in the image's units.
        Raises CerebroError for bad input/settings and Cancelled when ``progress`` is cancelled.
        """
        volume = volume_from_node(input_node)
        decoded, report, _ = round_trip(volume, codec, mode, settings, progress, self.workers)
        scene = input_node.GetScene()
        label = f"{input_node.GetName()} {report.codec}-{report.mode}"
        output_node = volume_to_node(decoded, scene, label)
        copy_parent_transform(input_node, output_node)
        difference_node = None
        if make_difference:
            error = decoded.array.astype(np.float32) - volume.array.astype(np.float32)
            difference_node = volume_to_node(volume.with_array(error), scene, f"{label} difference")
            copy_parent_transform(input_node, difference_node)
        return output_node, difference_node, report

    def save_compressed(
        self,
        input_node: vtk.vtkObject,
        path: str | Path,
        codec: str | Codec,
        mode: str,
        settings: dict[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> CompressedVolume:
        """Compress ``input_node`` and write it to a .cbv file atomically; returns what was written."""
        compressed = compress_volume(volume_from_node(input_node), codec, mode, settings, progress, self.workers)
        write_compressed(compressed, path)
        return compressed

    def load_compressed(
        self, path: str | Path, scene: vtk.vtkObject, name: str | None = None, progress: Progress | None = None
    ) -> vtk.vtkObject:
        """Read and decompress a .cbv file into a new scalar volume node of ``scene`` (named after the file)."""
        compressed = read_compressed(path)
        volume = decompress(compressed, progress, self.workers)
        node_name = name or Path(path).name[: -len(COMPRESSED_SUFFIX)]
        return volume_to_node(volume, scene, node_name)
