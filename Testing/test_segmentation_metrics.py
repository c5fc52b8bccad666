"""Segmentation metrics against shapes whose answers are known: counts and ratios, surface distances in mm,
clDice and Betti numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cerebro.errors import CerebroError
from cerebro.metrics.overlap import Confusion, confusion, dice
from cerebro.metrics.segmentation import segmentation_metrics
from cerebro.metrics.surface import hausdorff95, surface_distances, surface_metrics
from cerebro.metrics.topology import betti_numbers, cldice
from cerebro.volume import Volume


def _grid(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.meshgrid(*[np.arange(n) - (n - 1) / 2] * 3, indexing="ij")


def ball(n: int, radius: float) -> np.ndarray:
    k, j, i = _grid(n)
    return k**2 + j**2 + i**2 <= radius**2


def torus(n: int, major: float, minor: float) -> np.ndarray:
    k, j, i = _grid(n)
    return (np.hypot(j, i) - major) ** 2 + k**2 <= minor**2


def test_confusion_counts_ratios_and_pooling():
    reference = np.zeros((4, 4, 4), np.uint8)
    test = np.zeros((4, 4, 4), np.uint8)
    reference[0, :2] = 1  # 8 voxels
    test[0, 1:3] = 1  # 8 voxels, 4 shared
    counts = confusion(reference, test)
    assert counts == Confusion(tp=4, fp=4, fn=4, tn=52)
    assert counts.dice == 0.5 and counts.iou == pytest.approx(1 / 3)
    assert counts.sensitivity == 0.5 and counts.precision == 0.5 and counts.volume_similarity == 1.0
    pooled = counts + confusion(reference, reference)
    assert pooled == Confusion(12, 4, 4, 108) and pooled.dice == pytest.approx(24 / 32)
    assert dice(reference, test) == 0.5
    empty = confusion(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    assert empty.dice == empty.iou == empty.volume_similarity == 1.0
    assert math.isnan(empty.sensitivity) and math.isnan(empty.precision)
    assert confusion(reference, np.zeros_like(reference)).volume_similarity == 0.0


def test_masks_on_different_grids_are_refused():
    a = Volume(np.zeros((4, 4, 4), np.uint8), spacing=(1, 1, 1))
    b = Volume(np.zeros((4, 4, 4), np.uint8), spacing=(1, 1, 2))
    with pytest.raises(CerebroError, match="different grids.*resample"):
        dice(a, b)
    with pytest.raises(CerebroError, match="different shapes"):
        confusion(np.zeros((4, 4, 4)), np.zeros((4, 4, 5)))


def test_hd95_of_concentric_balls_is_the_radius_difference_in_mm():
    inner, outer = ball(48, 12), ball(48, 16)
    assert hausdorff95(inner, outer) == pytest.approx(4.0, abs=1.0)
    assert hausdorff95(inner, inner) == 0.0
    volume = Volume(inner.astype(np.uint8), spacing=(0.5, 0.5, 0.5))
    assert hausdorff95(volume, Volume(outer.astype(np.uint8), spacing=(0.5, 0.5, 0.5))) == pytest.approx(2.0, abs=0.5)
    metrics = surface_metrics(inner, np.zeros_like(inner))
    assert metrics == {"hd95_mm": math.inf, "assd_mm": math.inf}
    assert surface_metrics(np.zeros((3, 3, 3)), np.zeros((3, 3, 3))) == {"hd95_mm": 0.0, "assd_mm": 0.0}


def test_surface_distances_follow_the_spacing_of_each_axis():
    """A slab shifted by 3 voxels along i: 3 mm at 1 mm voxels, 6 mm when i's voxels are 2 mm (x = i)."""
    a = np.zeros((20, 20, 20), bool)
    a[5:15, 5:15, 5:10] = True
    b = np.roll(a, 3, axis=2)
    a_to_b, _ = surface_distances(a, b, spacing=(2.0, 1.0, 1.0))
    assert a_to_b.max() == pytest.approx(6.0)
    assert hausdorff95(a, b, spacing=(1.0, 1.0, 1.0)) == pytest.approx(3.0)
    assert hausdorff95(a, b, spacing=(1.0, 1.0, 4.0)) == pytest.approx(3.0)  # z spacing does not matter here


def test_betti_numbers_of_known_shapes():
    assert betti_numbers(ball(21, 7)) == (1, 0, 0)
    assert betti_numbers(torus(40, 12, 4)) == (1, 1, 0)
    assert betti_numbers(ball(21, 8) & ~ball(21, 5)) == (1, 0, 1)
    two = np.zeros((21, 21, 40), bool)
    two[:, :, :20] = ball(21, 7)[:, :, :20]
    two[:, :, 21:] = ball(21, 7)[:, :, :19]
    assert betti_numbers(two)[0] == 2
    assert betti_numbers(np.zeros((5, 5, 5))) == (0, 0, 0)
    tube = np.zeros((30, 9, 9), bool)
    tube[:, 3:6, 3:6] = True  # cut by the field of view at both ends: still one simple tube
    assert betti_numbers(tube) == (1, 0, 0)


def test_cldice_sees_a_broken_vessel_that_dice_hardly_does():
    tube = np.zeros((60, 11, 11), bool)
    tube[5:55, 3:8, 3:8] = True
    broken = tube.copy()
    broken[29:31] = False  # a 2-voxel gap: 4 % of the voxels
    assert cldice(tube, tube) == 1.0
    assert dice(tube, broken) > 0.95
    metrics = segmentation_metrics(tube, broken)
    assert metrics["b0_error"] == 1 and metrics["b1_error"] == 0
    assert metrics["cldice"] < 1.0 and metrics["hd95_mm"] <= 2.0
    assert cldice(tube, np.zeros_like(tube)) == 0.0 and cldice(np.zeros((3, 3, 3)), np.zeros((3, 3, 3))) == 1.0
    assert set(metrics) == {"dice", "iou", "sensitivity", "precision", "volume_similarity", "tp", "fp", "fn", "tn",
                            "hd95_mm", "assd_mm", "cldice", "b0_error", "b1_error", "b2_error"}
