"""Image/label agreement checks: the same grid (shape, spacing, origin, direction) within a tolerance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from cerebro.datasets.manifest import Case
from cerebro.errors import CerebroError
from cerebro.io import read_volume
from cerebro.volume import Volume, same_geometry

GEOMETRY_TOLERANCE_MM = 1e-3


def read_geometry(path: Path) -> Volume:
    """The grid of an image file from its header only (a Volume whose array is a zero-memory placeholder);
    DICOM series folders are read in full."""
    if Path(path).is_dir():
        volume = read_volume(path)
        return Volume(np.broadcast_to(np.zeros((), np.uint8), volume.shape), volume.spacing, volume.origin,
                      volume.direction)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        raise CerebroError(f"cannot read the header of {path}; check that it is a valid image file") from None
    size = reader.GetSize()
    if len(size) != 3:
        raise CerebroError(f"{path} is {len(size)}D; a 3D volume is needed")
    return Volume(np.broadcast_to(np.zeros((), np.uint8), size[::-1]), reader.GetSpacing(), reader.GetOrigin(),
                  np.asarray(reader.GetDirection()).reshape(3, 3))


def geometry_problem(case: Case, tolerance_mm: float = GEOMETRY_TOLERANCE_MM) -> str | None:
    """None when the case's label lies on its image's grid, else a one-line description naming the case."""
    if case.label_path is None:
        return None
    for what, path in (("image", case.image_path), ("label", case.label_path)):
        if not Path(path).exists():
            return f"case {case.case_id}: {what} file {path} is missing; restore it or drop the case"
    image, label = read_geometry(case.image_path), read_geometry(case.label_path)
    difference = same_geometry(label, image, atol_mm=tolerance_mm)
    if difference is None:
        return None
    left, vs, right = difference.partition(" vs ")
    what = f"label {left} vs image {right}" if vs else f"label and image {difference}"
    return f"case {case.case_id}: {what}; resample the label onto the image grid"


def check_cases(cases: list[Case], tolerance_mm: float = GEOMETRY_TOLERANCE_MM) -> None:
    """Raise one CerebroError naming the first case whose label and image grids differ (and how many more do)."""
    problems = [p for p in (geometry_problem(c, tolerance_mm) for c in cases) if p is not None]
    if problems:
        more = f" ({len(problems) - 1} more cases fail the same check)" if len(problems) > 1 else ""
        raise CerebroError(problems[0] + more)
