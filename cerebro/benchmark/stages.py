"""The three stages of one benchmark record, as plain functions that any executor can run in any process:
``prepare`` (read a case, compress and decode it at one setting), ``segment`` (one model on one volume) and
``score`` (a mask against the truth and against the model's mask on the original volume -> the stored record)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cerebro.benchmark.store import record_key
from cerebro.benchmark.sweep import UNCOMPRESSED, SweepSetting
from cerebro.cbv.roundtrip import round_trip
from cerebro.datasets.labels import load_label
from cerebro.datasets.manifest import Case
from cerebro.io import read_volume
from cerebro.metrics.segmentation import segmentation_metrics
from cerebro.progress import Progress
from cerebro.segment.registry import SegmentationModel
from cerebro.segment.routing import Route, route_model, volume_modality
from cerebro.volume import Volume


@dataclass(frozen=True)
class ModelOptions:
    """How every segmenting worker loads and runs the models (the same in each process)."""

    device: str = "auto"
    tta: bool = False
    cache_dir: str | None = None
    allow_unpinned: bool = False
    precision: str = "auto"


@dataclass
class Prepared:
    """A case at one setting: the volume the models segment, its compression report (ratio, quality, ...) and the
    case's modality with the reason (from the manifest, else the original image's intensities), which picks the
    model of a routing catalog entry."""

    case: Case
    setting: str
    volume: Volume
    compression: dict[str, Any]
    modality: tuple[str | None, str] = (None, "")

    def route(self, model_id: str) -> Route:
        """The model that runs for catalog ``model_id`` on this case, and why."""
        return route_model(model_id, *self.modality)


_MODELS: dict[tuple[str, ModelOptions], SegmentationModel] = {}  # per process: each worker loads a model once


def prepare(case: Case, setting: SweepSetting | None, workers: int | None = 1,
            progress: Progress | None = None) -> Prepared:
    """Read ``case``'s image; for a setting, compress and decode it (rate control first for ``target_ratio``).

    ``workers``: processes the codec may use (1 inside an executor's worker, which is itself one of many)."""
    progress = progress or Progress()
    progress.update(0.0, f"case {case.case_id}: reading")
    image = read_volume(case.image_path)
    modality = volume_modality(image, None, case.modality)
    if setting is None:
        nbytes = int(image.array.nbytes)
        return Prepared(case, UNCOMPRESSED, image, {"compression_ratio": 1.0, "original_nbytes": nbytes,
                                                    "compressed_nbytes": nbytes,
                                                    "bits_per_voxel": 8.0 * image.array.itemsize}, modality)
    progress.update(0.0, f"case {case.case_id}: {setting.key}")
    codec_settings, control = settings_for(image, setting, progress.sub(0.0, 0.5))
    decoded, report, _ = round_trip(image, setting.codec, setting.mode, codec_settings, progress.sub(0.5, 1.0),
                                    workers=workers)
    return Prepared(case, setting.key, decoded, {**report.as_dict(), **control}, modality)


def settings_for(image: Volume, setting: SweepSetting, progress: Progress) -> tuple[dict[str, Any], dict]:
    """The codec settings of ``setting`` on ``image``: fixed ones as given; for ``target_ratio``, the ones rate
    control finds on this image (the closest reachable when the target lies outside the setting's range), with
    what it found recorded under ``rate_control``."""
    from cerebro.ratecontrol import TargetUnreachable, search_setting

    if setting.target_ratio is None:
        return setting.settings_dict(), {}
    try:
        found = search_setting(image, setting.codec, setting.mode, "ratio", setting.target_ratio,
                               settings=setting.settings_dict(), progress=progress)
    except TargetUnreachable as error:
        if error.closest is None:
            raise
        found = error.closest
    return found.settings, {"rate_control": {"target_ratio": setting.target_ratio, "setting": found.setting,
                                             "value": found.settings[found.setting], "achieved": found.ratio,
                                             "hit": found.hit, "trials": len(found.evaluations)}}


def model(model_id: str, options: ModelOptions, progress: Progress | None = None) -> SegmentationModel:
    """Catalog model ``model_id``, loaded on first use in this process and kept."""
    from cerebro.segment.api import load_model

    key = (model_id, options)
    if key not in _MODELS:
        if progress is not None:
            progress.update(0.0, f"loading model {model_id}")
        _MODELS[key] = load_model(model_id, device=options.device, cache_dir=options.cache_dir,
                                  allow_unpinned=options.allow_unpinned)
    return _MODELS[key]


def segment(model_id: str, prepared: Prepared, options: ModelOptions,
            progress: Progress | None = None) -> tuple[Volume, float]:
    """The mask of ``model_id`` (the model it routes to for the case's modality) on the prepared volume and the
    seconds its prediction took."""
    network = model(prepared.route(model_id).model_id, options, progress)
    started = time.perf_counter()
    mask = network.predict(prepared.volume, tta=options.tta, progress=progress, precision=options.precision).mask
    return mask, time.perf_counter() - started


def score(prepared: Prepared, model_id: str, mask: Volume, seconds: float, baseline: Volume,
          metrics: str, progress: Progress | None = None) -> dict[str, Any]:
    """One stored record: identity, compression report and both comparisons (on the image's grid). A case without
    a label is scored against ``baseline`` (the model's mask on the original volume) and says so."""
    case = prepared.case
    if progress is not None:
        progress.update(0.95, f"case {case.case_id}: {prepared.setting} {model_id}: metrics")
    truth = load_label(case) if case.label_path is not None else baseline
    detailed = metrics == "all"
    route = prepared.route(model_id)
    return {
        "key": record_key(case.case_id, prepared.setting, model_id), "case_id": case.case_id,
        "modality": case.modality, "setting": prepared.setting, "model": model_id,
        "routed_model": route.model_id, "route_reason": route.reason,
        "compression": prepared.compression, "predict_seconds": round(seconds, 3),
        "network_dtype": mask.metadata.get("segmentation_model", {}).get("precision", "float32"),
        "reference": "truth" if case.label_path is not None else "uncompressed prediction",
        "vs_truth": segmentation_metrics(truth.array, mask.array, mask.spacing, detailed, detailed),
        "vs_uncompressed": segmentation_metrics(baseline.array, mask.array, mask.spacing, detailed, detailed),
    }
