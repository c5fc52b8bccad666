"""Running segmentation networks on a device (chosen by :func:`cerebro.device.resolve_device`): half precision
and out-of-memory fallbacks."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from cerebro.errors import CerebroError
from cerebro.progress import Progress

T = TypeVar("T")


PRECISIONS = ("auto", "float32")


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AMX tiles or AVX-512 BF16), where oneDNN runs bfloat16
    convolutions several times faster than float32; elsewhere bfloat16 would be emulated and slower."""
    import torch

    checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(check is not None and bool(check()) for check in checks)


def effective_precision(device: Any, precision: str = "auto", half_precision: bool = True,
                        cpu_bfloat16: bool = False) -> str:
    """The number type a network runs in: ``"float32"`` when asked for (the exact reference) or when the family
    does not allow ``half_precision``; under ``"auto"`` float16 on CUDA, and bfloat16 on a CPU that has it in
    hardware for families that allow it there (``cpu_bfloat16``, checked against float32 masks)."""
    if precision not in PRECISIONS:
        raise CerebroError(f"unknown precision '{precision}'; use one of {', '.join(PRECISIONS)}")
    if precision == "float32" or not half_precision:
        return "float32"
    if device.type == "cuda":
        return "float16"
    if device.type == "cpu" and cpu_bfloat16 and cpu_has_native_bfloat16():
        return "bfloat16"
    return "float32"


@contextlib.contextmanager
def autocast_for(device: Any, half_precision: bool, precision: str = "auto",
                 cpu_bfloat16: bool = False) -> Iterator[None]:
    """Autocast to :func:`effective_precision`'s type (a no-op for float32)."""
    import torch

    kind = effective_precision(device, precision, half_precision, cpu_bfloat16)
    if kind == "float32":
        yield
    else:
        with torch.autocast(device.type, dtype=getattr(torch, kind)):
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
