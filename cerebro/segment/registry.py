"""Segmentation model families and the one interface every loaded model has.

A family (nnU-Net results folders, MambaVesselNet++, UNet++, SPOCKMIP, the vesselness baseline) is a module of
``cerebro/segment/families/`` named like the family, which registers its loader with :func:`register_family` when
imported, as codecs do with ``register``. The modules are imported on first use only (they pull in PyTorch / MONAI).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from cerebro.errors import CerebroError
from cerebro.progress import Progress
from cerebro.segment.catalog import FAMILIES_PACKAGE, ModelEntry, family_names
from cerebro.segment.result import SegmentationResult
from cerebro.volume import Volume


@runtime_checkable
class SegmentationModel(Protocol):
    """A loaded model of any family.

    ``device``: where it runs (a torch device; "cpu" for the classical baseline); ``labels``: label value -> name
    of its masks; ``input_recipe``: what it expects of an image (spacing, orientation, normalisation, as in the
    catalog or the nnU-Net plans); ``predict``: a mask (uint8) and, when asked, the foreground probability, both
    on the input's grid, computed in ``precision`` (:data:`cerebro.segment.device.PRECISIONS`)."""

    @property
    def device(self) -> Any: ...

    @property
    def labels(self) -> dict[int, str]: ...

    @property
    def input_recipe(self) -> dict[str, Any]: ...

    def predict(self, volume: Volume, tta: bool = True, progress: Progress | None = None,
                return_probabilities: bool = False, precision: str = "auto") -> SegmentationResult: ...


# (entry, weights file or folder or None, torch device, allow_pickle) -> model
FamilyLoader = Callable[[ModelEntry, "Path | None", Any, bool], SegmentationModel]
Loader = TypeVar("Loader", bound=Callable[..., SegmentationModel])
_LOADERS: dict[str, FamilyLoader] = {}


def register_family(name: str) -> Callable[[Loader], Loader]:
    """Decorator: ``loader(entry, weights, device, allow_pickle)`` builds models of family ``name``."""
    if name not in family_names():
        raise ValueError(f"family {name!r} is no module of {FAMILIES_PACKAGE}; name the family like its module")

    def add(loader: Loader) -> Loader:
        _LOADERS[name] = loader
        return loader

    return add


def build_model(entry: ModelEntry, weights: Path | None, device: Any, allow_pickle: bool = False
                ) -> SegmentationModel:
    """A model of ``entry``'s family with ``weights`` (a file, or the extracted folder for nnU-Net).

    For the network families ``weights=None`` gives randomly initialised weights (timing only)."""
    if entry.family not in family_names():
        raise CerebroError(f"model '{entry.id}' has unknown family '{entry.family}'; fix the catalog")
    if entry.family not in _LOADERS:
        importlib.import_module(f"{FAMILIES_PACKAGE}.{entry.family}")
    return _LOADERS[entry.family](entry, weights, device, allow_pickle)
