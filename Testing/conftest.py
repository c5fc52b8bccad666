"""Shared fixtures: small volumes with awkward geometry (non-identity direction, anisotropic spacing)."""

from __future__ import annotations

import numpy as np
import pytest
from volume_helpers import oblique_direction

from cerebro.volume import Volume


@pytest.fixture
def ct_volume() -> Volume:
    """A 24x28x32 int16 volume in the CT range (-1024..3071 HU) with oblique, anisotropic geometry."""
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[0:24, 0:28, 0:32]
    smooth = 400 * np.sin(x / 5.0) * np.cos(y / 7.0) + 300 * np.sin(z / 4.0)
    array = np.clip(smooth + rng.normal(0, 30, smooth.shape), -1024, 3071).astype(np.int16)
    array[0, 0, 0], array[-1, -1, -1] = -1024, 3071
    return Volume(array, spacing=(0.45, 0.5, 0.6), origin=(-12.5, 30.25, -7.0), direction=oblique_direction())


@pytest.fixture
def scene():
    """A fresh MRML scene from the slicer-core wheel, also set as ``slicer.mrmlScene`` (as inside Slicer)."""
    slicer = pytest.importorskip("slicer")
    scene = slicer.vtkMRMLScene()
    slicer.mrmlScene = scene
    yield scene
    scene.Clear(1)
