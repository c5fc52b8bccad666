"""Shared fixtures: small volumes with awkward geometry (non-identity direction, anisotropic spacing)."""

from __future__ import annotations

import numpy as np
import pytest

from cerebro.volume import Volume


def oblique_direction() -> np.ndarray:
    """A proper rotation that is not axis-aligned (about 20 and 10 degrees)."""
    a, b = np.deg2rad(20.0), np.deg2rad(10.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx


@pytest.fixture
def ct_volume() -> Volume:
    """A 24x28x32 int16 volume in the CT range (-1024..3071 HU) with oblique, anisotropic geometry."""
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[0:24, 0:28, 0:32]
    smooth = 400 * np.sin(x / 5.0) * np.cos(y / 7.0) + 300 * np.sin(z / 4.0)
    array = np.clip(smooth + rng.normal(0, 30, smooth.shape), -1024, 3071).astype(np.int16)
    array[0, 0, 0], array[-1, -1, -1] = -1024, 3071
    return Volume(array, spacing=(0.45, 0.5, 0.6), origin=(-12.5, 30.25, -7.0), direction=oblique_direction())
