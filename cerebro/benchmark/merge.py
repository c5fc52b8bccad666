"""Shards of one benchmark, run apart (``benchmark run --shard K/N`` on several machines, or by hand), merged into
one store: the records, the kept masks and predictions, the case list; the options must be the same."""

from __future__ import annotations

import filecmp
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cerebro.benchmark.store import OPTIONS_FILE, ResultStore
from cerebro.datasets.manifest import Case
from cerebro.errors import CerebroError
from cerebro.fsutil import atomic_path
from cerebro.progress import Progress

# What may differ between two computations of one record: timings, and the container size by the few characters
# of the header's encode time.
_VARIABLE = ("predict_seconds", "encode_seconds", "decode_seconds", "encode_mb_s", "decode_mb_s", "write_seconds",
             "read_seconds", "compressed_nbytes", "compression_ratio", "bits_per_voxel", "prediction")


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N) with 1 <= K <= N: the K-th of N shards (one-line CerebroError otherwise)."""
    part, _, total = text.partition("/")
    try:
        k, n = int(part), int(total)
    except ValueError:
        k = n = 0
    if not 1 <= k <= n:
        raise CerebroError(f"--shard must be K/N with 1 <= K <= N (e.g. 2/4 for the second of four), got {text!r}")
    return k, n


def shard_cases(cases: Sequence[Case], k: int, n: int) -> list[Case]:
    """The cases of shard ``k`` of ``n``: every n-th case from the k-th, so shards of sorted data stay alike."""
    return list(cases[k - 1::n])


def merge_stores(sources: Sequence[str | Path], target: str | Path, progress: Progress | None = None) -> int:
    """Merge the stores ``sources`` into ``target`` (new, or empty of records); returns the records written.

    A record held by two sources is written once when both computed the same result (timings aside), else the
    merge is refused; a kept mask or prediction file that two sources hold differently is refused too. Sources are
    only read; ``target`` is locked for the merge like a run."""
    progress = progress or Progress()
    folders = [Path(s) for s in sources]
    if len(folders) < 2:
        raise CerebroError("give at least two stores to merge")
    for folder in folders:
        if not (folder / "results.jsonl").is_file():
            raise CerebroError(f"{folder} holds no results; give result folders of `cerebro benchmark run`")
    if Path(target).resolve() in {f.resolve() for f in folders}:
        raise CerebroError(f"the merged store {target} is one of the stores to merge; give a new folder")
    stores = [ResultStore(f) for f in folders]
    out = ResultStore(target)
    with out.writer():
        if out.records():
            raise CerebroError(f"{target} already holds results; merge into a new folder")
        out.check_options(_same_options(stores))
        out.remember_cases(_same_cases(stores))
        written: dict[str, tuple[dict[str, Any], Path]] = {}
        for number, store in enumerate(stores):
            progress.update(number / len(stores), f"merging {store.folder}")
            progress.check_cancelled()
            for record in store.records():
                key = record["key"]
                if key in written:
                    if _comparable(written[key][0]) != _comparable(record):
                        raise CerebroError(f"{written[key][1]} and {store.folder} both hold {key} with different "
                                           "results; merge stores of one sweep with the same options")
                    continue
                _copy_files(store, out, record)
                out.append(record)
                written[key] = (record, store.folder)
    progress.update(1.0, f"{len(written)} records in {out.results_path}")
    return len(written)


def _same_options(stores: Sequence[ResultStore]) -> dict[str, Any]:
    options = [json.loads((s.folder / OPTIONS_FILE).read_text(encoding="utf-8"))
               if (s.folder / OPTIONS_FILE).is_file() else {} for s in stores]
    for store, other in zip(stores[1:], options[1:]):
        changed = sorted(k for k in {*options[0], *other} if options[0].get(k) != other.get(k))
        if changed:
            raise CerebroError(f"{stores[0].folder} and {store.folder} were run with different {changed[0]} "
                               f"({options[0].get(changed[0])} vs {other.get(changed[0])}); only shards of one sweep "
                               "merge")
    return options[0]


def _same_cases(stores: Sequence[ResultStore]) -> list[Case]:
    cases: dict[str, Case] = {}
    for store in stores:
        for case in store.cases():
            known = cases.setdefault(case.case_id, case)
            if Path(known.image_path).resolve() != Path(case.image_path).resolve():
                raise CerebroError(f"case {case.case_id} is {known.image_path} in one store and {case.image_path} in "
                                   f"{store.folder}; only shards of one dataset merge")
    return list(cases.values())


def _comparable(record: dict[str, Any]) -> Any:
    """The record without what legitimately varies between two computations of it."""
    if isinstance(record, dict):
        return {k: _comparable(v) for k, v in record.items() if k not in _VARIABLE}
    return record


def _copy_files(source: ResultStore, target: ResultStore, record: dict[str, Any]) -> None:
    """The record's kept prediction and its case's masks on the uncompressed volume, copied to the same places."""
    paths = [Path(record["prediction"]["path"])] if (record.get("prediction") or {}).get("path") else []
    mask = source.mask_path(record["case_id"], record["model"])
    if mask.is_file():
        paths.append(mask.relative_to(source.folder))
    for relative in paths:
        origin, destination = source.folder / relative, target.folder / relative
        if not origin.is_file():
            continue  # a prediction that was not kept or was removed: the record says how to treat it
        if destination.exists():
            if not filecmp.cmp(origin, destination, shallow=False):
                raise CerebroError(f"{relative} differs between the stores; only shards of one sweep merge")
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(destination) as tmp:
            shutil.copyfile(origin, tmp)
