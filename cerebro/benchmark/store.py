"""A benchmark's results on disk: one JSON record per line in ``results.jsonl`` (appended and synced record by
record, so an interrupted run keeps everything it finished and resumes where it stopped) and the predictions on
the uncompressed volumes in ``masks/`` (the reference of every 'vs uncompressed' comparison)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from cerebro.benchmark.sweep import UNCOMPRESSED
from cerebro.datasets.manifest import Case
from cerebro.errors import CerebroError
from cerebro.fsutil import NO_SPACE, atomic_path, no_space_error, writer_lock
from cerebro.volume import Volume

RESULTS_FILE = "results.jsonl"
OPTIONS_FILE = "options.json"
CASES_FILE = "cases.json"
_HELD: set[str] = set()  # stores whose writer lock this process holds (a search holds it across its trials)


def record_key(case_id: str, setting_key: str, model_id: str) -> str:
    """The identity of one record: which case, compression setting and model."""
    return f"{case_id}|{setting_key}|{model_id}"


def mask_digest(mask: np.ndarray) -> str:
    """SHA-256 of a mask's voxels as uint8 in C order with its shape (what a kept prediction is checked against)."""
    data = np.ascontiguousarray(mask, dtype=np.uint8)
    return hashlib.sha256(repr(data.shape).encode() + data.tobytes()).hexdigest()


