"""Run a benchmark sweep: every case is compressed once per setting, every model segments the original and each
decoded volume, and each (case, setting, model) becomes one stored record with the compression report and the
segmentation metrics against the ground truth and against the model's prediction on the original volume.

The runner schedules the stages of :mod:`cerebro.benchmark.stages` on an executor (:mod:`executors`: this
process, this machine's cores, or a Ray cluster) as a pipeline: the next cases are compressed and decoded while
the current ones are segmented, with a bounded number of volumes in flight. It alone writes the store."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cerebro.benchmark import stages
from cerebro.benchmark.executors import CPU, SEGMENT, Executor, InlineExecutor
from cerebro.benchmark.store import ResultStore, mask_digest, record_key
from cerebro.benchmark.sweep import UNCOMPRESSED, SweepSetting
from cerebro.datasets.manifest import Case, Manifest
from cerebro.errors import CerebroError
from cerebro.io import write_volume
from cerebro.progress import Progress, time_left
from cerebro.volume import Volume

METRIC_SETS = ("all", "overlap")  # overlap: skip surface distances and topology (faster)
QUEUE_PER_SLOT = 2  # prepared volumes waiting per segmenting slot: keeps the workers busy, memory flat


def run_benchmark(manifest: Manifest | Sequence[Case], settings: Sequence[SweepSetting], model_ids: Sequence[str],
                  store: ResultStore, device: str = "auto", tta: bool = False, precision: str = "auto",
                  metrics: str = "all",
                  cache_dir: str | None = None, allow_unpinned: bool = False,
                  progress: Progress | None = None, executor: Executor | None = None) -> int:
    """Compute every record of the sweep that ``store`` does not hold yet; returns how many were added.

    A case without a label is scored against the model's own prediction on its uncompressed volume (then
    'vs_truth' equals 'vs_uncompressed' and the record's ``reference`` says so). Each worker loads a model once,
    on first need. ``executor``: where the stages run (default: in this process). The store is locked for the
    run (a second run on it is refused). Cancelling (``progress``) stops after the calls in progress; what was
    stored stays, and the next run continues from there. ``precision``: as :func:`cerebro.segment.api.segment`;
    a store keeps one (stores written before it was recorded ran in float32 on the CPU)."""
    if metrics not in METRIC_SETS:
        raise CerebroError(f"unknown metric set {metrics!r}; use one of: {', '.join(METRIC_SETS)}")
    options = stages.ModelOptions(device, bool(tta), None if cache_dir is None else str(cache_dir), allow_unpinned,
                                  precision)
    with store.writer():
        return _Sweep(manifest, settings, model_ids, store, options, metrics, progress or Progress(),
                      executor or InlineExecutor()).run()


@dataclass
class _Job:
    """One case at one setting (None: the original) and the models still to segment it."""

    case: Case
    setting: SweepSetting | None
    models: list[str]
    records: set[str]  # models whose record is wanted (for the original: not just its kept mask)
    prepared: Any = None  # the handle of its prepare call
    open_segments: int = 0


@dataclass
class _Sweep:
    manifest: Manifest | Sequence[Case]
    settings: Sequence[SweepSetting]
    model_ids: Sequence[str]
    store: ResultStore
    options: stages.ModelOptions
    metrics: str
    progress: Progress
    executor: Executor
    baselines: dict[tuple[str, str], Any] = field(default_factory=dict)  # (case, model) -> shared mask
    waiting: dict[tuple[str, str], list[tuple[_Job, str, Volume, float]]] = field(default_factory=dict)
    in_flight: dict[Any, tuple[str, Any]] = field(default_factory=dict)
    order: deque = field(default_factory=deque)  # record keys in the order of the plan: the store's order
    finished_records: dict[str, tuple[dict[str, Any], Volume, bool]] = field(default_factory=dict)
    added: int = 0
    finished: int = 0
    total: int = 0
    started: float = 0.0  # time.monotonic() at the start: the estimate of the time left

    def run(self) -> int:
        jobs = self._plan()
        self.order.extend(record_key(job.case.case_id, job.setting.key if job.setting else UNCOMPRESSED, m)
                          for job in jobs for m in job.models if m in job.records)
        self.total = sum(len(job.models) for job in jobs) or 1
        self.started = time.monotonic()
        queue, open_jobs = deque(jobs), 0
        depth = QUEUE_PER_SLOT * self.executor.segment_slots
        try:
            while queue or self.in_flight:
                while queue and open_jobs < depth:
                    job = queue.popleft()
                    job.prepared = self._submit(CPU, "prepare", job, stages.prepare, job.case, job.setting,
                                                self.executor.codec_workers)
                    open_jobs += 1
                for handle in self.executor.wait(list(self.in_flight)):
                    kind, job = self.in_flight.pop(handle)
                    if kind == "prepare":
                        self._prepared(job)
                    elif kind == "segment":
                        self._segmented(job, *self.executor.result(handle))
                        job[0].open_segments -= 1
                        open_jobs -= job[0].open_segments == 0
                    else:
                        self._scored(job, self.executor.result(handle))
        except BaseException:
            self.executor.close(cancel=True)
            raise
        self.executor.close()
        self.progress.update(1.0, f"{self.added} new records in {self.store.results_path}")
        return self.added

    def _plan(self) -> list[_Job]:
        """The jobs of the records the store lacks, case after case, each case's original first; kept masks of
        stored uncompressed records become baselines without any work."""
        cases = list(self.manifest)
        duplicated = sorted(case_id for case_id, n in Counter(c.case_id for c in cases).items() if n > 1)
        if duplicated:
            raise CerebroError(f"case ids must be unique; {duplicated[0]} appears more than once in the dataset")
        settings = list({s.key: s for s in self.settings}.values())
        model_ids = list(dict.fromkeys(self.model_ids))
        self.store.check_options({"tta": self.options.tta, "metrics": self.metrics,
                                  "precision": self.options.precision}, legacy={"precision": "float32"})
        self.store.remember_cases(cases)
        stored = {record["key"]: record for record in self.store.records() if "key" in record}  # read once
        jobs = []
        for case in cases:
            wanted = {s.key: [m for m in model_ids if record_key(case.case_id, s.key, m) not in stored]
                      for s in settings}
            need_baseline = {m for todo in wanted.values() for m in todo}
            originals, records = [], set()
            for model_id in model_ids:
                record = stored.get(record_key(case.case_id, UNCOMPRESSED, model_id))
                kept = self.store.read_prediction(record) if record is not None else None
                if kept is not None and model_id in need_baseline:
                    self.baselines[(case.case_id, model_id)] = self.executor.share(kept)
                elif record is None or model_id in need_baseline:
                    # no record; or one whose kept mask is missing, edited (its digest no longer matches) or from
                    # an older store: the same model on the same volume gives the same mask, so predict it again
                    originals.append(model_id)
                    if record is None:
                        records.add(model_id)
            if originals:
                jobs.append(_Job(case, None, originals, records))
            jobs += [_Job(case, s, wanted[s.key], set(wanted[s.key])) for s in settings if wanted[s.key]]
        return jobs

    def _submit(self, kind: str, name: str, job: Any, function: Any, *args: Any) -> Any:
        """Start ``function(*args)`` as a ``kind`` call; its result comes back to the handler of ``name`` with
        ``job`` (what that handler needs besides the result)."""
        if self.executor.in_process:  # fine-grained progress (and cancellation) inside the call
            args = (*args, self.progress.sub(self.finished / self.total, (self.finished + 1) / self.total))
        handle = self.executor.submit(kind, function, *args)
        self.in_flight[handle] = (name, job)
        return handle

    def _prepared(self, job: _Job) -> None:
        job.open_segments = len(job.models)
        for model_id in job.models:
            self._submit(SEGMENT, "segment", (job, model_id), stages.segment, model_id, job.prepared, self.options)

    def _segmented(self, item: tuple[_Job, str], mask: Volume, seconds: float) -> None:
        job, model_id = item
        key = (job.case.case_id, model_id)
        if job.setting is None:
            path = self.store.mask_path(job.case.case_id, model_id)
            write_volume(mask, path)
            self.baselines[key] = self.executor.share(mask)
            if model_id in job.records:
                self._score(job, model_id, mask, seconds, written=True)
            else:
                self._step(f"case {job.case.case_id}: kept mask of {model_id} predicted again")
            for waiting in self.waiting.pop(key, []):
                self._score(*waiting)
        elif key in self.baselines:
            self._score(job, model_id, mask, seconds)
        else:
            self.waiting.setdefault(key, []).append((job, model_id, mask, seconds))

    def _score(self, job: _Job, model_id: str, mask: Volume, seconds: float, written: bool = False) -> None:
        baseline = self.baselines[(job.case.case_id, model_id)]
        self._submit(CPU, "score", (mask, written), stages.score, job.prepared, model_id, mask, seconds, baseline,
                     self.metrics)

    def _scored(self, item: tuple[Volume, bool], record: dict[str, Any]) -> None:
        """Keep a finished record until those planned before it are stored too: the store's order (and so every
        table's) is the same with any executor and any number of workers."""
        self.finished_records[record["key"]] = (record, *item)
        while self.order and self.order[0] in self.finished_records:
            self._store(*self.finished_records.pop(self.order.popleft()))

    def _store(self, record: dict[str, Any], mask: Volume, written: bool) -> None:
        path = self.store.prediction_path(record["case_id"], record["setting"], record["model"])
        if not written:
            write_volume(mask, path)
        record["prediction"] = {"path": path.relative_to(self.store.folder).as_posix(),
                                "sha256": mask_digest(mask.array)}
        self.store.append(record)
        self.added += 1
        dice = record["vs_truth"].get("dice")
        line = (f"{record['case_id']} {record['setting']} {record['model']}: CR "
                f"{record['compression']['compression_ratio']:.2f}, Dice " + ("-" if dice is None else f"{dice:.4f}"))
        self._step(line, log=True)

    def _step(self, message: str, log: bool = False) -> None:
        """One planned record (or kept mask) done: progress, with the count and the time left at this pace."""
        self.finished += 1
        left = time_left(time.monotonic() - self.started, self.finished, self.total)
        message += f" ({self.finished}/{self.total}" + (f", {left})" if left else ")")
        if log:
            self.progress.log(message)
        self.progress.update(min(self.finished / self.total, 1.0), message)
