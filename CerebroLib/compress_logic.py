"""The CerebroCompress module's logic: MRML volume nodes in, compressed/decompressed nodes and .cbv files out.

Qt-free (MRML + ``cerebro`` core only), so it runs inside Slicer (the module file re-exports it) and under
pytest with the ``slicer-core`` wheel. Node <-> Volume conversion is done by :mod:`CerebroLib.mrml`; long work
goes through the job runner (:mod:`CerebroLib.jobs`). The background process uses one process for chunked
codecs on every core by default (``workers=0``; 1 keeps it to the one background process), as CerebroBenchmark does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import vtk

from cerebro.cbv.container import SUFFIX, read_header
from cerebro.cbv.roundtrip import RoundTripReport
from cerebro.codecs.base import Codec, Setting, available_codecs, get_codec
from cerebro.codecs.setting import CodecSetting, as_setting, setting_types
from cerebro.errors import CerebroError
from cerebro.fsutil import require_output_suffix
from cerebro.io import read_volume
from cerebro.progress import Progress
from CerebroLib.jobs import CliJob, cerebro_command, make_workdir, run_job, start_on_volume
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


# Every codec setting by name and type, as the panel's parameter node stores them (CerebroLib.parameters builds
# its typed ``CodecSettings`` pack from this), taken from the installed codecs. Ranges differ per codec and are
# checked by the codec (``CodecSetting.of``) before a run.
SETTING_TYPES: dict[str, type] = setting_types()


def initial_settings(codec: str, mode: str) -> dict[str, Any]:
    """A valid starting value for every setting of ``codec``'s ``mode`` (see :func:`initial_value`)."""
    return {setting.name: initial_value(setting) for setting in mode_settings(codec, mode)}


def codec_setting_from(stored: Mapping[str, Any], codec: str, mode: str) -> CodecSetting:
    """The setting of ``codec``'s ``mode`` with its values taken from ``stored`` (e.g. the parameter node's typed
    pack), validated by the codec (CerebroError naming the setting and its range); settings not in ``stored`` get
    their starting value."""
    values = initial_settings(codec, mode)
    values.update({name: stored[name] for name in values if name in stored})
    return CodecSetting.of(codec, mode, values)


def parse_setting_value(codec: str, mode: str, name: str, text: str) -> Any:
    """The typed value of setting ``name`` of ``codec``'s ``mode`` as typed in the panel (its range is checked
    when the setting is made); CerebroError if it is not one."""
    spec = next((s for s in mode_settings(codec, mode) if s.name == name), None)
    if spec is None:
        raise CerebroError(f"{codec} mode {mode} has no setting {name!r}")
    return spec.coerce(text)


def is_compressed_file(path: str | Path) -> bool:
    """True if ``path`` is a readable CerebroBench .cbv file (checks the header only)."""
    if not str(path).lower().endswith(COMPRESSED_SUFFIX):
        return False
    try:
        read_header(path)
    except CerebroError:
        return False
    return True


@dataclass(frozen=True)
class RoundTripRequest:
    """What a round-trip job needs once it has finished: the input node, where the decoded volume is, options."""

    input_node: vtk.vtkObject
    decoded_path: Path
    make_difference: bool


@dataclass(frozen=True)
class LoadRequest:
    """What a .cbv load job needs once it has finished: the decoded file, the scene and the node's name."""

    decoded_path: Path
    scene: vtk.vtkObject
    name: str


