"""File-system helpers: atomic output and input/output sanity checks used by every writer."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cerebro.errors import CerebroError
from cerebro.progress import Progress


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it into place in one step.

    The temporary file keeps ``path``'s suffixes (or ``suffix`` when given) so that writers that pick
    a format by extension still work. On error the temporary file is removed and ``path`` is untouched.
    The output gets the user's umask (or the permissions of the file it replaces). Temporaries are named
    ``.<stem>-<pid>-*``; those of killed processes are removed by the next write into the folder.
    """
    target = Path(path)
    if target.is_symlink():  # write where the link points (the link stays), as cp and most editors do
        target = Path(os.path.realpath(target))
    suffix = suffix or "".join(target.suffixes)
    stem = target.name.split(".")[0]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target.parent, f".{stem}-")
        fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}-{os.getpid()}-", suffix=suffix, dir=target.parent)
    except OSError as error:
        raise CerebroError(f"cannot write {target}: {error.strerror or error}; check the folder and its "
                           "permissions") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _output_mode(target))
        os.replace(tmp, target)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        if error.errno in NO_SPACE:
            raise no_space_error(target) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(path: str | os.PathLike[str], output: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; on success its files are moved into ``path``.

    Used for multi-file outputs (e.g. MetaImage .mhd + .raw), each file moved atomically; ``output`` names the
    output in errors (default: the folder).
    """
    target = Path(path)
    named = Path(output) if output is not None else target / "*"
    target.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target, ".tmp-")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{os.getpid()}-", dir=target))
    except OSError as error:
        if error.errno in NO_SPACE:
            raise no_space_error(named) from None
        raise
    try:
        yield tmp
        for item in sorted(tmp.iterdir(), key=lambda p: p.suffix in (".mhd", ".nhdr")):
            os.replace(item, target / item.name)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if error.errno in NO_SPACE:
            raise no_space_error(named) from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def removed_on_failure(folder: str | os.PathLike[str], keep: Callable[[], bool] = lambda: False) -> Iterator[Path]:
    """Run the block that writes a multi-file output into ``folder``; if it fails, remove what it added (the files
    and folders that were not there before; ``folder`` itself if it was new), so a failed command leaves nothing
    under the output's name -- unless ``keep()`` says what was written can be resumed."""
    root = Path(folder)
    existed = root.exists()
    before = set(root.rglob("*")) if existed else set()
    try:
        yield root
    except BaseException:
        if keep():
            raise
        if not existed:
            shutil.rmtree(root, ignore_errors=True)
        else:
            for added in sorted(set(root.rglob("*")) - before, key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    added.rmdir() if added.is_dir() and not added.is_symlink() else added.unlink()
        raise


LOCK_FILE = ".writer.lock"


@contextmanager
def writer_lock(folder: str | os.PathLike[str], alternative: str, keep_file: bool = True) -> Iterator[None]:
    """Hold an exclusive OS lock on ``folder/.writer.lock`` for the block: another process wanting to write the same
    multi-file output (a result store, a phantom dataset) gets a one-line CerebroError naming the holder and
    ``alternative`` (what to do instead) rather than mixing its files in. Released when the block ends or the
    process dies (the OS drops the lock); ``keep_file=False`` removes the lock file afterwards (an output whose
    writers check, under the lock, that it is not written yet)."""
    target = Path(folder)
    stream = open(target / LOCK_FILE, "a+b", buffering=0)  # unbuffered: a full disk fails the note only
    try:
        try:
            _lock(stream)
        except OSError:
            stream.seek(0)
            holder = stream.read().decode("utf-8", errors="replace").strip() or "another process"
            raise CerebroError(f"{target} is being written by another run ({holder}); wait for it to end "
                               f"{alternative}") from None
        stream.seek(0)
        stream.truncate()
        with contextlib.suppress(OSError):  # who holds it is for messages only; a full disk must not stop us
            stream.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        try:
            yield
        finally:
            stream.seek(0)
            stream.truncate()
            if not keep_file:
                with contextlib.suppress(OSError):
                    (target / LOCK_FILE).unlink()
            _unlock(stream)
    finally:
        stream.close()


def _lock(stream: Any) -> None:
    """Take an exclusive lock on ``stream``'s file without waiting (OSError when another process holds it)."""
    if os.name == "nt":
        import msvcrt

        stream.seek(0)
        msvcrt.locking(stream.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock(stream: Any) -> None:
    if os.name == "nt":
        import msvcrt

        stream.seek(0)
        msvcrt.locking(stream.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(stream.fileno(), fcntl.LOCK_UN)


# errno values of a full file system (or a user's quota reached).
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
# What a file system needs beyond the payload before a write is tried: headers, metadata and allocation slack
# (16 KiB, plus 1/64 of the payload).
WRITE_MARGIN_BYTES = 16 << 10


def free_bytes(folder: str | os.PathLike[str]) -> int | None:
    """Bytes free for this user on the file system of ``folder`` (its nearest existing parent), or None if unknown."""
    place = Path(folder)
    while not place.exists() and place != place.parent:
        place = place.parent
    try:
        return shutil.disk_usage(place).free
    except OSError:
        return None


def no_space_error(target: str | os.PathLike[str], needed: int | None = None) -> CerebroError:
    """The one-line error for a write of ``target`` that its file system has no room for."""
    folder = Path(target).parent
    free = free_bytes(folder)
    have = f"{free:,} bytes are free there" if free is not None else "its free space is unknown"
    need = f" needs {needed:,} bytes;" if needed is not None else " ran out of space;"
    return CerebroError(f"writing {target}{need} {have} ({folder}); free some space or write elsewhere")


def require_free_space(target: str | os.PathLike[str], needed: int) -> None:
    """Before a large write: CerebroError naming the bytes needed and available unless the file system of
    ``target``'s folder has ``needed`` bytes (plus a margin for headers and allocation) free."""
    free = free_bytes(Path(target).parent)
    needed += needed // 64 + WRITE_MARGIN_BYTES
    if free is not None and free < needed:
        raise no_space_error(target, needed)


def current_umask() -> int:
    """The process's umask (read without changing it where /proc tells it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _output_mode(target: Path) -> int:
    """Permissions of a new output: those of the file it replaces, else 0666 less the umask (as ``open`` gives);
    temporary files start as 0600."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~current_umask()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path, prefix: str) -> None:
    """Remove ``prefix<pid>-*`` temporaries (files or folders) that :func:`atomic_path` / :func:`atomic_dir` left in
    ``folder`` when process ``pid`` was killed mid-write; those of live processes are left alone."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    pattern = re.compile(re.escape(prefix) + r"(\d+)-[a-z0-9_]{8}")
    for entry in entries:
        match = pattern.match(entry.name)
        if not match or int(match.group(1)) == os.getpid() or _alive(int(match.group(1))):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()


def require_writable(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Raise a one-line CerebroError now, before any work, unless ``path`` can be written: its folder exists (or
    can be made) and is writable, and ``path`` itself is not a folder."""
    target = Path(path)
    if target.is_dir():
        raise CerebroError(f"{what} {target} is a folder; give a file name")
    kind = special_file_kind(target)
    if kind is not None:  # atomic writing would replace the FIFO / device node with a file
        raise CerebroError(f"{what} {target} is a {kind}, not a file; give a file name")
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CerebroError(f"cannot create the folder of {what} {target}: {error.strerror or error}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CerebroError(f"cannot write {what} {target}: the folder {folder} is not writable; choose another")
    return target


def require_input_file(path: str | os.PathLike[str], what: str = "input") -> Path:
    """Return ``path`` as a Path if it is a file or a folder, else raise a one-line CerebroError (missing, or a FIFO,
    device or socket: reading one could block forever or never end)."""
    p = Path(path)
    if not p.exists():
        raise CerebroError(f"{what} not found: {p}; check the path")
    kind = special_file_kind(p)
    if kind is not None:
        raise CerebroError(f"{what} {p} is a {kind}, not a file; give a file")
    return p


def special_file_kind(path: Path) -> str | None:
    """What ``path`` (links followed) is when it exists and is neither a regular file nor a folder ("FIFO",
    "device", "socket"), else None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return None


def files_read(path: str | os.PathLike[str]) -> list[Path]:
    """The files that reading ``path`` uses: the file itself plus the data file a ``.mhd`` / ``.nhdr`` header
    names (``ElementDataFile`` / ``data file``), relative to the header's folder."""
    target = Path(path)
    files = [target]
    name = target.name.lower()
    if not (name.endswith((".mhd", ".nhdr")) and target.is_file()):
        return files
    separator, keys = ("=", {"elementdatafile"}) if name.endswith(".mhd") else (":", {"data file", "datafile"})
    try:
        lines = target.read_text(encoding="latin-1", errors="replace").splitlines()[:200]
    except OSError:
        return files
    for line in lines:
        field, sep, value = line.partition(separator)
        value = value.strip()
        if sep and field.strip().lower() in keys and value and not value.upper().startswith(("LOCAL", "LIST")):
            files.append(target.parent / value)
    return files


def files_written(path: str | os.PathLike[str]) -> list[Path]:
    """The files that writing a volume to ``path`` creates: ``.mhd`` / ``.nhdr`` headers come with a data
    file of the same stem (``.raw`` / ``.zraw``, ``.raw`` / ``.raw.gz``, as SimpleITK names them)."""
    target = Path(path)
    name = target.name.lower()
    for header, data in ((".mhd", (".raw", ".zraw")), (".nhdr", (".raw", ".raw.gz"))):
        if name.endswith(header):
            stem = target.name[: -len(header)]
            return [target, *(target.parent / f"{stem}{suffix}" for suffix in data)]
    return [target]


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(inputs: Iterable[str | os.PathLike[str]], outputs: Iterable[str | os.PathLike[str]]) -> None:
    """Before any work: raise one CerebroError line if an output would replace any file an input reads
    (companion data files included, see :func:`files_read`) or another output, or cannot be written.

    Every command passes all the paths it reads (volumes, stores' files, dataset files) and writes here.
    """
    read = [(Path(i), f) for i in inputs for f in files_read(i)]
    written: list[tuple[Path, Path]] = []
    for out in outputs:
        out_path = Path(out)
        for file in files_written(out_path):
            for source, used in read:
                if _same_file(file, used):
                    what = "the input file" if used == source else f"the data file of the input {source}"
                    raise CerebroError(f"output {out_path} would overwrite {what} ({used}); choose another "
                                       "output path")
            for other, other_file in written:
                if _same_file(file, other_file):
                    raise CerebroError(f"outputs {other} and {out_path} would be written to the same file "
                                       f"{file}; give them different paths")
            written.append((out_path, file))
        require_writable(out_path)


def require_output_suffix(output: str | os.PathLike[str], suffixes: tuple[str, ...], what: str = "output") -> None:
    """Raise CerebroError unless ``output``'s name ends with one of ``suffixes`` (checked before any work)."""
    if not Path(output).name.lower().endswith(suffixes):
        raise CerebroError(f"{what} {output} must end with one of: {', '.join(suffixes)}; rename it")


def sha256_file(path: str | os.PathLike[str], progress: Progress | None = None) -> str:
    """Hex sha256 of a file, read in 8 MiB blocks."""
    digest = hashlib.sha256()
    size = max(os.path.getsize(path), 1)
    done = 0
    with open(path, "rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
            done += len(block)
            if progress is not None:
                progress.update(done / size, "checking sha256")
    return digest.hexdigest()
