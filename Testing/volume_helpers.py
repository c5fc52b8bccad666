"""Geometry helpers shared by the tests."""

from __future__ import annotations

import numpy as np


def oblique_direction() -> np.ndarray:
    """A proper rotation that is not axis-aligned (about 20 and 10 degrees)."""
    a, b = np.deg2rad(20.0), np.deg2rad(10.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx
