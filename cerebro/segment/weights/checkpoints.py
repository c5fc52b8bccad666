"""Safe loading of network weights: safetensors, or torch files read with ``weights_only=True``."""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cerebro.errors import CerebroError


def load_checkpoint(path: str | os.PathLike[str], allow_pickle: bool = False) -> Any:
    """Read a checkpoint file: ``.safetensors`` -> dict of tensors; else ``torch.load(weights_only=True)``.

    Whole pickled modules (``torch.save(model)``) and other arbitrary objects are refused unless
    ``allow_pickle`` is True, because unpickling can run any code the file's author wrote.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CerebroError(f"weights file not found: {path}; download the model or check the path")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own error types for corrupt headers
            raise CerebroError(f"{path.name} is not a valid safetensors file ({exc}); download it again") from None
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as exc:
        raise CerebroError(
            f"{path.name} holds pickled Python objects, not just weights ({str(exc).splitlines()[0][:120]}); "
            "loading it could run arbitrary code. Re-save it as a state dict "
            "(torch.save(model.state_dict(), ...)) or, only if you trust its author, allow pickled checkpoints"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile) as exc:
        raise CerebroError(f"{path.name} is not a readable PyTorch checkpoint ({exc}); download it again") from None


def _numpy_safe_globals() -> list:
    """Plain-data numpy globals that training logs pickle (scalars, dtypes); none of them runs code."""
    import numpy as np

    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar
    dtypes = [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
    return [scalar, np.dtype, *dtypes]


def load_state_dict(path: str | os.PathLike[str], key: str | None = None, prefix: str = "",
                    allow_pickle: bool = False) -> dict[str, Any]:
    """The tensors of a checkpoint as a flat state dict.

    ``key`` selects a sub-dict (e.g. ``"model"`` in a training checkpoint); ``prefix`` is stripped
    from every key that has it (e.g. ``"model."`` of a Hugging Face wrapper). A whole pickled
    ``nn.Module`` is accepted only with ``allow_pickle`` and then reduced to its state dict.
    """
    import torch

    data = load_checkpoint(path, allow_pickle=allow_pickle)
    if isinstance(data, torch.nn.Module):
        data = data.state_dict()
    if key is not None:
        if not isinstance(data, Mapping) or key not in data:
            found = sorted(data)[:8] if isinstance(data, Mapping) else type(data).__name__
            raise CerebroError(f"{Path(path).name} has no '{key}' entry (found {found}); "
                               "is this the right checkpoint for the model?")
        data = data[key]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CerebroError(f"{Path(path).name} does not hold a state dict of tensors; "
                           "give the weights file the model catalog names")
    if prefix:
        data = {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in data.items()}
    return dict(data)


def load_weights_into(network: Any, state: Mapping[str, Any], what: str) -> None:
    """Load ``state`` into ``network`` strictly; a mismatch becomes a one-line CerebroError."""
    expected = network.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        details = []
        if missing:
            details.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            details.append(f"{len(wrong)} with another shape (e.g. {k}: {tuple(state[k].shape)} vs "
                           f"{tuple(expected[k].shape)})")
        raise CerebroError(f"the weights do not fit the {what} network: {'; '.join(details)}; "
                           "check the model id and its architecture options in the catalog")
    network.load_state_dict(state, strict=True)
