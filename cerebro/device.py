"""Where PyTorch work runs — segmentation, training, INR fitting — chosen one way: ``auto`` takes CUDA, else MPS
(where the work supports it), else the CPU; a named device that is not there is a one-line error."""

from __future__ import annotations

from typing import Any

from cerebro.errors import CerebroError

DEVICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    import torch

    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def resolve_device(name: str = "auto", mps: bool = True) -> Any:
    """A ``torch.device`` for ``"auto"``, ``"cpu"``, ``"cuda"[:N]`` or ``"mps"``; ``mps=False`` for work that does
    not run on Apple's MPS backend (training, INR fitting): ``auto`` then skips it and ``"mps"`` is refused."""
    import torch

    base = name.split(":")[0]
    allowed = DEVICES if mps else tuple(d for d in DEVICES if d != "mps")
    if base not in allowed:
        raise CerebroError(f"unknown device '{name}'; use one of {', '.join(allowed)}")
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps and _mps_available() else torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise CerebroError("device 'cuda' was asked for but PyTorch sees no CUDA GPU; use --device cpu or auto")
    if base == "mps" and not _mps_available():
        raise CerebroError("device 'mps' was asked for but PyTorch has no MPS backend here; use --device cpu or auto")
    return torch.device(name)
