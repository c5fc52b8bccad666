"""Where the stages of a benchmark sweep run (:mod:`cerebro.benchmark.stages`): in this process, on this machine's
cores, or on a Ray cluster. The runner drives all three the same way: it submits stage calls, waits for any to
finish and alone writes the store.

- ``inline``: one call after another in this process (the runner's fine-grained progress and cancellation).
- ``local``: a pipeline on worker processes: CPU workers compress, decode and score while segmenting workers (one
  per worker on the CPU as far as memory allows, each with ``cores / workers`` torch threads; one owning the GPU on
  CUDA) segment.
- ``ray``: the same calls as Ray tasks (``ray.init(address=...)``): large arrays stay in Ray's object store,
  segmenting tasks ask for a GPU when the models run on CUDA; a task whose worker dies is retried.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from cerebro.benchmark.memory import FALLBACK_BYTES
from cerebro.errors import CerebroError
from cerebro.parallel import available_cores, exit_with_parent, resolve_workers
from cerebro.resources import available_memory

EXECUTORS = ("local", "ray")
CPU, SEGMENT = "cpu", "segment"  # the two kinds of stage calls
RAY_TASK_RETRIES = 3  # a task whose worker process or node dies is run again (its result is stored once)


class Executor(ABC):
    """Runs stage calls; handles are opaque. Arguments may be handles of finished calls (passed on as values, or
    as object references where the executor has an object store)."""

    segment_slots = 1  # segmentations that run at the same time (the runner keeps about twice as many queued)
    in_process = False  # True: calls run in this process, so they may take the runner's Progress
    codec_workers: int | None = 1  # processes a codec may use inside one call (1: in the calling process)
    memory_note: str | None = None  # why fewer segmenting workers than asked for run (the free memory), if so

    @abstractmethod
    def submit(self, kind: str, function: Callable[..., Any], *args: Any) -> Any:
        """Start ``function(*args)`` as a ``kind`` (CPU or SEGMENT) call; returns its handle."""

    @abstractmethod
    def wait(self, handles: Iterable[Any]) -> list[Any]:
        """Block until at least one of ``handles`` has finished; returns the finished ones."""

    @abstractmethod
    def result(self, handle: Any) -> Any:
        """The value of a finished call (its exception is raised here)."""

    def share(self, value: Any) -> Any:
        """``value`` as an argument for many calls (put into the object store once, where there is one)."""
        return value

    def close(self, cancel: bool = False) -> None:  # noqa: B027 - the in-process executor has nothing to close
        """Release the workers; ``cancel`` drops calls that have not started."""


class InlineExecutor(Executor):
    """Every call runs at once, in this process; a codec may spread one call over ``codec_workers`` processes
    (None: all cores; ``--workers 1`` gives 1: nothing leaves this process)."""

    in_process = True

    def __init__(self, codec_workers: int | None = None) -> None:
        self.codec_workers = codec_workers

    def submit(self, kind: str, function: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(function(*[_value(a) for a in args]))
        except Exception as exc:  # noqa: BLE001 - raised again by result(), as from a worker
            future.set_exception(exc)
        return future

    def wait(self, handles: Iterable[Any]) -> list[Any]:
        return list(handles)

    def result(self, handle: Any) -> Any:
        return handle.result()


def _value(argument: Any) -> Any:
    return argument.result() if isinstance(argument, Future) else argument


def start_worker(parent: int, torch_threads: int) -> None:
    """Pool initialiser: die with the parent; a segmenting worker uses ``torch_threads`` threads (0: leave)."""
    exit_with_parent(parent)
    if torch_threads:
        os.environ["OMP_NUM_THREADS"] = str(torch_threads)
        import torch

        torch.set_num_threads(torch_threads)


class LocalExecutor(Executor):
    """``workers`` CPU processes for compression and scoring and the segmenting processes beside them."""

    def __init__(self, workers: int | None = None, gpu: bool = False, worker_bytes: int = FALLBACK_BYTES) -> None:
        self.workers = resolve_workers(workers)
        self.segment_slots = 1 if gpu else segmenting_workers(self.workers, worker_bytes)
        self.memory_note = None if self.segment_slots >= self.workers else (
            f"{self.segment_slots} segmenting worker(s), not {self.workers}: the free memory holds "
            f"{self.segment_slots} of about {worker_bytes / 2**30:.1f} GiB each for the largest case")
        threads = 0 if gpu else max(1, available_cores() // self.segment_slots)
        if sys.platform.startswith("linux"):
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["cerebro.benchmark.stages"])
        else:
            context = multiprocessing.get_context()
        self._pools = {
            CPU: ProcessPoolExecutor(self.workers, mp_context=context, initializer=start_worker,
                                     initargs=(os.getpid(), 0)),
            SEGMENT: ProcessPoolExecutor(self.segment_slots, mp_context=context, initializer=start_worker,
                                         initargs=(os.getpid(), threads)),
        }

    def submit(self, kind: str, function: Callable[..., Any], *args: Any) -> Future:
        return self._pools[kind].submit(function, *[_value(a) for a in args])

    def wait(self, handles: Iterable[Any]) -> list[Any]:
        done, _ = wait(list(handles), return_when=FIRST_COMPLETED)
        return list(done)

    def result(self, handle: Any) -> Any:
        return handle.result()

    def close(self, cancel: bool = False) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=cancel)


def segmenting_workers(workers: int, worker_bytes: int = FALLBACK_BYTES) -> int:
    """Segmenting processes beside ``workers`` CPU workers: one per worker, as many as the free memory holds at
    ``worker_bytes`` each (:func:`cerebro.benchmark.memory.largest_segment_bytes` of the cases; at least one)."""
    free = available_memory()
    return max(1, min(workers, workers if free is None else free // max(worker_bytes, 1)))


class RayExecutor(Executor):
    """Stage calls as Ray tasks on the cluster at ``address`` (None: a local Ray runtime with ``workers`` CPUs)."""

    def __init__(self, address: str | None = None, workers: int | None = None, gpu: bool = False) -> None:
        ray = import_ray()
        if not ray.is_initialized():
            options: dict[str, Any] = {"address": address, "include_dashboard": False, "log_to_driver": False}
            if address is None:
                options["num_cpus"] = resolve_workers(workers)
            try:
                ray.init(**options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise CerebroError(f"cannot connect to a Ray cluster at {address!r} ({str(exc)[:160]}); start one "
                                   "with 'ray start --head' and pass its address") from None
        self._ray = ray
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0)) if gpu else 0
        cpus = max(1, int(resources.get("CPU", 1)))
        self.segment_slots = gpus or cpus
        self._options = {
            CPU: {"num_cpus": 1, "max_retries": RAY_TASK_RETRIES},
            SEGMENT: {"num_cpus": 1, "num_gpus": 1 if gpus else 0, "max_retries": RAY_TASK_RETRIES},
        }
        self._remote: dict[tuple[str, Callable[..., Any]], Any] = {}

    def submit(self, kind: str, function: Callable[..., Any], *args: Any) -> Any:
        key = (kind, function)
        if key not in self._remote:
            self._remote[key] = self._ray.remote(**self._options[kind])(function)
        return self._remote[key].remote(*args)

    def wait(self, handles: Iterable[Any]) -> list[Any]:
        done, _ = self._ray.wait(list(handles), num_returns=1)
        return done

    def result(self, handle: Any) -> Any:
        try:
            return self._ray.get(handle)
        except self._ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, CerebroError):  # a user error inside a task: the same one line as locally
                raise CerebroError(str(cause)) from None
            raise

    def share(self, value: Any) -> Any:
        return self._ray.put(value)

    def close(self, cancel: bool = False) -> None:
        pass  # the cluster outlives the run; a local runtime ends with this process


def uses_cuda(device: str) -> bool:
    """Whether models given ``device`` run on a CUDA GPU here (then one segmenting worker owns it). Imports
    PyTorch only for "auto" and "cuda", and a machine without it has no GPU to use."""
    if device.split(":")[0] not in ("auto", "cuda") or importlib.util.find_spec("torch") is None:
        return False
    from cerebro.device import resolve_device

    return resolve_device(device).type == "cuda"


def import_ray() -> Any:
    """The ``ray`` module, or a CerebroError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise CerebroError("--executor ray needs Ray; install it with: pip install 'cerebrobench[ray]'") from None
    return ray


def make_executor(name: str, workers: int | None = None, address: str | None = None, device: str = "auto",
                  worker_bytes: int = FALLBACK_BYTES) -> Executor:
    """The executor ``name`` ("local" or "ray") for models run on ``device``; ``local`` with one worker runs in
    this process, with more it opens as many segmenting workers as the free memory holds at ``worker_bytes``."""
    if name not in EXECUTORS:
        raise CerebroError(f"unknown executor {name!r}; use one of: {', '.join(EXECUTORS)}")
    if address is not None and name != "ray":
        raise CerebroError("--address is for --executor ray; add --executor ray or leave out --address")
    if name == "ray":  # the cluster's GPUs, not this machine's: "auto" and "cuda" use them where there are some
        return RayExecutor(address, workers, gpu=device.split(":")[0] in ("auto", "cuda"))
    gpu = uses_cuda(device)
    if resolve_workers(workers) == 1:
        return InlineExecutor(codec_workers=1)
    return LocalExecutor(workers, gpu, worker_bytes)
