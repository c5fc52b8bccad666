"""The one image type of the library: a 3D voxel array with its physical geometry.

Conventions (the same as SimpleITK and ITK, i.e. LPS):
- ``array`` is indexed ``[k, j, i]`` (slice, row, column), the order of ``sitk.GetArrayFromImage``
  and of Slicer's ``arrayFromVolume``; its shape is ``(nz, ny, nx)``.
- ``spacing`` is ``(si, sj, sk)`` in mm, ``origin`` the LPS position (mm) of voxel (0, 0, 0), and
  ``direction`` a 3x3 matrix whose column ``c`` is the LPS unit vector of index axis ``c`` (i, j, k).
  The LPS position of index (i, j, k) is ``origin + direction @ (spacing * (i, j, k))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from cerebro.errors import CerebroError

SUPPORTED_DTYPES = tuple(
    np.dtype(t) for t in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64")
)


@dataclass(eq=False)
class Volume:
    """A 3D scalar volume: ``array`` (nz, ny, nx) plus spacing/origin/direction in LPS (see module doc)."""

    array: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        array = np.asarray(self.array)
        if array.ndim != 3:
            raise CerebroError(
                f"expected a 3D scalar volume, got an array of shape {array.shape}; "
                "give a single-channel 3D image"
            )
        if array.dtype not in SUPPORTED_DTYPES:
            names = ", ".join(d.name for d in SUPPORTED_DTYPES)
            raise CerebroError(f"unsupported voxel type {array.dtype}; convert the image to one of: {names}")
        self.array = array
        self.spacing = _vector3("spacing", self.spacing)
        self.origin = _vector3("origin", self.origin)
        if any(s <= 0 for s in self.spacing):
            raise CerebroError(f"spacing must be positive, got {self.spacing}; fix the image header")
        direction = np.asarray(self.direction, dtype=np.float64).reshape(3, 3)
        if not np.all(np.isfinite(direction)) or abs(abs(np.linalg.det(direction)) - 1.0) > 1e-3:
            raise CerebroError("the direction matrix is not a rotation (|det| != 1); fix the image header")
        self.direction = direction

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (nz, ny, nx)."""
        return tuple(int(n) for n in self.array.shape)  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        """Voxel data type."""
        return self.array.dtype

    @property
    def nbytes(self) -> int:
        """Size of the voxel data in its native dtype, in bytes (the base of every compression ratio)."""
        return int(self.array.nbytes)

    def with_array(self, array: np.ndarray) -> Volume:
        """A new Volume with the same geometry and metadata and another array of the same shape."""
        if tuple(array.shape) != self.shape:
            raise CerebroError(f"array shape {array.shape} does not match the volume's {self.shape}")
        return replace(self, array=array, metadata=dict(self.metadata))

    def geometry(self) -> dict[str, Any]:
        """Geometry as plain JSON-serialisable lists (spacing, origin, direction row-major, shape)."""
        return {
            "shape": list(self.shape),
            "spacing": list(self.spacing),
            "origin": list(self.origin),
            "direction": [float(v) for v in self.direction.ravel()],
        }

    def index_to_lps(self) -> np.ndarray:
        """4x4 matrix mapping homogeneous (i, j, k, 1) indices to LPS millimetres."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.direction @ np.diag(self.spacing)
        matrix[:3, 3] = self.origin
        return matrix

    def require_finite(self) -> None:
        """Raise CerebroError if a float volume holds NaN or Inf voxels."""
        if self.array.dtype.kind == "f" and not np.isfinite(self.array).all():
            bad = int(np.count_nonzero(~np.isfinite(self.array)))
            raise CerebroError(
                f"the volume has {bad} NaN/Inf voxels; replace them (e.g. with the background value) first"
            )


def same_geometry(a: Volume, b: Volume, atol_mm: float = 1e-3, atol_direction: float = 1e-4) -> str | None:
    """Compare two volumes' grids; return None when they match, else a one-line description of the mismatch."""
    if a.shape != b.shape:
        return f"shape {a.shape} vs {b.shape}"
    if not np.allclose(a.spacing, b.spacing, atol=atol_mm):
        return f"spacing {_fmt(a.spacing)} vs {_fmt(b.spacing)} mm"
    if not np.allclose(a.origin, b.origin, atol=atol_mm):
        return f"origin {_fmt(a.origin)} vs {_fmt(b.origin)} mm"
    if not np.allclose(a.direction, b.direction, atol=atol_direction):
        return "direction matrices differ"
    return None


def _vector3(name: str, values: Any) -> tuple[float, float, float]:
    vector = tuple(float(v) for v in np.asarray(values, dtype=np.float64).ravel())
    if len(vector) != 3 or not all(np.isfinite(vector)):
        raise CerebroError(f"{name} must be three finite numbers, got {values!r}")
    return vector  # type: ignore[return-value]


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"
