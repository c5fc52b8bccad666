"""The front door of segmentation: ``segment(volume, model_id)`` for every family in the catalog."""

from __future__ import annotations

import os
from pathlib import Path

from cerebro.device import resolve_device
from cerebro.errors import CerebroError
from cerebro.progress import Progress
from cerebro.segment.catalog import DEFAULT_MODEL_ID, ModelEntry, get_model_entry
from cerebro.segment.registry import SegmentationModel, build_model
from cerebro.segment.result import SegmentationResult
from cerebro.segment.routing import Route, route_model, volume_modality
from cerebro.segment.weights.download import fetch_model
from cerebro.volume import Volume


def load_model(model_id: str, device: str = "auto", cache_dir: str | os.PathLike[str] | None = None,
               weights: str | os.PathLike[str] | None = None, offline: bool | None = None,
               allow_unpinned: bool = False, allow_pickle: bool = False, progress: Progress | None = None,
               catalog: dict[str, ModelEntry] | None = None, modality: str | None = None) -> SegmentationModel:
    """Fetch (or find in the cache) the weights of catalog model ``model_id`` and load it on ``device``.

    A routing entry (``cerebro-default``) loads its model for ``modality`` (``cta`` / ``mra``; required there).
    ``weights`` overrides the catalog download with a local file (or results folder/zip for nnU-Net);
    ``allow_unpinned`` accepts catalog entries without a pinned revision/sha256 (the sha256 is reported);
    ``allow_pickle`` accepts checkpoints holding pickled objects (only for files you trust).
    """
    entry = get_model_entry(route_model(model_id, modality, catalog=catalog).model_id, catalog)
    torch_device = resolve_device(device)
    path: Path | None = None
    if entry.needs_weights:
        if weights is not None:
            path = Path(weights)
            if not path.exists():
                raise CerebroError(f"weights not found: {path}; check the path")
            if entry.family == "nnunet" and path.is_file():
                from cerebro.fsutil import sha256_file
                from cerebro.segment.weights.download import cache_root, extract_once

                digest = sha256_file(path)
                path = extract_once(path, digest, cache_root(cache_dir) / entry.id / f"local-{digest[:16]}")
        else:
            path = fetch_model(entry, cache_dir=cache_dir, offline=offline, progress=progress,
                               allow_unpinned=allow_unpinned)
    return build_model(entry, path, torch_device, allow_pickle=allow_pickle)


def segment(volume: Volume, model_id: str = DEFAULT_MODEL_ID, device: str = "auto", tta: bool = True,
            progress: Progress | None = None, return_probabilities: bool = False,
            cache_dir: str | os.PathLike[str] | None = None, weights: str | os.PathLike[str] | None = None,
            allow_unpinned: bool = False, catalog: dict[str, ModelEntry] | None = None,
            modality: str | None = None, dataset_modality: str | None = None,
            precision: str = "auto") -> SegmentationResult:
    """Segment ``volume`` with catalog model ``model_id`` (default: the shipped model for the volume's modality);
    mask (and probabilities) on the input's grid; ``result.route`` says which model ran and why.

    ``device``: "auto" (CUDA > MPS > CPU), "cpu", "cuda" or "mps"; ``tta``: test-time augmentation
    (mirroring); ``modality`` ("cta" / "mra") or the dataset's ``dataset_modality`` pick the model of a routing
    entry (else the intensities do: :mod:`cerebro.segment.routing`); ``precision``: "auto" (bfloat16 on CPUs that
    have it in hardware, float16 on CUDA) or "float32" (:func:`cerebro.segment.device.effective_precision`); see
    :func:`load_model` for ``cache_dir``, ``weights`` and ``allow_unpinned``.
    """
    progress = progress or Progress()
    route = route_for(volume, model_id, modality, dataset_modality, catalog)
    model = load_model(route.model_id, device=device, cache_dir=cache_dir, weights=weights,
                       allow_unpinned=allow_unpinned, progress=progress.sub(0.0, 0.1), catalog=catalog)
    result = model.predict(volume, tta=tta, progress=progress.sub(0.1, 1.0), return_probabilities=return_probabilities,
                           precision=precision)
    result.route = route
    return result


def route_for(volume: Volume | None, model_id: str, modality: str | None = None, dataset_modality: str | None = None,
              catalog: dict[str, ModelEntry] | None = None) -> Route:
    """The model that runs for ``model_id`` on ``volume`` and why (the volume's modality is only worked out for a
    routing entry)."""
    if not get_model_entry(model_id, catalog).routes:
        return route_model(model_id, None, catalog=catalog)  # nothing to work out
    return route_model(model_id, *volume_modality(volume, modality, dataset_modality), catalog)
