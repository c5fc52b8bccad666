"""The ``nnunet`` catalog family: nnU-Net v2 results folders (plain nnU-Net, U-Mamba Bot/Enc; catalog options
``folds``, ``checkpoint``) and nnU-Net's inference pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cerebro.errors import CerebroError
from cerebro.segment.catalog import ModelEntry
from cerebro.segment.families.nnunet.results_folder import NnUNetModel, load_nnunet_model
from cerebro.segment.registry import register_family

__all__ = ["NnUNetModel", "load_nnunet_model"]


@register_family("nnunet")
def load(entry: ModelEntry, weights: Path | None, device: Any, allow_pickle: bool = False) -> NnUNetModel:
    """Load the results folder ``weights`` (extracted) with the entry's folds and checkpoint name."""
    if weights is None:
        raise CerebroError(f"model '{entry.id}' needs its nnU-Net results folder")
    opts = entry.options
    return load_nnunet_model(weights, folds=tuple(opts.get("folds", (0,))),
                             checkpoint=opts.get("checkpoint", "checkpoint_final.pth"), device=device,
                             allow_unsafe_pickle=allow_pickle)
