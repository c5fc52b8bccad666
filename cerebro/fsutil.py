"""File-system helpers: atomic output and input/output sanity checks used by every writer."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cerebro.errors import CerebroError


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it into place in one step.

    The temporary file keeps ``path``'s suffixes (or ``suffix`` when given) so that writers that pick
    a format by extension still work. On error the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    suffix = suffix or "".join(target.suffixes)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name.split('.')[0]}-", suffix=suffix, dir=target.parent)
    except OSError as error:
        raise CerebroError(f"cannot write {target}: {error.strerror or error}; check the folder and its "
                           "permissions") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; on success its files are moved into ``path``.

    Used for multi-file outputs (e.g. MetaImage .mhd + .raw), each file moved atomically.
    """
    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target))
    try:
        yield tmp
        for item in sorted(tmp.iterdir(), key=lambda p: p.suffix in (".mhd", ".nhdr")):
            os.replace(item, target / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def require_writable(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Raise a one-line CerebroError now, before any work, unless ``path`` can be written: its folder exists (or
    can be made) and is writable, and ``path`` itself is not a folder."""
    target = Path(path)
    if target.is_dir():
        raise CerebroError(f"{what} {target} is a folder; give a file name")
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CerebroError(f"cannot create the folder of {what} {target}: {error.strerror or error}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CerebroError(f"cannot write {what} {target}: the folder {folder} is not writable; choose another")
    return target


def require_input_file(path: str | os.PathLike[str], what: str = "input") -> Path:
    """Return ``path`` as a Path if it exists, else raise a one-line CerebroError."""
    p = Path(path)
    if not p.exists():
        raise CerebroError(f"{what} not found: {p}; check the path")
    return p


def refuse_overwriting_input(inp: str | os.PathLike[str], out: str | os.PathLike[str]) -> None:
    """Raise CerebroError if ``out`` is the same file as ``inp`` (inputs are never overwritten)."""
    a, b = Path(inp), Path(out)
    if a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b)):
        raise CerebroError(f"output {b} is the input file; choose another output path")


def require_output_suffix(output: str | os.PathLike[str], suffixes: tuple[str, ...], what: str = "output") -> None:
    """Raise CerebroError unless ``output``'s name ends with one of ``suffixes`` (checked before any work)."""
    if not Path(output).name.lower().endswith(suffixes):
        raise CerebroError(f"{what} {output} must end with one of: {', '.join(suffixes)}; rename it")
