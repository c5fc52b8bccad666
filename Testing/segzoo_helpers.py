"""Shared pieces of the model-zoo tests: a tube phantom and catalog entries pointing at local checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cerebro.fsutil import sha256_file
from cerebro.segment.catalog import load_catalog
from cerebro.volume import Volume

FAKE_REVISION = "0123456789abcdef0123456789abcdef01234567"


def tube_phantom(shape=(40, 48, 56), spacing=(0.5, 0.5, 0.7), seed=0, direction=None) -> tuple[Volume, np.ndarray]:
    """Bright tubes (radii 0.9-1.5 mm, one curved) in noisy background, and their true mask (k, j, i)."""
    rng = np.random.default_rng(seed)
    k, j, i = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    z, y, x = k * spacing[2], j * spacing[1], i * spacing[0]
    truth = (y - 12) ** 2 + (z - 14) ** 2 < 1.5**2
    truth |= (x - 14 - 3 * np.sin(z / 5)) ** 2 + (y - 8) ** 2 < 1.2**2
    truth |= (x - 20) ** 2 + (z - 20) ** 2 < 0.9**2
    array = 100 + 500 * truth + rng.normal(0, 30, shape)
    kwargs = {} if direction is None else {"direction": direction}
    return Volume(array.astype(np.float32), spacing=spacing, origin=(-7.0, 3.5, 11.0), **kwargs), truth


def local_entry(cache: Path, model_id: str, family: str, file: str, options: dict, input_spec: dict | None = None,
                archive: str | None = None, labels: dict | None = None) -> dict:
    """A pinned catalog entry for a checkpoint already written at ``cache/model_id/file`` (real sha256)."""
    return {
        "id": model_id, "family": family, "repo": "cerebrobench-tests/" + model_id, "file": file,
        "revision": FAKE_REVISION, "sha256": sha256_file(cache / model_id / file), "pinned": True,
        "archive": archive, "modality": "MRA", "license": "test", "input": input_spec or {},
        "labels": {"0": "background", "1": "vessel"} if labels == "default" else labels, "options": options,
    }


def write_catalog(path: Path, entries: list[dict]) -> dict:
    """Write a user catalog file and return the merged catalog (built-in + these entries)."""
    path.write_text(json.dumps({"models": entries}, indent=1))
    return load_catalog(extra=path)
