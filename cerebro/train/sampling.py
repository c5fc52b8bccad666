"""Where training patches come from: ``uniform`` (anywhere), ``foreground-fraction`` (a share centred near
vessel voxels, nnU-Net's oversampling) or ``centreline`` (centres from k-means clusters of the label's
centreline points, as the coronary-artery pipeline does, so patches follow the vessel tree evenly instead of
favouring the thick vessels that hold most voxels). Any mode may add a share of patches centred on bone
(hard negatives for CTA)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cerebro.errors import CerebroError
from cerebro.train.cases import Case
from cerebro.train.options import SAMPLING_MODES

CLUSTERS_PER_CASE = 32


def centreline_centres(label: np.ndarray, clusters: int = CLUSTERS_PER_CASE, seed: int = 0) -> np.ndarray:
    """(k, 3) patch centres: k-means (scipy) of the skeleton voxels of ``label``; empty for an empty label."""
    from scipy.cluster.vq import kmeans2

    from cerebro.metrics.topology import skeleton

    points = np.argwhere(skeleton(label > 0)).astype(np.float64)
    if len(points) == 0:
        return np.zeros((0, 3), np.int64)
    k = min(clusters, len(points))
    centres, _ = kmeans2(points, k, minit="++", seed=seed)
    return np.rint(centres).astype(np.int64)


@dataclass
class PatchSampler:
    """Draws (case index, box) pairs; ``patch`` is the patch size (x, y, z) on the plans' grid."""

    cases: list[Case]
    patch: tuple[int, int, int]
    mode: str = "foreground-fraction"
    foreground_fraction: float = 0.33
    bone_fraction: float = 0.0
    weights: list[float] | None = None  # probability of drawing each case (default: equal)

    def __post_init__(self) -> None:
        if self.mode not in SAMPLING_MODES:
            raise CerebroError(f"unknown sampling '{self.mode}'; choose one of: {', '.join(SAMPLING_MODES)}")
        for name, value in (("foreground fraction", self.foreground_fraction), ("bone fraction", self.bone_fraction)):
            if not 0 <= value <= 1:
                raise CerebroError(f"the {name} must be between 0 and 1, got {value}")
        self._centres: dict[int, np.ndarray] = {}
        self._p = None if self.weights is None else np.asarray(self.weights, np.float64) / np.sum(self.weights)

    def draw(self, rng: np.random.Generator) -> tuple[int, tuple[slice, ...]]:
        """A case index and a box of ``patch`` voxels inside it (the case is padded by the caller when smaller)."""
        index = int(rng.integers(len(self.cases))) if self._p is None else int(rng.choice(len(self.cases), p=self._p))
        case = self.cases[index]
        patch = np.asarray(self.patch)
        shape = np.maximum(np.asarray(case.shape), patch)
        centre = self._centre(index, case, rng)
        if centre is None:
            start = rng.integers(0, shape - patch + 1)
        else:
            start = centre - patch // 2 + rng.integers(-(patch // 4), patch // 4 + 1)
        start = np.clip(start, 0, shape - patch)
        return index, tuple(slice(int(s), int(s + p)) for s, p in zip(start, patch))

    def _centre(self, index: int, case: Case, rng: np.random.Generator) -> np.ndarray | None:
        draw = rng.random()
        if len(case.bone) and draw < self.bone_fraction:
            return case.bone[rng.integers(len(case.bone))]
        if self.mode == "uniform":
            return None
        if self.mode == "centreline":
            if index not in self._centres:
                self._centres[index] = centreline_centres(case.label, seed=index)
            centres = self._centres[index]
            return centres[rng.integers(len(centres))] if len(centres) else None
        if len(case.foreground) and rng.random() < self.foreground_fraction:
            return case.foreground[rng.integers(len(case.foreground))]
        return None