class CerebroCompressLogic:
    """Compress a volume node with a codec and show the decompressed result (and its error) as new nodes.

    The round trip, saving and loading of ``.cbv`` files run as ``cerebro compress`` / ``cerebro decompress`` in a
    background process (:mod:`CerebroLib.jobs`): ``start_*`` returns the job to poll, ``finish_*`` turns its
    result into nodes, and ``run`` / ``save_compressed`` / ``load_compressed`` do both, blocking (the module's .cbv
    reader and writer, which Slicer's IO manager calls synchronously, use these). Nothing runs in Slicer's own
    process: ``multiprocessing`` children do not start reliably there (``sys.executable`` is PythonSlicer; Slicer
    issue #7445), and a codec library crashing on a crafted file takes down only the job's process.
    """

    def __init__(self, workers: int = 0, python: str | None = None) -> None:
        self.workers = workers
        self.python = python  # None: PythonSlicer inside Slicer, else this Python (see jobs.python_executable)

    def compress_arguments(self, input_path: Path, output_path: str | Path, setting: CodecSetting,
                           decoded_path: Path | None = None) -> list[str]:
        """The ``cerebro compress`` arguments (the setting in its exact text form, ``--setting TEXT``)."""
        arguments = ["compress", str(input_path), str(output_path), "--setting", setting.text]
        if decoded_path is not None:
            arguments += ["--decoded", str(decoded_path)]
        return arguments + self._worker_arguments()

    def _worker_arguments(self) -> list[str]:
        return ["--workers", str(int(self.workers))]

    def start_round_trip(self, input_node: vtk.vtkObject, codec: str | Codec | CodecSetting, mode: str | None = None,
                         settings: dict[str, Any] | None = None, make_difference: bool = False) -> CliJob:
        """Start compressing + decompressing ``input_node`` in the background; poll the job, then finish it.
        The setting: a CodecSetting, its text (``"zfp:accuracy:tolerance=5"``), or a codec, mode and settings."""
        setting = as_setting(codec, mode, settings)
        return start_on_volume(
            volume_from_node(input_node), "compress",
            lambda folder, input_path: self.compress_arguments(input_path, folder / f"volume{SUFFIX}", setting,
                                                               folder / "decoded.nrrd"),
            "the compression process",
            lambda folder: RoundTripRequest(input_node, folder / "decoded.nrrd", make_difference), self.python)

    def finish_round_trip(self, job: CliJob) -> tuple[vtk.vtkObject, vtk.vtkObject | None, RoundTripReport]:
        """The decompressed node, the difference node (float32 ``decompressed - original``) or None, the report.

        Raises CerebroError with the process's error if it failed, Cancelled if it was cancelled.
        """
        try:
            report = RoundTripReport.from_dict(job.checked_result())
            request: RoundTripRequest = job.context
            decoded = read_volume(request.decoded_path)
            input_node = request.input_node
            scene = input_node.GetScene()
            label = f"{input_node.GetName()} {report.codec}-{report.mode}"
            output_node = volume_to_node(decoded, scene, label)
            copy_parent_transform(input_node, output_node)
            difference_node = None
            if request.make_difference:
                original = volume_from_node(input_node)
                error = decoded.array.astype(np.float32) - original.array.astype(np.float32)
                difference_node = volume_to_node(original.with_array(error), scene, f"{label} difference")
                copy_parent_transform(input_node, difference_node)
            return output_node, difference_node, report
        finally:
            job.cleanup()

    def run(self, input_node: vtk.vtkObject, codec: str | Codec | CodecSetting, mode: str | None = None,
            settings: dict[str, Any] | None = None,
            make_difference: bool = False, progress: Progress | None = None,
            ) -> tuple[vtk.vtkObject, vtk.vtkObject | None, RoundTripReport]:
        """Compress + decompress ``input_node`` (blocking); returns (decompressed node, difference node, report).

        Raises CerebroError for bad input/settings and Cancelled when ``progress`` is cancelled.
        """
        job = self.start_round_trip(input_node, codec, mode, settings, make_difference)
        run_job(job, progress)
        return self.finish_round_trip(job)

    def start_save(self, input_node: vtk.vtkObject, path: str | Path, codec: str | Codec | CodecSetting,
                   mode: str | None = None, settings: dict[str, Any] | None = None) -> CliJob:
        """Start compressing ``input_node`` into the .cbv file ``path`` (written atomically) in the background."""
        require_output_suffix(path, (COMPRESSED_SUFFIX,), "the compressed volume file")
        setting = as_setting(codec, mode, settings)
        return start_on_volume(
            volume_from_node(input_node), "save",
            lambda folder, input_path: self.compress_arguments(input_path, path, setting),
            "the compression process", python=self.python)

    def finish_save(self, job: CliJob) -> dict[str, Any]:
        """The summary of a finished save (output, codec, sizes, ``compression_ratio``, ``error_bound``, ...)."""
        try:
            return job.checked_result()
        finally:
            job.cleanup()

    def save_compressed(self, input_node: vtk.vtkObject, path: str | Path, codec: str | Codec | CodecSetting,
                        mode: str | None = None, settings: dict[str, Any] | None = None,
                        progress: Progress | None = None) -> dict[str, Any]:
        """Compress ``input_node`` into a .cbv file (blocking, in the background process); returns the summary."""
        job = self.start_save(input_node, path, codec, mode, settings)
        run_job(job, progress)
        return self.finish_save(job)

    def start_load(self, path: str | Path, scene: vtk.vtkObject, name: str | None = None) -> CliJob:
        """Start decompressing the .cbv file ``path`` in the background; finishing adds a node to ``scene``."""
        workdir = make_workdir("load")
        decoded = workdir / "decoded.nrrd"
        arguments = ["decompress", str(path), str(decoded), *self._worker_arguments()]
        node_name = name or Path(path).name[: -len(COMPRESSED_SUFFIX)]
        return CliJob(cerebro_command(arguments, self.python), workdir, "the decompression process",
                      LoadRequest(decoded, scene, node_name))

    def finish_load(self, job: CliJob) -> vtk.vtkObject:
        """The new scalar volume node of a finished load."""
        try:
            job.checked_result()
            request: LoadRequest = job.context
            return volume_to_node(read_volume(request.decoded_path), request.scene, request.name)
        finally:
            job.cleanup()

    def load_compressed(self, path: str | Path, scene: vtk.vtkObject, name: str | None = None,
                        progress: Progress | None = None) -> vtk.vtkObject:
        """Read and decompress a .cbv file into a new scalar volume node of ``scene`` (blocking, in the background)."""
        job = self.start_load(path, scene, name)
        run_job(job, progress)
        return self.finish_load(job)