def _json_safe(value: Any) -> Any:
    """NaN and infinities become None (JSON has neither); containers are converted recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


class ResultStore:
    """The folder of one benchmark run (created if missing)."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        self.created = not self.folder.exists()  # by this object: a run that fails before any record removes it
        if self.folder.exists() and not self.folder.is_dir():
            raise CerebroError(f"result store {self.folder} is a file; give a folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CerebroError(f"cannot create the result store {self.folder}: {error.strerror or error}; choose "
                               "another folder") from None
        self.results_path = self.folder / RESULTS_FILE

    @contextmanager
    def writer(self) -> Iterator[None]:
        """Hold the store's writer lock (an OS file lock on ``.writer.lock``) for the block: a second run on the same
        store, in another process, gets a one-line error naming the holder instead of interleaving its records.
        Re-entrant within a process; released when the block ends or the process dies."""
        key = str(self.folder.resolve())
        if key in _HELD:
            yield
            return
        self.require_writable()
        locked = False
        try:
            with writer_lock(self.folder, "or use another --store"):
                locked = True
                _HELD.add(key)
                try:
                    yield
                finally:
                    _HELD.discard(key)
        except BaseException:
            # A store this run made and wrote no record to: nothing to resume, leave none behind (never one that
            # another run holds).
            if locked and self.created and not self.results_path.exists():
                shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def require_writable(self) -> None:
        """Raise a one-line CerebroError unless the store's folder can be written (checked before any work)."""
        if not os.access(self.folder, os.W_OK | os.X_OK) or (
                self.results_path.exists() and not os.access(self.results_path, os.W_OK)):
            raise CerebroError(f"the result store {self.folder} is not writable; choose another --store")

    def records(self) -> list[dict[str, Any]]:
        """Every complete record, in the order written. A last line cut by a crash is skipped (with a warning)
        and its work is redone by the next run; a damaged line elsewhere is an error."""
        if not self.results_path.exists():
            return []
        lines = self.results_path.read_text(encoding="utf-8").splitlines()
        records = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if number == len(lines):
                    warnings.warn(f"{self.results_path}: the last record is incomplete (interrupted run); "
                                  "it will be computed again", stacklevel=2)
                    continue
                raise CerebroError(f"{self.results_path} line {number} is not a JSON record; the file was edited "
                                   "or damaged: remove that line and run again") from None
        return records

    def keys(self) -> set[str]:
        """The keys of the records already stored."""
        return {record["key"] for record in self.records() if "key" in record}

    def append(self, record: dict[str, Any]) -> None:
        """Add one record (NaN/inf stored as null) and sync it to disk before returning."""
        text = json.dumps(_json_safe(record), separators=(",", ":"), allow_nan=False)
        self._drop_incomplete_tail()
        data = memoryview((text + "\n").encode("utf-8"))
        fd = os.open(self.results_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            end = os.lseek(fd, 0, os.SEEK_END)
            try:
                while data:
                    data = data[os.write(fd, data):]
                os.fsync(fd)
            except OSError as error:  # e.g. a full disk: the store keeps its complete records only
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, end)
                if error.errno in NO_SPACE:
                    raise no_space_error(self.results_path, len(text) + 1) from None
                raise
        finally:
            os.close(fd)

    def check_options(self, options: dict[str, Any], legacy: dict[str, Any] | None = None) -> None:
        """Record the options that change the results (first run), or refuse different ones on a later run, so
        that one store never mixes, e.g., predictions with and without test-time augmentation. ``legacy``: the
        value an option had in stores written before it was recorded."""
        path = self.folder / OPTIONS_FILE
        if not path.exists():
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps(options, indent=2) + "\n", encoding="utf-8")
            return
        stored = {**(legacy or {}), **json.loads(path.read_text(encoding="utf-8"))}
        changed = {k: (stored.get(k), v) for k, v in options.items() if stored.get(k) != v}
        if changed:
            name, (before, now) = next(iter(changed.items()))
            raise CerebroError(f"{self.folder} was run with {name}={before}, not {now}; use the same options to "
                               "resume, or a new --store")

    def remember_cases(self, cases: Sequence[Case]) -> None:
        """Add the cases' files (absolute paths) to ``cases.json``, so that reports and viewers find the images and
        labels behind the records without the dataset's manifest."""
        known = {case.case_id: case for case in self.cases()}
        if all(case.case_id in known for case in cases):
            return
        for case in cases:
            known.setdefault(case.case_id, case)
        data = {case_id: {"image": str(Path(case.image_path).resolve()),
                          "label": str(Path(case.label_path).resolve()) if case.label_path else None,
                          "modality": case.modality, "extra": _json_safe(case.extra)}
                for case_id, case in known.items()}
        with atomic_path(self.folder / CASES_FILE) as tmp:
            tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    def cases(self) -> list[Case]:
        """The cases remembered by :meth:`remember_cases` (empty for a store written before it existed)."""
        path = self.folder / CASES_FILE
        if not path.is_file():
            return []
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return [Case(case_id, Path(entry["image"]), Path(entry["label"]) if entry.get("label") else None,
                         str(entry.get("modality", "")), dict(entry.get("extra") or {}))
                    for case_id, entry in data.items()]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise CerebroError(f"{path} is damaged; delete it (the next `benchmark run` writes it again)") from None

    def mask_path(self, case_id: str, model_id: str) -> Path:
        """Where the prediction of ``model_id`` on the uncompressed ``case_id`` is kept (.nii.gz)."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{case_id}__{model_id}")
        return self.folder / "masks" / f"{safe}.nii.gz"

    def prediction_path(self, case_id: str, setting_key: str, model_id: str) -> Path:
        """Where the prediction of one record is kept (.nii.gz); the uncompressed one is :meth:`mask_path`."""
        if setting_key == UNCOMPRESSED:
            return self.mask_path(case_id, model_id)
        digest = hashlib.sha256(record_key(case_id, setting_key, model_id).encode()).hexdigest()[:10]
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{case_id}__{setting_key}__{model_id}")[:150]
        return self.folder / "predictions" / f"{safe}__{digest}.nii.gz"

    def read_prediction(self, record: dict[str, Any]) -> Volume | None:
        """The kept prediction of ``record``, or None when it was not kept or no longer matches the record's
        digest (an edited or replaced file is never trusted)."""
        from cerebro.io import read_volume

        kept = record.get("prediction") or {}
        path = self.folder / kept["path"] if kept.get("path") else None
        if path is None or not path.is_file():
            return None
        mask = read_volume(path)
        return mask if mask_digest(mask.array) == kept.get("sha256") else None

    def _drop_incomplete_tail(self) -> None:
        """Cut an incomplete last record (an interrupted write: no newline, or a newline after a cut line) so the
        next record starts on its own line after the last complete one; warns when it drops one."""
        if not self.results_path.exists() or self.results_path.stat().st_size == 0:
            return
        with open(self.results_path, "rb") as stream:
            size = stream.seek(0, os.SEEK_END)
            stream.seek(max(0, size - (1 << 16)))
            tail = stream.read()
        body = tail.rstrip(b"\n")
        last = body[body.rfind(b"\n") + 1:]
        if _complete(last):
            if not tail.endswith(b"\n"):  # the record is whole, only its newline was not written
                with open(self.results_path, "ab") as stream:
                    stream.write(b"\n")
            return
        warnings.warn(f"{self.results_path}: dropped an incomplete last record (interrupted run); it is computed "
                      "again", stacklevel=3)
        with open(self.results_path, "r+b") as stream:
            stream.truncate(size - len(tail) + len(body) - len(last))


def _complete(line: bytes) -> bool:
    """Whether ``line`` is one whole JSON record (an empty line counts as nothing to drop)."""
    if not line.strip():
        return True
    try:
        return isinstance(json.loads(line), dict)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
