"""The CerebroSegment module's logic: segment a volume node with a catalog model, off the GUI thread.

Qt-free (MRML + ``cerebro`` core + the standard library), so it runs inside Slicer (the module file re-exports
it) and under pytest with the ``slicer-core`` wheel. Node <-> Volume conversion is done by :mod:`CerebroLib.mrml`.

Inference runs in a background process, ``<python> -m cerebro.cli.main segment IN OUT ... --progress-format
json`` (as SlicerTotalSegmentator and SlicerNNUNet do): the input volume is written to a temporary NRRD, the
process prints one JSON progress line per step, a reader thread collects them, and the caller polls the job
(the panel with a QTimer, :meth:`CerebroSegmentLogic.run` in a loop). Cancelling terminates the process.
Weight downloads (``fetch_model``) run in a Python thread: they wait on the network with the GIL released.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import vtk

import cerebro
from cerebro.errors import Cancelled, CerebroError
from cerebro.io import read_volume, write_volume
from cerebro.progress import Progress
from cerebro.segment.catalog import ModelEntry, get_model_entry, load_catalog
from cerebro.segment.device import DEVICES
from cerebro.segment.download import expected_path, fetch_model
from CerebroLib.mrml import Color, copy_parent_transform, segmentation_node_from_masks, volume_from_node, volume_to_node

# Segment colours (RGB 0..1): vessels red, like arteries in anatomical atlases; other labels from a palette.
VESSEL_COLOR: Color = (0.85, 0.15, 0.15)
PALETTE: tuple[Color, ...] = (
    (0.20, 0.45, 0.85), (0.95, 0.75, 0.10), (0.30, 0.70, 0.35), (0.65, 0.35, 0.80), (0.95, 0.50, 0.15),
    (0.20, 0.75, 0.80), (0.85, 0.45, 0.65), (0.55, 0.55, 0.55),
)

# On Windows, do not open a console window for the background process.
_NO_CONSOLE_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)

STATUS_BUILT_IN = "built in: no weights needed"
STATUS_SHIPPED = "shipped with CerebroBench"
STATUS_CACHED = "downloaded"
STATUS_DOWNLOAD = "needs download"
STATUS_UNPINNED = "needs download (unpinned: not verified by sha256)"
STATUS_NO_PUBLIC = "no public weights: put the file in the cache by hand"


@dataclass(frozen=True)
class ModelChoice:
    """A catalog model as the model picker shows it: id, one-line description, modality, download status."""

    id: str
    description: str
    modality: str
    status: str
    needs_download: bool
    pinned: bool


def weights_status(entry: ModelEntry, cache_dir: str | os.PathLike[str] | None = None) -> str:
    """Where the weights of ``entry`` stand: one of the ``STATUS_*`` texts of this module."""
    if not entry.needs_weights:
        return STATUS_BUILT_IN
    if entry.local is not None:
        return STATUS_SHIPPED
    if expected_path(entry, cache_dir).is_file():
        return STATUS_CACHED
    if entry.repo is None:
        return STATUS_NO_PUBLIC
    return STATUS_DOWNLOAD if entry.pinned else STATUS_UNPINNED


def model_choices(cache_dir: str | os.PathLike[str] | None = None) -> list[ModelChoice]:
    """Every catalog model (built-in catalog plus ``$CEREBRO_CATALOG``) with its download status."""
    choices = []
    for entry in load_catalog().values():
        status = weights_status(entry, cache_dir)
        choices.append(ModelChoice(entry.id, entry.description, entry.modality, status,
                                   status in (STATUS_DOWNLOAD, STATUS_UNPINNED), entry.pinned))
    return choices


def device_choices() -> tuple[str, ...]:
    """The device names the segment command accepts (auto = CUDA, else MPS, else CPU)."""
    return DEVICES


def segment_colors(labels: dict[int, str]) -> dict[int, tuple[str, Color]]:
    """Label value -> (segment name, RGB colour) for every non-background label; names with "vessel" are red."""
    named: dict[int, tuple[str, Color]] = {}
    others = 0
    for value in sorted(labels):
        if value == 0:
            continue
        name = labels[value]
        if "vessel" in name.lower() or "arter" in name.lower():
            color = VESSEL_COLOR
        else:
            color = PALETTE[others % len(PALETTE)]
            others += 1
        named[value] = (name, color)
    return named


@dataclass
class JobState:
    """What a background job reports when polled: fraction done (0..1), message, and how it ended."""

    fraction: float = 0.0
    message: str = "starting"
    finished: bool = False
    cancelled: bool = False
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """True when the job ended without error and was not cancelled."""
        return self.finished and not self.cancelled and self.error is None


def python_executable(executable: str = sys.executable, which: Callable[[str], str | None] = shutil.which) -> str:
    """The Python that runs the segment command: Slicer's ``PythonSlicer`` when there is one, else this Python.

    Inside Slicer ``sys.executable`` is the Slicer application, not a Python, so ``PythonSlicer`` is looked up
    on the PATH (Slicer's launcher puts it there) and next to the application; CerebroError if it is missing.
    """
    found = which("PythonSlicer")
    if found:
        return found
    beside = Path(executable).with_name("PythonSlicer" + (".exe" if os.name == "nt" else ""))
    if beside.is_file():
        return str(beside)
    if Path(executable).stem.lower().startswith("slicer"):
        raise CerebroError(f"PythonSlicer was not found on the PATH or next to {executable}; "
                           "reinstall Slicer or put its bin folder on the PATH")
    return executable


class SegmentationJob:
    """A running ``cerebro segment`` process whose JSON progress lines are collected by a reader thread."""

    def __init__(self, command: list[str], workdir: Path, mask_path: Path, probability_path: Path | None,
                 reference_node: vtk.vtkObject, model_id: str) -> None:
        self.command = command
        self.workdir = workdir
        self.mask_path = mask_path
        self.probability_path = probability_path
        self.reference_node = reference_node
        self.model_id = model_id
        self.state = JobState()
        self.result: dict | None = None
        self.log: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        core_parent = str(Path(cerebro.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (core_parent, env.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace",
                                        bufsize=1, env=env, creationflags=_NO_CONSOLE_WINDOW)
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()

    def _read_output(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self.process.stdout.close()

    def poll(self) -> JobState:
        """Take in the output printed so far and return the job's state (never blocks for long)."""
        if self.state.finished:
            return self.state
        returncode = self.process.poll()
        if returncode is not None:
            self._reader.join(timeout=5.0)
        while True:
            try:
                self._take_line(self._lines.get_nowait())
            except queue.Empty:
                break
        if returncode is not None:
            self.state.finished = True
            if returncode != 0 or self.result is None:
                self.state.error = self._failure_text(returncode)
            else:
                self.state.fraction, self.state.message = 1.0, "done"
        return self.state

    def _take_line(self, line: str) -> None:
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            if line.strip():
                self.log.append(line)
            return
        if "progress" in data:
            self.state.fraction = float(data["progress"])
            self.state.message = str(data.get("message") or self.state.message)
        if "warning" in data:
            self.state.warnings.append(str(data["warning"]))
        if "result" in data:
            self.result = data["result"]

    def _failure_text(self, returncode: int) -> str:
        errors = [line[len("error: "):] for line in self.log if line.startswith("error: ")]
        if errors:
            return errors[-1]
        tail = "\n".join(self.log[-15:])
        return f"the segmentation process ended with exit status {returncode}" + (f":\n{tail}" if tail else "")

    def cancel(self) -> None:
        """Stop the process (terminate, then kill after 5 s) and delete its temporary files."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5.0)
        self.state.finished, self.state.cancelled, self.state.message = True, True, "cancelled"
        self.cleanup()

    def cleanup(self) -> None:
        """Delete the temporary input/output files."""
        shutil.rmtree(self.workdir, ignore_errors=True)


class DownloadJob:
    """Fetches a model's weights into the cache in a background thread (progress and cancel through Progress)."""

    def __init__(self, entry: ModelEntry, cache_dir: str | os.PathLike[str] | None, allow_unpinned: bool,
                 fetch: Callable[..., Path] = fetch_model) -> None:
        self.entry = entry
        self.path: Path | None = None
        self.state = JobState(message="downloading")
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        progress = Progress(on_update=self._update, is_cancelled=self._cancel.is_set)
        self._thread = threading.Thread(target=self._work, args=(fetch, cache_dir, allow_unpinned, progress),
                                        daemon=True)
        self._thread.start()

    def _update(self, fraction: float, message: str) -> None:
        with self._lock:
            self.state.fraction, self.state.message = fraction, message or self.state.message

    def _work(self, fetch: Callable[..., Path], cache_dir: str | os.PathLike[str] | None, allow_unpinned: bool,
              progress: Progress) -> None:
        error, cancelled, path = None, False, None
        try:
            path = fetch(self.entry, cache_dir=cache_dir, progress=progress, allow_unpinned=allow_unpinned)
        except Cancelled:
            cancelled = True
        except CerebroError as exc:
            error = str(exc)
        except Exception as exc:  # a background thread must hand every failure to the panel, not lose it
            error = f"downloading '{self.entry.id}' failed: {exc!r}"
        with self._lock:
            self.path = path
            self.state.finished, self.state.cancelled, self.state.error = True, cancelled, error
            if path is not None:
                self.state.fraction, self.state.message = 1.0, "downloaded"

    def poll(self) -> JobState:
        """The download's state (a copy, safe to read while the thread runs)."""
        with self._lock:
            return JobState(self.state.fraction, self.state.message, self.state.finished, self.state.cancelled,
                            self.state.error, list(self.state.warnings))

    def cancel(self) -> None:
        """Ask the download to stop at its next progress update and wait up to 10 s for it."""
        self._cancel.set()
        self._thread.join(timeout=10.0)

    def wait(self, timeout: float | None = None) -> JobState:
        """Block until the download ends (or ``timeout`` seconds) and return its state."""
        self._thread.join(timeout)
        return self.poll()


@dataclass
class SegmentationOutput:
    """What a finished run adds to the scene: the segmentation node, the probability node (or None), labels."""

    segmentation_node: vtk.vtkObject
    probability_node: vtk.vtkObject | None
    labels: dict[int, str]
    warnings: list[str] = field(default_factory=list)


class CerebroSegmentLogic:
    """Segment a scalar volume node with a catalog model in a background process; results become MRML nodes."""

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None, python: str | None = None) -> None:
        self.cache_dir = cache_dir
        self.python = python  # None: found on the first start (see python_executable)

    def command(self, input_path: Path, mask_path: Path, model_id: str, device: str = "auto", tta: bool = True,
                probability_path: Path | None = None, allow_unpinned: bool = False) -> list[str]:
        """The command line of the background segmentation process."""
        command = [self.python or python_executable(), "-m", "cerebro.cli.main", "segment", str(input_path),
                   str(mask_path), "--model", model_id, "--device", device, "--progress-format", "json"]
        if not tta:
            command.append("--no-tta")
        if probability_path is not None:
            command += ["--probabilities", str(probability_path)]
        if self.cache_dir is not None:
            command += ["--cache-dir", str(self.cache_dir)]
        if allow_unpinned:
            command.append("--allow-unpinned")
        return command

    def start(self, input_node: vtk.vtkObject, model_id: str, device: str = "auto", tta: bool = True,
              probabilities: bool = False, allow_unpinned: bool = False) -> SegmentationJob:
        """Write ``input_node`` to a temporary NRRD and start segmenting it; poll the returned job.

        Raises CerebroError at once for an unusable input node, an unknown model or device.
        """
        get_model_entry(model_id)
        if device.split(":")[0] not in DEVICES:
            raise CerebroError(f"unknown device '{device}'; use one of {', '.join(DEVICES)}")
        volume = volume_from_node(input_node)
        volume.require_finite()
        workdir = Path(tempfile.mkdtemp(prefix="cerebro-segment-"))
        try:
            input_path, mask_path = workdir / "input.nrrd", workdir / "mask.nrrd"
            probability_path = workdir / "probabilities.nrrd" if probabilities else None
            write_volume(volume, input_path)
            command = self.command(input_path, mask_path, model_id, device, tta, probability_path, allow_unpinned)
            return SegmentationJob(command, workdir, mask_path, probability_path, input_node, model_id)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise

    def finish(self, job: SegmentationJob) -> SegmentationOutput:
        """Load a finished job's mask into a new segmentation node (one named, coloured segment per label).

        Raises CerebroError with the process's error if it failed, Cancelled if it was cancelled.
        """
        state = job.poll()
        try:
            if not state.finished:
                raise CerebroError("the segmentation is still running; wait for it to finish or cancel it")
            if state.cancelled:
                raise Cancelled("cancelled by the user")
            if state.error is not None:
                raise CerebroError(state.error)
            labels = {int(k): str(v) for k, v in job.result["labels"].items()}
            mask = read_volume(job.mask_path)
            masks = {name: (mask.with_array((mask.array == value).astype(np.uint8)), color)
                     for value, (name, color) in segment_colors(labels).items()}
            reference = job.reference_node
            name = f"{reference.GetName()} {job.model_id}"
            segmentation_node = segmentation_node_from_masks(masks, reference, name)
            probability_node = None
            if job.probability_path is not None:
                probability_node = volume_to_node(read_volume(job.probability_path), reference.GetScene(),
                                                  f"{name} probability")
                copy_parent_transform(reference, probability_node)
            return SegmentationOutput(segmentation_node, probability_node, labels, list(state.warnings))
        finally:
            job.cleanup()

    def run(self, input_node: vtk.vtkObject, model_id: str, device: str = "auto", tta: bool = True,
            probabilities: bool = False, allow_unpinned: bool = False, progress: Progress | None = None,
            poll_seconds: float = 0.1) -> SegmentationOutput:
        """Start, wait (reporting to ``progress``; cancelling it terminates the process) and finish a run."""
        progress = progress or Progress()
        job = self.start(input_node, model_id, device, tta, probabilities, allow_unpinned)
        try:
            while not (state := job.poll()).finished:
                progress.update(state.fraction, state.message)
                time.sleep(poll_seconds)
        except BaseException:
            job.cancel()
            raise
        return self.finish(job)

    def start_download(self, model_id: str, allow_unpinned: bool = False) -> DownloadJob:
        """Start fetching the weights of ``model_id`` into the cache in a background thread; poll the job."""
        entry = get_model_entry(model_id)
        if not entry.needs_weights:
            raise CerebroError(f"model '{model_id}' needs no weights; it can run right away")
        return DownloadJob(entry, self.cache_dir, allow_unpinned)
