"""Overlay grids as the PVS pipeline makes them: one row per compression level, axial / coronal / sagittal columns;
the image in grey with the truth and the prediction in colour (yellow where both agree, green where only the truth
has vessel, magenta where only the prediction has). Thin vessels are shown as slab maximum-intensity projections
through the slab with the most vessel voxels of the truth."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cerebro.benchmark.plot import pyplot

BOTH, TRUTH_ONLY, PREDICTION_ONLY = (1.0, 0.85, 0.0), (0.0, 0.8, 0.0), (1.0, 0.0, 1.0)
VIEWS = ("axial", "coronal", "sagittal")  # projected over k, j, i of an array indexed [k, j, i]


def _slab(truth: np.ndarray, axis: int) -> slice:
    """The slab along ``axis`` centred on the slice with the most truth voxels (thickness ~1/10 of the axis)."""
    counts = truth.sum(axis=tuple(a for a in range(3) if a != axis))
    centre = int(np.argmax(counts)) if counts.any() else truth.shape[axis] // 2
    half = max(2, truth.shape[axis] // 20)
    return slice(max(0, centre - half), min(truth.shape[axis], centre + half + 1))


def _project(array: np.ndarray, axis: int, slab: slice) -> np.ndarray:
    """Maximum over ``slab`` along ``axis``; coronal and sagittal views put the head (k) up."""
    index = [slice(None)] * 3
    index[axis] = slab
    view = array[tuple(index)].max(axis=axis)
    return view if axis == 0 else view[::-1]


def _aspect(spacing: Sequence[float], axis: int) -> float:
    """Height / width of a pixel in the view along ``axis`` (``spacing`` is (si, sj, sk) in mm)."""
    si, sj, sk = spacing
    return {0: sj / si, 1: sk / si, 2: sk / sj}[axis]


def _colour(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """RGBA overlay of the agreement of two 2D masks (transparent where neither has vessel)."""
    rgba = np.zeros((*truth.shape, 4), dtype=np.float32)
    for mask, colour in (((truth & prediction), BOTH), ((truth & ~prediction), TRUTH_ONLY),
                         ((~truth & prediction), PREDICTION_ONLY)):
        rgba[mask] = (*colour, 0.85)
    return rgba


def overlay_grid(image: np.ndarray, spacing: Sequence[float], truth: np.ndarray,
                 rows: Sequence[tuple[str, np.ndarray]], title: str) -> object:
    """A matplotlib Figure: one row per (label, predicted mask) of ``rows``, the three views in columns, the image
    (array [k, j, i]) under the truth/prediction overlay; each row's label on its left."""
    plt = pyplot()
    truth = np.asarray(truth) > 0
    low, high = np.percentile(image, (0.5, 99.8))
    height = 2.5 * len(rows) + 0.7
    figure, axes = plt.subplots(len(rows), 3, figsize=(7.2, height), squeeze=False)
    for column, name in enumerate(VIEWS):
        slab = _slab(truth, column)
        picture = _project(image, column, slab)
        truth_view = _project(truth, column, slab)
        for row, (label, mask) in enumerate(rows):
            ax = axes[row, column]
            ax.imshow(picture, cmap="gray", vmin=low, vmax=high, aspect=_aspect(spacing, column),
                      interpolation="nearest")
            ax.imshow(_colour(truth_view, _project(np.asarray(mask) > 0, column, slab)),
                      aspect=_aspect(spacing, column), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{name} (slab {slab.start}-{slab.stop - 1})", fontsize=8)
            if column == 0:
                ax.set_ylabel(label, fontsize=7)
    figure.suptitle(title + "\nyellow: truth and prediction, green: truth only (missed), "
                    "magenta: prediction only (false positive)", fontsize=8)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.6 / height))  # room for the two title lines
    return figure
