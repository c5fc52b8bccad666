"""Overlap between binary segmentation masks (numpy arrays or Volumes on the same grid): voxel counts and the
ratios built from them (Dice, IoU, sensitivity, precision, volume similarity)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cerebro.errors import CerebroError
from cerebro.volume import Volume, same_geometry


def binary_pair(reference: np.ndarray | Volume, test: np.ndarray | Volume) -> tuple[np.ndarray, np.ndarray]:
    """Both masks as boolean arrays (nonzero = foreground); CerebroError if their shapes or, for two Volumes,
    their grids differ."""
    if isinstance(reference, Volume) and isinstance(test, Volume):
        mismatch = same_geometry(reference, test)
        if mismatch is not None:
            raise CerebroError(f"the masks are on different grids ({mismatch}); resample one onto the other first")
    a = np.asarray(reference.array if isinstance(reference, Volume) else reference) != 0
    b = np.asarray(test.array if isinstance(test, Volume) else test) != 0
    if a.shape != b.shape:
        raise CerebroError(f"masks have different shapes {a.shape} and {b.shape}; compare masks on the same grid")
    return a, b


def cropped_pair(reference: np.ndarray | Volume, test: np.ndarray | Volume) -> tuple[np.ndarray, np.ndarray]:
    """:func:`binary_pair` cut to the bounding box of the two masks' union and padded with one background voxel on
    every side (1^3 background when both are empty): surface and topology measures are exact on it and cheaper."""
    a, b = binary_pair(reference, test)
    union = a | b
    if not union.any():
        return np.zeros((1, 1, 1), bool), np.zeros((1, 1, 1), bool)
    box = tuple(slice(int(idx.min()), int(idx.max()) + 1) for idx in np.nonzero(union))
    return np.pad(a[box], 1), np.pad(b[box], 1)


def _ratio(numerator: int, denominator: int, empty: float) -> float:
    return numerator / denominator if denominator else empty


@dataclass(frozen=True)
class Confusion:
    """Voxel counts of a test mask against a reference (truth): true/false positives and negatives.

    Counts add up (``a + b``), so metrics over pooled cases ("overall", as in the paper's tables) come from
    the summed counts, and per-case means from each case's counts. Ratios whose denominator is empty are 1.0
    when both masks are empty (Dice, IoU, volume similarity) and NaN when undefined (sensitivity without
    reference foreground, precision without test foreground)."""

    tp: int
    fp: int
    fn: int
    tn: int

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def dice(self) -> float:
        """2 TP / (2 TP + FP + FN), in [0, 1]."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn, 1.0)

    @property
    def iou(self) -> float:
        """Jaccard index TP / (TP + FP + FN), in [0, 1]."""
        return _ratio(self.tp, self.tp + self.fp + self.fn, 1.0)

    @property
    def sensitivity(self) -> float:
        """Recall TP / (TP + FN); NaN without reference foreground."""
        return _ratio(self.tp, self.tp + self.fn, math.nan)

    @property
    def precision(self) -> float:
        """Positive predictive value TP / (TP + FP); NaN without test foreground."""
        return _ratio(self.tp, self.tp + self.fp, math.nan)

    @property
    def volume_similarity(self) -> float:
        """1 - |FN - FP| / (2 TP + FP + FN): 1 when both masks have the same volume, 0 when one is empty."""
        return 1.0 - _ratio(abs(self.fn - self.fp), 2 * self.tp + self.fp + self.fn, 0.0)

    def ratios(self) -> dict[str, float]:
        """The five ratios by name."""
        return {"dice": self.dice, "iou": self.iou, "sensitivity": self.sensitivity, "precision": self.precision,
                "volume_similarity": self.volume_similarity}


def confusion(reference: np.ndarray | Volume, test: np.ndarray | Volume) -> Confusion:
    """Voxel counts of ``test`` against ``reference`` (binary: nonzero = foreground)."""
    a, b = binary_pair(reference, test)
    tp = int(np.count_nonzero(a & b))
    n_a, n_b = int(np.count_nonzero(a)), int(np.count_nonzero(b))
    return Confusion(tp=tp, fp=n_b - tp, fn=n_a - tp, tn=a.size - n_a - n_b + tp)


def dice(reference: np.ndarray | Volume, test: np.ndarray | Volume) -> float:
    """Dice coefficient 2|A and B| / (|A| + |B|) of two binary masks (nonzero = foreground), in [0, 1].

    Two empty masks agree perfectly (1.0). Raises CerebroError when the shapes (or grids) differ.
    """
    return confusion(reference, test).dice
