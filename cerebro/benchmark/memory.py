"""How much memory one segmenting worker needs for the cases at hand, so that the local executor opens only as many
segmenting workers as the free memory holds (the constants are fitted to the peaks of ``cerebro segment`` on CTA
phantoms of 128^3, 256^3 and 512 x 512 x 300, 0.55 / 1.10 / 2.41 GiB, estimated 0.69 / 1.13 / 2.98 GiB:
bench/RESULTS.md, "Real-size volumes").

A worker holds torch and the model (the base), the volume on its own grid (the read volume, its float32 copy, the
mask) and, on the network's grid, the normalised input and the float16 logits with the resampling temporaries. The
network's grid is the default models' 0.55 x 0.4 x 0.4 mm; a finer volume needs fewer voxels there, a coarser more.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from cerebro.datasets import Case
from cerebro.io import image_geometry

WORKER_BASE_BYTES = 640 << 20  # a segmenting worker with torch, the model and the codecs loaded, before any volume
BYTES_PER_INPUT_VOXEL = 10  # per voxel of the volume: the volume, its float32 copy, the mask, the scores back
BYTES_PER_WORKING_VOXEL = 12  # per voxel on the network's grid: float32 input, float16 logits, resampling
WORKING_SPACING_MM = (0.4, 0.4, 0.55)  # (i, j, k): the shipped models' grid
FALLBACK_BYTES = 2 << 30  # a case whose header cannot be read (a DICOM folder): the old fixed budget


def segment_worker_bytes(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> int:
    """Estimated peak bytes of a worker segmenting a volume of ``shape`` (k, j, i) and ``spacing`` (si, sj, sk) mm."""
    voxels = math.prod(shape)
    working = voxels * math.prod(s / w for s, w in zip(spacing, WORKING_SPACING_MM))
    return int(WORKER_BASE_BYTES + BYTES_PER_INPUT_VOXEL * voxels + BYTES_PER_WORKING_VOXEL * working)


def largest_segment_bytes(cases: Iterable[Case]) -> int:
    """The estimate of :func:`segment_worker_bytes` for the most demanding case (from the headers alone)."""
    largest = 0
    for case in cases:
        geometry = image_geometry(case.image_path)
        largest = max(largest, FALLBACK_BYTES if geometry is None else segment_worker_bytes(*geometry))
    return largest or FALLBACK_BYTES
