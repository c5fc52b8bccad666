"""The CerebroSegment module's logic: segment a volume node with a catalog model, off the GUI thread.

Qt-free (MRML + ``cerebro`` core + the standard library), so it runs inside Slicer (the module file re-exports
it) and under pytest with the ``slicer-core`` wheel. Node <-> Volume conversion is done by :mod:`CerebroLib.mrml`.

Inference and weight downloads run through the one job runner, :mod:`CerebroLib.jobs`: ``cerebro segment IN OUT
...`` and ``cerebro models download ID`` in a background process speaking the JSON progress protocol. The input
volume is written to a temporary NRRD; the caller polls the job (the panel through a ``JobController``,
:meth:`CerebroSegmentLogic.run` in a loop); cancelling terminates the process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import vtk

from cerebro.device import DEVICES
from cerebro.errors import CerebroError
from cerebro.io import read_volume
from cerebro.modality import chosen_modality
from cerebro.progress import Progress
from cerebro.segment.catalog import DEFAULT_MODEL_ID, ModelEntry, get_model_entry, load_catalog
from cerebro.segment.weights.download import expected_path
from CerebroLib.jobs import CliJob, cerebro_command, run_job, start_on_volume
from CerebroLib.mrml import Color, copy_parent_transform, segmentation_node_from_masks, volume_from_node, volume_to_node

# Segment colours (RGB 0..1): vessels red, like arteries in anatomical atlases; other labels from a palette.
VESSEL_COLOR: Color = (0.85, 0.15, 0.15)
PALETTE: tuple[Color, ...] = (
    (0.20, 0.45, 0.85), (0.95, 0.75, 0.10), (0.30, 0.70, 0.35), (0.65, 0.35, 0.80), (0.95, 0.50, 0.15),
    (0.20, 0.75, 0.80), (0.85, 0.45, 0.65), (0.55, 0.55, 0.55),
)

STATUS_BUILT_IN = "built in: no weights needed"
STATUS_SHIPPED = "shipped with CerebroBench"
STATUS_CACHED = "downloaded"
STATUS_DOWNLOAD = "needs download"
STATUS_UNPINNED = "needs download (unpinned: not verified by sha256)"
STATUS_NO_PUBLIC = "no public weights: put the file in the cache by hand"
STATUS_ROUTES = "shipped: picks the model for the volume's modality"


@dataclass(frozen=True)
class ModelChoice:
    """A catalog model as the model picker shows it: id, one-line description, modality, download status."""

    id: str
    description: str
    modality: str
    status: str
    needs_download: bool
    pinned: bool
    routes: bool = False  # picks a model per modality (the panel's modality selector applies)


def weights_status(entry: ModelEntry, cache_dir: str | os.PathLike[str] | None = None) -> str:
    """Where the weights of ``entry`` stand: one of the ``STATUS_*`` texts of this module."""
    if entry.routes:
        return STATUS_ROUTES
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
                                   status in (STATUS_DOWNLOAD, STATUS_UNPINNED), entry.pinned, bool(entry.routes)))
    return choices


FALLBACK_MODEL_ID = "vesselness"  # the classical baseline: no weights, always there


def preferred_model() -> str:
    """The model a panel and the self-test start with: the shipped default model, else the vesselness baseline."""
    return DEFAULT_MODEL_ID if DEFAULT_MODEL_ID in load_catalog() else FALLBACK_MODEL_ID


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


@dataclass(frozen=True)
class SegmentationRequest:
    """What a segmentation job needs once it has finished: where its outputs are, and the input node."""

    mask_path: Path
    probability_path: Path | None
    reference_node: vtk.vtkObject
    model_id: str


@dataclass
class SegmentationOutput:
    """What a finished run adds to the scene: the segmentation node, the probability node (or None), labels, and
    the model that ran (``model_id``; for a routing entry such as cerebro-default, the one picked and ``route``,
    why)."""

    segmentation_node: vtk.vtkObject
    probability_node: vtk.vtkObject | None
    labels: dict[int, str]
    warnings: list[str] = field(default_factory=list)
    model_id: str = ""
    route: str = ""


class CerebroSegmentLogic:
    """Segment a scalar volume node with a catalog model in a background process; results become MRML nodes."""

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None, python: str | None = None) -> None:
        self.cache_dir = cache_dir
        self.python = python  # None: PythonSlicer inside Slicer, else this Python (see jobs.python_executable)

    def arguments(self, input_path: Path, mask_path: Path, model_id: str, device: str = "auto", tta: bool = True,
                  probability_path: Path | None = None, allow_unpinned: bool = False,
                  modality: str = "auto") -> list[str]:
        """The ``cerebro segment`` arguments of a background run (``modality`` auto: the CLI's rule picks)."""
        arguments = ["segment", str(input_path), str(mask_path), "--model", model_id, "--device", device]
        if chosen_modality(modality):
            arguments += ["--modality", modality]
        if not tta:
            arguments.append("--no-tta")
        if probability_path is not None:
            arguments += ["--probabilities", str(probability_path)]
        arguments += self._cache_arguments(allow_unpinned)
        return arguments

    def _cache_arguments(self, allow_unpinned: bool) -> list[str]:
        arguments = ["--cache-dir", str(self.cache_dir)] if self.cache_dir is not None else []
        return arguments + (["--allow-unpinned"] if allow_unpinned else [])

    def start(self, input_node: vtk.vtkObject, model_id: str, device: str = "auto", tta: bool = True,
              probabilities: bool = False, allow_unpinned: bool = False, modality: str = "auto") -> CliJob:
        """Write ``input_node`` to a temporary NRRD and start segmenting it; poll the returned job.

        Raises CerebroError at once for an unusable input node, an unknown model, modality or device.
        """
        get_model_entry(model_id)
        if device.split(":")[0] not in DEVICES:
            raise CerebroError(f"unknown device '{device}'; use one of {', '.join(DEVICES)}")
        chosen_modality(modality)
        volume = volume_from_node(input_node)
        volume.require_finite()

        def outputs(folder: Path) -> tuple[Path, Path | None]:
            return folder / "mask.nrrd", folder / "probabilities.nrrd" if probabilities else None

        def arguments(folder: Path, input_path: Path) -> list[str]:
            mask_path, probability_path = outputs(folder)
            return self.arguments(input_path, mask_path, model_id, device, tta, probability_path, allow_unpinned,
                                  modality)

        return start_on_volume(volume, "segment", arguments, "the segmentation process",
                               lambda folder: SegmentationRequest(*outputs(folder), input_node, model_id), self.python)

    def finish(self, job: CliJob) -> SegmentationOutput:
        """Load a finished job's mask into a new segmentation node (one named, coloured segment per label).

        Raises CerebroError with the process's error if it failed, Cancelled if it was cancelled.
        """
        try:
            result = job.checked_result()
            request: SegmentationRequest = job.context
            labels = {int(k): str(v) for k, v in result["labels"].items()}
            mask = read_volume(request.mask_path)
            masks = {name: (mask.with_array((mask.array == value).astype(np.uint8)), color)
                     for value, (name, color) in segment_colors(labels).items()}
            reference = request.reference_node
            model_id = str(result.get("model") or request.model_id)
            name = f"{reference.GetName()} {model_id}"
            segmentation_node = segmentation_node_from_masks(masks, reference, name)
            probability_node = None
            if request.probability_path is not None:
                probability_node = volume_to_node(read_volume(request.probability_path), reference.GetScene(),
                                                  f"{name} probability")
                copy_parent_transform(reference, probability_node)
            return SegmentationOutput(segmentation_node, probability_node, labels, list(job.state.warnings), model_id,
                                      str(result.get("route") or ""))
        finally:
            job.cleanup()

    def run(self, input_node: vtk.vtkObject, model_id: str, device: str = "auto", tta: bool = True,
            probabilities: bool = False, allow_unpinned: bool = False, progress: Progress | None = None,
            poll_seconds: float = 0.1, modality: str = "auto") -> SegmentationOutput:
        """Start, wait (reporting to ``progress``; cancelling it terminates the process) and finish a run."""
        job = self.start(input_node, model_id, device, tta, probabilities, allow_unpinned, modality)
        run_job(job, progress, poll_seconds)
        return self.finish(job)

    def start_download(self, model_id: str, allow_unpinned: bool = False) -> CliJob:
        """Start fetching the weights of ``model_id`` into the cache (``cerebro models download``); poll the job."""
        entry = get_model_entry(model_id)
        if not entry.needs_weights:
            raise CerebroError(f"model '{model_id}' needs no weights; it can run right away")
        arguments = ["models", "download", model_id, *self._cache_arguments(allow_unpinned)]
        return CliJob(cerebro_command(arguments, self.python), None, "the download", entry)

    def download(self, model_id: str, allow_unpinned: bool = False, progress: Progress | None = None) -> Path:
        """Fetch the weights of ``model_id`` (blocking, cancellable through ``progress``); returns the cached file."""
        job = self.start_download(model_id, allow_unpinned)
        run_job(job, progress)
        return Path(job.checked_result()["path"])
