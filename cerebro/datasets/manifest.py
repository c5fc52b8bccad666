"""The dataset manifest the benchmark consumes: one row per case (id, image path, label path, modality, extras)."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cerebro.errors import CerebroError
from cerebro.fsutil import atomic_path, require_input_file

FIELDS = ("case_id", "image_path", "label_path", "modality", "extra")
SUFFIXES = (".csv", ".json")  # the manifest file formats


@dataclass
class Case:
    """One image with its (optional) label file; ``extra`` holds loader-specific facts (JSON-able).

    Extra keys ending in ``_path`` are file paths: stored relative to the manifest's folder like the others.
    """

    case_id: str
    image_path: Path
    label_path: Path | None
    modality: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Manifest:
    """An ordered list of cases, written as CSV (``extra`` as a JSON column) or JSON by file suffix."""

    cases: list[Case]

    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically to ``path`` (.csv or .json); paths inside the manifest's folder are stored relative."""
        target = Path(path)
        rows = [_row(case, target.parent) for case in self.cases]
        suffix = target.suffix.lower()
        if suffix == ".json":
            text = json.dumps({"cases": rows}, indent=2) + "\n"
        elif suffix == ".csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "label_path": row["label_path"] or "", "extra": json.dumps(row["extra"])})
            text = buffer.getvalue()
        else:
            raise CerebroError(f"unknown manifest format {target.name}; use a {' or '.join(SUFFIXES)} file name")
        with atomic_path(target) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return target

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Manifest:
        """Read a manifest written by :meth:`write` (relative paths are relative to the manifest's folder)."""
        source = require_input_file(path, "manifest")
        text = source.read_text(encoding="utf-8")
        try:
            if source.suffix.lower() == ".json":
                rows = json.loads(text)["cases"]
            else:
                rows = list(csv.DictReader(io.StringIO(text)))
                for row in rows:
                    row["extra"] = json.loads(row.get("extra") or "{}")
            cases = [_case(row, source.parent) for row in rows]
        except (KeyError, TypeError, ValueError) as exc:
            raise CerebroError(
                f"{source} is not a valid manifest ({type(exc).__name__}: {exc}); columns must be {', '.join(FIELDS)}"
            ) from None
        return cls(cases)


def _row(case: Case, folder: Path) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "image_path": _relative(case.image_path, folder),
        "label_path": _relative(case.label_path, folder) if case.label_path is not None else None,
        "modality": case.modality,
        "extra": {k: _relative(v, folder) if k.endswith("_path") else v for k, v in case.extra.items()},
    }


def _case(row: dict[str, Any], folder: Path) -> Case:
    label = row.get("label_path") or None
    return Case(
        case_id=str(row["case_id"]),
        image_path=_absolute(row["image_path"], folder),
        label_path=_absolute(label, folder) if label else None,
        modality=str(row.get("modality") or ""),
        extra={k: str(_absolute(v, folder)) if k.endswith("_path") else v
               for k, v in dict(row.get("extra") or {}).items()},
    )


def _relative(path: Path, folder: Path) -> str:
    absolute = Path(path).resolve()
    try:
        return absolute.relative_to(folder.resolve()).as_posix()
    except ValueError:
        return str(absolute)


def _absolute(path: str, folder: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else folder / p
