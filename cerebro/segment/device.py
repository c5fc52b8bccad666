"""Running segmentation networks on a device (chosen by :func:`cerebro.device.resolve_device`): half precision
and out-of-memory fallbacks."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from cerebro.progress import Progress

T = TypeVar("T")


@contextlib.contextmanager
def autocast_for(device: Any, half_precision: bool) -> Iterator[None]:
    """float16 autocast on CUDA when the family allows half precision; a no-op elsewhere."""
    import torch

    if half_precision and device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.float16):
            yield
    else:
        yield


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/MPS out-of-memory errors."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def run_with_fallback(run: Callable[[Any, int], T], device: Any, sw_batch_size: int,
                      progress: Progress | None = None) -> T:
    """Call ``run(device, sw_batch_size)``; on GPU out-of-memory retry with half the sliding-window batch
    down to 1, then on the CPU. Every fallback is announced with a warning and a progress message."""
    import torch

    progress = progress or Progress()
    batch = max(1, int(sw_batch_size))
    while True:
        try:
            return run(device, batch)
        except Exception as exc:  # only out-of-memory is handled, anything else propagates
            if device.type == "cpu" or not is_out_of_memory(exc):
                raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if batch > 1:
            batch //= 2
            message = f"out of memory on {device}; retrying with sliding-window batch {batch}"
        else:
            device = torch.device("cpu")
            message = "out of memory on the GPU even with batch 1; falling back to the CPU (slow)"
        warnings.warn(message, stacklevel=2)
        progress.update(0.0, message)
