"""The CerebroBenchmark module's logic: run the benchmark on a scene volume or a dataset, off the GUI thread, and
turn a result store into MRML (results and limits tables, plot charts, a record's decoded volume and segments).

Qt-free (MRML + ``cerebro`` core + the standard library), so it runs inside Slicer and under pytest with the
``slicer-core`` wheel. Runs go through the one job runner (:mod:`CerebroLib.jobs`): ``cerebro benchmark run|search
... --progress-format json`` in a background process; a cancelled or crashed run resumes from its store.

Scene input: the volume (and the reference segment, when given) are written into ``STORE/inputs`` with a manifest,
so the store holds everything its records refer to. Without a reference, scores are against the model's own
prediction on the uncompressed volume.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import vtk

from cerebro.benchmark.limits import LIMIT_HEADERS, compression_limits, limit_cells
from cerebro.benchmark.runner import METRIC_SETS
from cerebro.benchmark.store import ResultStore
from cerebro.benchmark.summary import COLUMNS as RESULT_COLUMNS
from cerebro.benchmark.summary import summarise
from cerebro.benchmark.sweep import PRESET_TITLES, UNCOMPRESSED, SweepSetting, parse_setting
from cerebro.benchmark.sweep import PRESETS as SWEEP_PRESETS
from cerebro.codecs.setting import CodecSetting
from cerebro.datasets.loaders import LAYOUTS as DATASET_LAYOUTS
from cerebro.datasets.manifest import Case, Manifest
from cerebro.device import DEVICES
from cerebro.errors import CerebroError
from cerebro.io import read_volume, write_volume
from cerebro.modality import chosen_modality
from cerebro.progress import Progress
from cerebro.segment.catalog import get_model_entry
from cerebro.volume import Volume, same_geometry
from CerebroLib.jobs import CliJob, cerebro_command, make_workdir, run_job
from CerebroLib.mrml import copy_parent_transform, segmentation_node_from_masks, volume_to_node

SOURCES = ("scene", "dataset", "manifest")  # the panel's inputs: a scene volume, a dataset folder, a manifest file
LAYOUTS = tuple(DATASET_LAYOUTS)
STORE_ATTRIBUTE = "CerebroBenchmark.store"  # on every node made from a store: which store it shows

# Setting presets of the panel by title (one CODEC:MODE[:NAME=VALUE,...] per line), those of the CLI's --preset.
PRESETS: dict[str, tuple[str, ...]] = {PRESET_TITLES[name]: settings for name, settings in SWEEP_PRESETS.items()}

COMPARISON_COLORS = {"prediction": (0.85, 0.15, 0.15), "reference": (0.0, 0.8, 0.0),
                     "false positive": (1.0, 0.0, 1.0), "false negative": (0.1, 0.4, 1.0)}


@dataclass
class BenchmarkNodes:
    """What a store becomes in MRML: the results and limits tables and the charts."""

    results_table: vtk.vtkObject
    limits_table: vtk.vtkObject
    dice_vs_ratio_chart: vtk.vtkObject
    ratio_chart: vtk.vtkObject
    dice_chart: vtk.vtkObject


@dataclass(frozen=True)
class RunRequest:
    """A running benchmark's store (what :meth:`CerebroBenchmarkLogic.finish` loads)."""

    store: Path
    max_dice_loss: float
    against: str


@dataclass(frozen=True)
class ShowRequest:
    """The record a 'show' job decodes: its case, setting and model, and where the decoded volume goes."""

    store: Path
    case: Case
    setting: str
    model: str
    decoded_path: Path | None


@dataclass
class ShownRecord:
    """A record in the scene: the (decoded) volume and the prediction / reference / disagreement segments."""

    volume_node: vtk.vtkObject
    segmentation_node: vtk.vtkObject


