"""Segmenting workers sized by the cases at hand: the estimate from the image headers, and as many local workers
as the free memory holds at that size (no fixed 2 GiB)."""

from __future__ import annotations

import numpy as np

import cerebro.benchmark.executors as executors
from cerebro.benchmark.memory import (
    FALLBACK_BYTES,
    WORKER_BASE_BYTES,
    largest_segment_bytes,
    segment_worker_bytes,
)
from cerebro.datasets import Case
from cerebro.io import image_geometry, write_volume
from cerebro.volume import Volume

GIB = 2**30


def test_the_estimate_grows_with_the_voxels_on_both_grids():
    small = segment_worker_bytes((64, 64, 64), (0.4, 0.4, 0.55))
    large = segment_worker_bytes((300, 512, 512), (0.45, 0.45, 0.8))
    assert WORKER_BASE_BYTES < small < 1 * GIB
    assert 2.4 * GIB < large < 3.5 * GIB  # measured 2.41 GiB for cerebro segment on such a CTA (bench/RESULTS.md)
    coarse = segment_worker_bytes((300, 512, 512), (0.9, 0.9, 1.6))  # 8x the network's voxels
    assert coarse > large


def test_the_largest_case_sets_the_budget_from_its_header(tmp_path):
    paths = []
    for n, shape in enumerate(((20, 30, 40), (40, 50, 60))):
        paths.append(write_volume(Volume(np.zeros(shape, np.int16), spacing=(0.5, 0.5, 0.7)), tmp_path / f"{n}.nii.gz"))
    shape, spacing = image_geometry(paths[1])  # NIfTI keeps the spacing in float32
    assert shape == (40, 50, 60) and np.allclose(spacing, (0.5, 0.5, 0.7))
    cases = [Case(f"c{n}", path, None, "cta") for n, path in enumerate(paths)]
    assert largest_segment_bytes(cases) == segment_worker_bytes(shape, spacing)
    folder = tmp_path / "dicom"
    folder.mkdir()
    assert largest_segment_bytes([Case("d", folder, None, "cta")]) == FALLBACK_BYTES  # no header: the old budget


def test_local_workers_are_capped_by_the_free_memory_at_the_estimated_size(monkeypatch):
    monkeypatch.setattr(executors, "available_memory", lambda: 9 * GIB)
    assert executors.segmenting_workers(4, 2 * GIB) == 4
    assert executors.segmenting_workers(4, 4 * GIB) == 2
    assert executors.segmenting_workers(4, 20 * GIB) == 1  # at least one
    monkeypatch.setattr(executors, "available_memory", lambda: None)  # unknown: one per worker
    assert executors.segmenting_workers(3, 20 * GIB) == 3
