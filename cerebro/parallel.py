"""Run a function over independent chunks, in-process or on a pool of worker processes.

Codecs whose library holds the GIL (zfpy does) use processes to encode/decode slabs on several cores.
The pools are created on first use and kept for the life of the interpreter (starting workers costs
more than small volumes take to compress). Workers are started with the ``forkserver`` method on
Linux (safe in multi-threaded hosts such as Slicer), the platform default elsewhere.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import numpy as np

from cerebro.errors import CerebroError
from cerebro.progress import Progress

T = TypeVar("T")
PARENT_POLL_SECONDS = 0.5
_POOLS: dict[int, ProcessPoolExecutor] = {}


def available_cores() -> int:
    """Number of CPU cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def resolve_workers(workers: int | None) -> int:
    """``None`` or 0 -> all available cores; otherwise ``workers`` (>= 1), checked."""
    if workers is None or workers == 0:
        return available_cores()
    if workers < 0:
        raise CerebroError(f"workers must be >= 1 (or 0 for all cores), got {workers}")
    return int(workers)


def effective_workers(workers: int | None, items: int) -> int:
    """How many processes :func:`map_chunks` would use for ``items`` items (1 = in-process)."""
    return max(1, min(resolve_workers(workers), items))


@contextmanager
def shared_scratch(shape: tuple[int, ...], dtype: np.dtype | str) -> Iterator[tuple[np.ndarray, str]]:
    """A memory-mapped scratch array that worker processes open by path (see :func:`open_scratch`).

    Lets workers read their input slab and write their output slab without pickling voxels through
    pipes. Lives in /dev/shm when it has room (RAM-backed), else in the temporary folder; removed on exit.
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    folder = None
    if os.path.isdir("/dev/shm"):
        stats = os.statvfs("/dev/shm")
        if stats.f_bavail * stats.f_frsize > 2 * nbytes:
            folder = "/dev/shm"
    fd, name = tempfile.mkstemp(prefix="cerebro-scratch-", suffix=".raw", dir=folder)
    handle = os.fdopen(fd, "w+b")
    path = name
    proc_path = f"/proc/{os.getpid()}/fd/{fd}"
    if os.path.exists(proc_path):
        # Linux: the file is unlinked at once (a killed run leaves nothing in /dev/shm); workers open it through
        # this process's descriptor, valid while the context is open.
        os.unlink(name)
        path = proc_path
    try:
        yield np.memmap(handle, dtype=dtype, mode="w+", shape=shape), path
    finally:
        # The mapping itself is released when the last view is garbage-collected (closing it here would
        # crash views the caller still holds); POSIX allows unlinking a mapped file, Windows may not.
        handle.close()
        if path == name:
            with suppress(PermissionError, FileNotFoundError):
                os.unlink(name)


def open_scratch(path: str, shape: tuple[int, ...], dtype: str, writable: bool = False) -> np.ndarray:
    """Open a :func:`shared_scratch` array in a worker process."""
    return np.memmap(path, dtype=np.dtype(dtype), mode="r+" if writable else "r", shape=tuple(shape))


def exit_with_parent(parent: int) -> None:
    """Worker initialiser: end this worker as soon as process ``parent`` is gone (killed with SIGKILL included;
    forkserver workers are not its children, so they would otherwise live on).

    On Linux the kernel kills the worker when the process that forked it (the forkserver, which itself ends
    with ``parent``) exits, even while the worker is busy in a C library; elsewhere a thread polls ``parent``.
    """
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
            if os.getppid() == 1:  # the forkserver ended before the call
                os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # the pid now belongs to another user's process: ours is gone
                os._exit(1)

    threading.Thread(target=watch, name="cerebro-worker-parent-watch", daemon=True).start()


def _pool(workers: int, preload: str) -> ProcessPoolExecutor:
    pool = _POOLS.get(workers)
    if pool is None:
        if sys.platform.startswith("linux"):
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([preload])
        else:
            context = multiprocessing.get_context()
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=exit_with_parent,
                                   initargs=(os.getpid(),))
        _POOLS[workers] = pool
    return pool


def map_chunks(
    function: Callable[..., T],
    items: Sequence[tuple[Any, ...]],
    workers: int | None = None,
    progress: Progress | None = None,
    message: str = "",
) -> list[T]:
    """Return ``[function(*item) for item in items]`` computed on ``workers`` processes (1 = in-process).

    ``function`` must be a module-level function (it is pickled by name). Progress is reported after each
    finished item; a cancellation stops the remaining items and raises Cancelled. If the worker processes
    cannot run, a RuntimeWarning is issued and the items are computed in-process.
    """
    count = min(resolve_workers(workers), len(items))
    if count > 1:
        try:
            return _map_on_pool(function, items, count, progress, message)
        except BrokenProcessPool:
            _POOLS.pop(count, None)
            warnings.warn("worker processes could not run (host without a re-importable __main__, or out of "
                          "memory); continuing in-process", RuntimeWarning, stacklevel=2)
    results: list[Any] = [None] * len(items)
    for n, item in enumerate(items):
        results[n] = function(*item)
        if progress is not None:
            progress.update((n + 1) / len(items), message)
    return results


def _map_on_pool(
    function: Callable[..., T], items: Sequence[tuple[Any, ...]], count: int, progress: Progress | None, message: str
) -> list[T]:
    results: list[Any] = [None] * len(items)
    pool = _pool(count, function.__module__)
    futures: dict[Future[T], int] = {pool.submit(function, *item): n for n, item in enumerate(items)}
    pending = set(futures)
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                results[futures[future]] = future.result()
            if progress is not None:
                progress.update(1.0 - len(pending) / len(items), message)
    except BaseException:
        for future in pending:
            future.cancel()
        raise
    return results