def case_id_of(name: str) -> str:
    """A case id from a node name (letters, digits, '._-')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "volume"


def _digest(volume: Volume) -> str:
    data = np.ascontiguousarray(volume.array)
    return hashlib.sha256(repr((data.dtype.str, data.shape, volume.spacing)).encode() + data.tobytes()).hexdigest()


def _keep_input(volume: Volume, path: Path, clash: str) -> Path:
    """Write ``volume`` to ``path`` once; the same voxels there already are fine, others are refused."""
    if path.exists():
        if _digest(read_volume(path)) != _digest(volume):
            raise CerebroError(f"{path.parent.parent} already holds {clash}; rename the volume or choose a new "
                               "results folder")
    else:
        write_volume(volume, path)
    return path


class CerebroBenchmarkLogic:
    """Run benchmarks in a background process and show their stores in MRML."""

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None, python: str | None = None,
                 workers: int = 0) -> None:
        self.cache_dir = cache_dir
        self.workers = workers  # the background run's --workers: 0 = all cores, 1 = in its one process
        self.python = python  # None: PythonSlicer inside Slicer, else this Python (see jobs.python_executable)

    # --- inputs ----------------------------------------------------------------------------------------------

    def scene_manifest(self, volume_node: vtk.vtkObject, store: str | os.PathLike[str],
                       reference_node: vtk.vtkObject | None = None, segment: str | None = None,
                       modality: str = "auto") -> Path:
        """Write the scene volume (and its reference: the segment named ``segment`` of the segmentation node
        ``reference_node``, or all its segments together) into ``STORE/inputs`` with a manifest recording
        ``modality`` (``auto``: none, so the intensities pick the model of cerebro-default); returns the manifest
        path.

        Refuses a store that already holds a different volume under the same case id (so one store never mixes
        two images as one case)."""
        from CerebroLib.mrml import masks_from_segmentation_node, volume_from_node

        volume = volume_from_node(volume_node)
        volume.require_finite()
        case_id = case_id_of(volume_node.GetName())
        inputs = Path(store) / "inputs"
        inputs.mkdir(parents=True, exist_ok=True)
        image_path = _keep_input(volume, inputs / f"{case_id}_0000.nii.gz", f"a different volume named {case_id}")
        label_path = None
        if reference_node is not None:
            masks = masks_from_segmentation_node(reference_node, volume_node)
            if not masks:
                raise CerebroError(f"the reference segmentation {reference_node.GetName()} has no segments")
            label_path = _keep_input(self._reference_label(volume, masks, segment),
                                     inputs / f"{case_id}_reference.nii.gz", f"a different reference for {case_id}")
        recorded = chosen_modality(modality) or ""
        return Manifest([Case(case_id, image_path, label_path, recorded)]).write(inputs / f"{case_id}.json")

    @staticmethod
    def _reference_label(volume: Volume, masks: dict[str, tuple[Volume, Any]], segment: str | None) -> Volume:
        if segment is not None and segment not in masks:
            raise CerebroError(f"the reference segmentation has no segment named {segment!r}; "
                               f"choose one of: {', '.join(masks)}")
        chosen = [masks[segment][0]] if segment is not None else [mask for mask, _ in masks.values()]
        for mask in chosen:
            mismatch = same_geometry(mask, volume)
            if mismatch:
                raise CerebroError(f"the reference segment is not on the volume's grid ({mismatch})")
        union = np.zeros(volume.shape, dtype=bool)
        for mask in chosen:
            union |= mask.array != 0
        return volume.with_array(union.astype(np.uint8))

    # --- runs ------------------------------------------------------------------------------------------------

    def _common(self, store: Path, models: Sequence[str], device: str, tta: bool, metrics: str,
                allow_unpinned: bool) -> list[str]:
        for model in models:
            get_model_entry(model)
        if device.split(":")[0] not in DEVICES:
            raise CerebroError(f"unknown device '{device}'; use one of {', '.join(DEVICES)}")
        if metrics not in METRIC_SETS:
            raise CerebroError(f"unknown metric set '{metrics}'; use one of {', '.join(METRIC_SETS)}")
        arguments = ["--store", str(store), "--device", device, "--metrics", metrics, "--progress-format", "json",
                     "--without-labels"]
        arguments += ["--tta"] if tta else []
        arguments += ["--cache-dir", str(self.cache_dir)] if self.cache_dir is not None else []
        return arguments + (["--allow-unpinned"] if allow_unpinned else [])

    def _source(self, source: str | os.PathLike[str], layout: str, max_cases: int | None) -> list[str]:
        path = Path(source)
        if not path.exists():
            raise CerebroError(f"dataset not found: {path}; give a dataset folder or a manifest file")
        if layout not in LAYOUTS:
            raise CerebroError(f"unknown layout '{layout}'; use one of {', '.join(LAYOUTS)}")
        arguments = [str(path), "--layout", layout]
        return arguments + (["--max-cases", str(int(max_cases))] if max_cases else [])

    def start(self, source: str | os.PathLike[str], store: str | os.PathLike[str],
              settings: Sequence[SweepSetting | str],
              models: Sequence[str], layout: str = "nnunet", device: str = "auto", tta: bool = False,
              metrics: str = "all", max_cases: int | None = None, allow_unpinned: bool = False,
              max_dice_loss: float = 0.001, against: str = "truth") -> CliJob:
        """Start ``cerebro benchmark run`` on ``source`` (a dataset folder or a manifest, e.g. from
        :meth:`scene_manifest`) into ``store``; poll the returned job, then :meth:`finish` it. ``settings``: parsed
        ones (the panel's :func:`~cerebro.benchmark.sweep.parse_setting_lines`) or their text (the console's)."""
        if not settings:
            raise CerebroError("give at least one compression setting")
        if not models:
            raise CerebroError("choose at least one model")
        store = Path(store)
        arguments = ["benchmark", "run", *self._source(source, layout, max_cases)]
        for setting in settings:
            arguments += ["--setting", (setting if isinstance(setting, SweepSetting) else parse_setting(setting)).key]
        for model in models:
            arguments += ["--model", model]
        arguments += ["--workers", str(int(self.workers))]
        arguments += self._common(store, models, device, tta, metrics, allow_unpinned)
        return CliJob(cerebro_command(arguments, self.python), None, "the benchmark",
                      RunRequest(store, max_dice_loss, against))

    def start_search(self, source: str | os.PathLike[str], store: str | os.PathLike[str], codec: str,
                     max_dice_loss: float, model: str, mode: str | None = None, criterion: str = "mean",
                     against: str = "truth", layout: str = "nnunet", device: str = "auto", tta: bool = False,
                     metrics: str = "all", max_cases: int | None = None, max_trials: int = 10,
                     allow_unpinned: bool = False) -> CliJob:
        """Start ``cerebro benchmark search``: the codec setting with the largest compression whose Dice loss stays
        within ``max_dice_loss``; its trials are ordinary records of ``store``."""
        store = Path(store)
        arguments = ["benchmark", "search", *self._source(source, layout, max_cases), "--codec", codec,
                     "--max-dice-loss", repr(float(max_dice_loss)), "--criterion", criterion, "--against", against,
                     "--model", model, "--max-trials", str(int(max_trials))]
        arguments += ["--mode", mode] if mode else []
        arguments += self._common(store, [model], device, tta, metrics, allow_unpinned)
        return CliJob(cerebro_command(arguments, self.python), None, "the search",
                      RunRequest(store, max_dice_loss, against))

    def finish(self, job: CliJob, scene: vtk.vtkObject) -> tuple[BenchmarkNodes, dict[str, Any]]:
        """Load a finished run's store into ``scene``; returns the nodes and the process's result (for a search:
        the recommendation). Raises CerebroError with the process's error, Cancelled if it was cancelled (what
        was finished stays in the store, and the next run resumes from it)."""
        try:
            result = job.checked_result()
            request: RunRequest = job.context
            return self.load_results(request.store, scene, request.max_dice_loss, request.against), result
        finally:
            job.cleanup()

    def run(self, source: str | os.PathLike[str], store: str | os.PathLike[str],
            settings: Sequence[SweepSetting | str],
            models: Sequence[str], scene: vtk.vtkObject, progress: Progress | None = None,
            **options: Any) -> BenchmarkNodes:
        """Start, wait (reporting to ``progress``; cancelling it terminates the process) and load a run: the Python
        console's one call."""
        job = self.start(source, store, settings, models, **options)
        run_job(job, progress)
        return self.finish(job, scene)[0]

    def start_report(self, store: str | os.PathLike[str], output: str | os.PathLike[str],
                     bounds: Sequence[float] = (0.001, 0.01), against: str = "truth") -> CliJob:
        """Start ``cerebro benchmark report STORE OUTPUT``; the job's result holds the written ``path``."""
        arguments = ["benchmark", "report", str(store), str(output), "--against", against, "--progress-format", "json"]
        for bound in bounds:
            arguments += ["--max-dice-loss", repr(float(bound))]
        return CliJob(cerebro_command(arguments, self.python), None, "the report", Path(output))

    # --- a store in MRML -------------------------------------------------------------------------------------

    def load_results(self, store: str | os.PathLike[str], scene: vtk.vtkObject, max_dice_loss: float = 0.001,
                     against: str = "truth") -> BenchmarkNodes:
        """The store's results table, limits table and charts as MRML nodes (replacing those of an earlier load
        of the same store)."""
        folder = Path(store)
        if not (folder / "results.jsonl").is_file():
            raise CerebroError(f"{folder} holds no benchmark results (results.jsonl); run a benchmark first")
        records = ResultStore(folder).records()
        if not records:
            raise CerebroError(f"{folder} holds no results yet; run a benchmark first")
        tag = str(folder.resolve())
        self._remove_nodes(scene, tag)
        rows = summarise(records)
        name = folder.name
        results = self._results_table(scene, f"CerebroBenchmark results ({name})", rows, tag)
        limits = self._limits_table(scene, f"CerebroBenchmark limits, Dice loss <= {max_dice_loss:g} ({name})",
                                    compression_limits(records, max_dice_loss, against), tag)
        charts = self._charts(scene, rows, name, tag)
        return BenchmarkNodes(results, limits, *charts)

    @staticmethod
    def _remove_nodes(scene: vtk.vtkObject, tag: str) -> None:
        doomed = []
        for index in range(scene.GetNumberOfNodes()):
            node = scene.GetNthNode(index)
            if node is not None and node.GetAttribute(STORE_ATTRIBUTE) == tag:
                doomed.append(node)
        for node in doomed:
            scene.RemoveNode(node)

    @staticmethod
    def _new(scene: vtk.vtkObject, cls: str, name: str, tag: str) -> vtk.vtkObject:
        node = scene.AddNewNodeByClass(cls, name)
        node.SetAttribute(STORE_ATTRIBUTE, tag)
        return node

    def _results_table(self, scene: vtk.vtkObject, name: str, rows: list[dict[str, Any]], tag: str) -> vtk.vtkObject:
        node = self._new(scene, "vtkMRMLTableNode", name, tag)
        table = node.GetTable()
        for column in RESULT_COLUMNS:
            text = column.fmt == "s"
            array = vtk.vtkStringArray() if text else vtk.vtkDoubleArray()
            array.SetName(column.header)
            array.SetNumberOfValues(len(rows))
            for index, row in enumerate(rows):
                value = row.get(column.key)
                array.SetValue(index, str(value) if text else float("nan") if value is None else float(value))
            table.AddColumn(array)
            node.SetColumnUnitLabel(column.header, column.unit)
            node.SetColumnDescription(column.header, column.description)
        node.Modified()
        return node

    def _limits_table(self, scene: vtk.vtkObject, name: str, limits: list, tag: str) -> vtk.vtkObject:
        node = self._new(scene, "vtkMRMLTableNode", name, tag)
        table = node.GetTable()
        cells = [limit_cells(limit) for limit in limits]
        for index, column in enumerate(LIMIT_HEADERS):
            array = vtk.vtkStringArray()
            array.SetName(column)
            array.SetNumberOfValues(len(cells))
            for row, line in enumerate(cells):
                array.SetValue(row, line[index])
            table.AddColumn(array)
        node.Modified()
        return node

    def _series_table(self, scene: vtk.vtkObject, name: str, columns: dict[str, list], tag: str) -> vtk.vtkObject:
        node = self._new(scene, "vtkMRMLTableNode", name, tag)
        node.SetHideFromEditors(True)
        for column, values in columns.items():
            array = vtk.vtkStringArray() if values and isinstance(values[0], str) else vtk.vtkDoubleArray()
            array.SetName(column)
            array.SetNumberOfValues(len(values))
            for index, value in enumerate(values):
                array.SetValue(index, value if isinstance(value, str) else float(value))
            node.GetTable().AddColumn(array)
        node.Modified()
        return node

    def _series(self, scene: vtk.vtkObject, name: str, table: vtk.vtkObject, x: str, y: str, plot_type: int,
                color: tuple[float, float, float], tag: str) -> vtk.vtkObject:
        import slicer

        series = self._new(scene, "vtkMRMLPlotSeriesNode", name, tag)
        series.SetAndObserveTableNodeID(table.GetID())
        series.SetXColumnName(x)
        series.SetYColumnName(y)
        series.SetLabelColumnName("setting")
        series.SetPlotType(plot_type)
        series.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleCircle)
        series.SetColor(*color)
        return series

    def _charts(self, scene: vtk.vtkObject, rows: list[dict[str, Any]], name: str, tag: str) -> tuple:
        """Dice vs CR (one series per model and codec), and the paper's figure as two charts over the settings of
        each codec mode: compression ratio (bars) and mean Dice (lines)."""
        import slicer

        from cerebro.benchmark.plot import codec_mode

        palette = ((0.12, 0.47, 0.71), (1.0, 0.5, 0.05), (0.17, 0.63, 0.17), (0.84, 0.15, 0.16),
                   (0.58, 0.4, 0.74), (0.55, 0.34, 0.29), (0.89, 0.47, 0.76), (0.5, 0.5, 0.5))
        Series = slicer.vtkMRMLPlotSeriesNode
        dice_vs_ratio = self._new(scene, "vtkMRMLPlotChartNode", f"CerebroBenchmark Dice vs CR ({name})", tag)
        ratio_chart = self._new(scene, "vtkMRMLPlotChartNode", f"CerebroBenchmark CR per setting ({name})", tag)
        dice_chart = self._new(scene, "vtkMRMLPlotChartNode", f"CerebroBenchmark mean Dice per setting ({name})", tag)
        baseline_cases = {r["model"]: r["cases"] for r in rows if r["setting"] == UNCOMPRESSED}
        compressed = [r for r in rows if r["setting"] != UNCOMPRESSED and r["ratio"] and r["dice_mean"] is not None
                      and r["cases"] >= baseline_cases.get(r["model"], 0)]  # partly run settings: not comparable
        by_codec: dict[tuple[str, str], list] = {}
        by_mode: dict[tuple[str, str], list] = {}
        for row in compressed:
            by_codec.setdefault((row["model"], row["setting"].split(":", 1)[0]), []).append(row)
            by_mode.setdefault((row["model"], codec_mode(row["setting"])), []).append(row)
        several = len({r["model"] for r in rows}) > 1
        for number, ((model, codec), group) in enumerate(by_codec.items()):
            group.sort(key=lambda r: r["ratio"])
            label = f"{model} {codec}" if several else codec
            table = self._series_table(scene, f"CerebroBenchmark {label} ({name})",
                                       {"setting": [r["setting"] for r in group], "CR": [r["ratio"] for r in group],
                                        "Dice mean": [r["dice_mean"] for r in group]}, tag)
            dice_vs_ratio.AddAndObservePlotSeriesNodeID(self._series(
                scene, label, table, "CR", "Dice mean", Series.PlotTypeScatter, palette[number % 8], tag).GetID())
        for number, ((model, mode), group) in enumerate(by_mode.items()):
            group.sort(key=lambda r: r["ratio"])
            label = f"{model} {mode}" if several else mode
            table = self._series_table(scene, f"CerebroBenchmark {label} per setting ({name})",
                                       {"setting": [r["setting"] for r in group],
                                        "setting number": list(range(1, len(group) + 1)),
                                        "CR": [r["ratio"] for r in group],
                                        "Dice mean": [r["dice_mean"] for r in group]}, tag)
            color = palette[number % 8]
            ratio_chart.AddAndObservePlotSeriesNodeID(self._series(
                scene, f"{label} CR", table, "setting number", "CR", Series.PlotTypeBar, color, tag).GetID())
            dice_chart.AddAndObservePlotSeriesNodeID(self._series(
                scene, f"{label} mean Dice", table, "setting number", "Dice mean", Series.PlotTypeScatter, color,
                tag).GetID())
        baseline = ", ".join(f"{r['model']} {r['dice_mean']:.4f}" for r in rows
                             if r["setting"] == UNCOMPRESSED and r["dice_mean"] is not None)
        for chart, title, x_title, y_title in (
                (dice_vs_ratio, "Mean Dice against compression ratio", "compression ratio (log)", "mean Dice"),
                (ratio_chart, "Compression ratio per setting (sorted by ratio)", "setting", "compression ratio"),
                (dice_chart, "Mean Dice per setting (sorted by ratio)", "setting", "mean Dice")):
            chart.SetTitle(f"{title}; uncompressed: {baseline}" if baseline and chart is not ratio_chart else title)
            chart.SetXAxisTitle(x_title)
            chart.SetYAxisTitle(y_title)
        dice_vs_ratio.SetXAxisLogScale(True)
        return dice_vs_ratio, ratio_chart, dice_chart

    # --- one record in the scene -----------------------------------------------------------------------------

    @staticmethod
    def row_identity(table_node: vtk.vtkObject, row: int) -> tuple[str, str]:
        """(model, setting) of row ``row`` of a results table made by :meth:`load_results`."""
        table = table_node.GetTable()
        if not 0 <= row < table.GetNumberOfRows():
            raise CerebroError(f"the results table has no row {row}")
        return (str(table.GetColumnByName("model").GetValue(row)),
                str(table.GetColumnByName("setting").GetValue(row)))

    @staticmethod
    def store_cases(store: str | os.PathLike[str]) -> list[str]:
        """The case ids of ``store`` (in the order of its case list)."""
        return [case.case_id for case in ResultStore(store).cases()]

    def start_show(self, store: str | os.PathLike[str], case_id: str, setting: str, model: str) -> CliJob | None:
        """Start decoding ``case_id`` at ``setting`` (``cerebro compress ... --decoded``); None for the
        uncompressed setting, which needs no job. Pass the job (or None) with the same arguments to
        :meth:`finish_show`."""
        folder = Path(store)
        case = next((c for c in ResultStore(folder).cases() if c.case_id == case_id), None)
        if case is None:
            raise CerebroError(f"{folder} lists no case {case_id!r}; choose one of: "
                               f"{', '.join(self.store_cases(folder)) or 'none'}")
        if not Path(case.image_path).is_file():
            raise CerebroError(f"the image of {case_id} is no longer at {case.image_path}; put it back there")
        if setting == UNCOMPRESSED:
            return None
        workdir = make_workdir("cerebro-benchmark-show-")
        decoded = workdir / "decoded.nii.gz"
        arguments = ["compress", str(case.image_path), str(workdir / "volume.cbv"), "--setting",
                     self._used_setting(folder, case_id, setting).text, "--decoded", str(decoded),
                     "--progress-format", "json"]
        return CliJob(cerebro_command(arguments, self.python), workdir, "decoding the record",
                      ShowRequest(folder, case, setting, model, decoded))

    @staticmethod
    def _used_setting(store: Path, case_id: str, setting: str) -> CodecSetting:
        """The codec setting a record of ``case_id`` at ``setting`` was compressed with: every value, as its record
        holds them (for a ``target_ratio`` setting, the one rate control found on this case)."""
        parsed = parse_setting(setting)
        for record in ResultStore(store).records():
            if record["case_id"] == case_id and record["setting"] == setting:
                used = record.get("compression", {}).get("settings")
                if isinstance(used, dict):
                    return CodecSetting.of(parsed.codec, parsed.mode, used)
        return parsed.setting

    def finish_show(self, job: CliJob | None, store: str | os.PathLike[str], case_id: str, setting: str,
                    model: str, scene: vtk.vtkObject) -> ShownRecord:
        """Load the record's volume (decoded, or the original for the uncompressed setting) and a segmentation
        with its prediction, the reference and the false-positive / false-negative voxels (Segment Comparison's
        view) into ``scene``."""
        from cerebro.datasets.labels import load_label

        try:
            if job is not None:
                job.checked_result()
            folder = Path(store)
            result_store = ResultStore(folder)
            case = next(c for c in result_store.cases() if c.case_id == case_id)
            records = {(r["case_id"], r["setting"], r["model"]): r for r in result_store.records()}
            record = records.get((case_id, setting, model))
            if record is None:
                raise CerebroError(f"{folder} holds no record of {case_id} at {setting} with {model}")
            prediction = result_store.read_prediction(record)
            if prediction is None:
                raise CerebroError(f"the prediction of {case_id} at {setting} is missing or was edited; run the "
                                   "benchmark again into a new results folder")
            volume = read_volume(job.context.decoded_path if job is not None else case.image_path)
            if case.label_path is not None:
                reference = load_label(case)
            else:
                baseline = records.get((case_id, UNCOMPRESSED, model))
                reference = result_store.read_prediction(baseline) if baseline is not None else None
                if reference is None:
                    raise CerebroError(f"the uncompressed prediction of {case_id} is missing or was edited")
            title = f"{case_id} {setting}"
            volume_node = volume_to_node(volume, scene, title)
            predicted, truth = prediction.array != 0, reference.array != 0
            masks = {"prediction": predicted, "reference": truth, "false positive": predicted & ~truth,
                     "false negative": truth & ~predicted}
            segmentation_node = segmentation_node_from_masks(
                {name: (volume.with_array(mask.astype(np.uint8)), COMPARISON_COLORS[name])
                 for name, mask in masks.items()}, volume_node, f"{title} {model}")
            copy_parent_transform(volume_node, segmentation_node)
            return ShownRecord(volume_node, segmentation_node)
        finally:
            if job is not None:
                job.cleanup()
