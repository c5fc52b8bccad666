"""Run a benchmark sweep: every case is compressed once per setting, every model segments the original and each
decoded volume, and each (case, setting, model) becomes one stored record with the compression report and the
segmentation metrics against the ground truth and against the model's prediction on the original volume."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from cerebro.benchmark.store import ResultStore, mask_digest, record_key
from cerebro.benchmark.sweep import UNCOMPRESSED, SweepSetting
from cerebro.roundtrip import round_trip
from cerebro.datasets.labels import load_label
from cerebro.datasets.manifest import Case, Manifest
from cerebro.errors import CerebroError
from cerebro.io import read_volume, write_volume
from cerebro.metrics.segmentation import segmentation_metrics
from cerebro.progress import Progress
from cerebro.volume import Volume

METRIC_SETS = ("all", "overlap")  # overlap: skip surface distances and topology (faster)


def run_benchmark(manifest: Manifest | Sequence[Case], settings: Sequence[SweepSetting], model_ids: Sequence[str],
                  store: ResultStore, device: str = "auto", tta: bool = False, metrics: str = "all",
                  cache_dir: str | None = None, allow_unpinned: bool = False,
                  progress: Progress | None = None) -> int:
    """Compute every record of the sweep that ``store`` does not hold yet; returns how many were added.

    A case without a label is scored against the model's own prediction on its uncompressed volume (then
    'vs_truth' equals 'vs_uncompressed' and the record's ``reference`` says so). Models are loaded once, on first
    need. The store is locked for the run (a second run on it is refused). Cancelling (``progress``) stops after
    the record in progress; what was stored stays, and the next run continues from there."""
    with store.writer():
        return _run(manifest, settings, model_ids, store, device, tta, metrics, cache_dir, allow_unpinned, progress)


def _run(manifest: Manifest | Sequence[Case], settings: Sequence[SweepSetting], model_ids: Sequence[str],
         store: ResultStore, device: str, tta: bool, metrics: str, cache_dir: str | None, allow_unpinned: bool,
         progress: Progress | None) -> int:
    """:func:`run_benchmark`'s work, under the store's writer lock."""
    from cerebro.segment.api import load_model

    if metrics not in METRIC_SETS:
        raise CerebroError(f"unknown metric set {metrics!r}; use one of: {', '.join(METRIC_SETS)}")
    progress = progress or Progress()
    cases = list(manifest)
    duplicated = sorted(case_id for case_id, n in Counter(c.case_id for c in cases).items() if n > 1)
    if duplicated:
        raise CerebroError(f"case ids must be unique; {duplicated[0]} appears more than once in the dataset")
    settings = list({s.key: s for s in settings}.values())
    model_ids = list(dict.fromkeys(model_ids))
    store.check_options({"tta": bool(tta), "metrics": metrics})
    store.remember_cases(cases)
    stored = {record["key"]: record for record in store.records() if "key" in record}  # read once
    done = set(stored)
    models: dict[str, Any] = {}
    added = 0
    for index, case in enumerate(cases):
        part = progress.sub(index / max(len(cases), 1), (index + 1) / max(len(cases), 1))
        wanted = [(s, m) for s in (None, *settings) for m in model_ids
                  if record_key(case.case_id, s.key if s else UNCOMPRESSED, m) not in done]
        if not wanted:
            continue
        part.update(0.0, f"case {case.case_id}: reading")
        image = read_volume(case.image_path)
        label = load_label(case) if case.label_path is not None else None
        for model_id in dict.fromkeys(m for _, m in wanted):
            if model_id not in models:
                part.update(0.0, f"loading model {model_id}")
                models[model_id] = load_model(model_id, device=device, cache_dir=cache_dir,
                                              allow_unpinned=allow_unpinned)
        first = part.sub(0.0, 1 / (len(settings) + 1))
        baselines = {m: _baseline_mask(case, image, label, models[m], m, store, tta, metrics,
                                       stored.get(record_key(case.case_id, UNCOMPRESSED, m)), first)
                     for m in dict.fromkeys(m for _, m in wanted)}
        added += sum((None, m) in wanted for m in model_ids)
        for number, setting in enumerate(settings):
            todo = [m for m in model_ids if (setting, m) in wanted]
            if not todo:
                continue
            step = part.sub((number + 1) / (len(settings) + 1), (number + 2) / (len(settings) + 1))
            step.update(0.0, f"case {case.case_id}: {setting.key}")
            codec_settings, control = _settings_for(image, setting, step.sub(0.0, 0.15))
            decoded, report, _ = round_trip(image, setting.codec, setting.mode, codec_settings, step.sub(0.15, 0.3))
            compression = {**report.as_dict(), **control}
            for model_id in todo:
                started = time.perf_counter()
                mask = models[model_id].predict(decoded, tta=tta, progress=step.sub(0.3, 0.9)).mask
                truth = label if label is not None else baselines[model_id]
                record = _record(case, setting.key, model_id, compression, time.perf_counter() - started,
                                 image, truth, mask, baselines[model_id], metrics)
                store.append(_keep_prediction(store, record, mask))
                added += 1
                _log_record(progress, record)
    progress.update(1.0, f"{added} new records in {store.results_path}")
    return added


def _settings_for(image: Volume, setting: SweepSetting, progress: Progress) -> tuple[dict[str, Any], dict]:
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


def _baseline_mask(case: Case, image: Volume, truth: Volume | None, model: Any, model_id: str, store: ResultStore,
                   tta: bool, metrics: str, stored: dict[str, Any] | None, progress: Progress) -> Volume:
    """The model's mask on the original image: the kept one of the ``stored`` uncompressed record when its digest
    still matches, or predicted (then kept; and recorded when there was no record)."""
    path = store.mask_path(case.case_id, model_id)
    record = stored is None
    if not record:
        kept = store.read_prediction(stored)
        if kept is not None:
            return kept
        # Missing, edited (its digest no longer matches) or from an older store: the same model on the same volume
        # gives the same mask again, so predict it and keep it; the stored record stays as it is.
    progress.update(0.0, f"case {case.case_id}: {model_id} on the original volume")
    started = time.perf_counter()
    mask = model.predict(image, tta=tta, progress=progress).mask
    seconds = time.perf_counter() - started
    write_volume(mask, path)
    if record:
        original = {"compression_ratio": 1.0, "original_nbytes": int(image.array.nbytes),
                    "compressed_nbytes": int(image.array.nbytes), "bits_per_voxel": 8.0 * image.array.itemsize}
        record = _record(case, UNCOMPRESSED, model_id, original, seconds, image, mask if truth is None else truth,
                         mask, mask, metrics)
        store.append(_keep_prediction(store, record, mask, written=True))
        _log_record(progress, record)
    return mask


def _log_record(progress: Progress, record: dict[str, Any]) -> None:
    """One short line per finished record (what a log file shows instead of a progress bar)."""
    dice = record["vs_truth"].get("dice")
    progress.log(f"{record['case_id']} {record['setting']} {record['model']}: CR "
                 f"{record['compression']['compression_ratio']:.2f}, Dice "
                 + ("-" if dice is None else f"{dice:.4f}"))


def _keep_prediction(store: ResultStore, record: dict[str, Any], mask: Volume, written: bool = False) -> dict:
    """Write the record's predicted mask into the store (unless ``written``) and note its path and digest."""
    path = store.prediction_path(record["case_id"], record["setting"], record["model"])
    if not written:
        write_volume(mask, path)
    record["prediction"] = {"path": path.relative_to(store.folder).as_posix(), "sha256": mask_digest(mask.array)}
    return record


def _record(case: Case, setting_key: str, model_id: str, compression: dict[str, Any], predict_seconds: float,
            image: Volume, truth: Volume, mask: Volume, baseline: Volume, metrics: str) -> dict[str, Any]:
    """One stored result: identity, compression report and both comparisons (arrays on the image's grid)."""
    detailed = metrics == "all"
    return {
        "key": record_key(case.case_id, setting_key, model_id), "case_id": case.case_id, "modality": case.modality,
        "setting": setting_key, "model": model_id, "compression": compression,
        "predict_seconds": round(predict_seconds, 3),
        "reference": "truth" if case.label_path is not None else "uncompressed prediction",
        "vs_truth": segmentation_metrics(truth.array, mask.array, image.spacing, detailed, detailed),
        "vs_uncompressed": segmentation_metrics(baseline.array, mask.array, image.spacing, detailed, detailed),
    }
