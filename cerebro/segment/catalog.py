"""The model catalog: one JSON file listing every segmentation model CerebroBench can run.

Each entry names the model family (which code builds the network), where its weights live on the
Hugging Face Hub (repo, file, pinned revision, sha256), the modality it was trained on, its licence,
the expected input (spacing, orientation, intensity normalisation), its labels and family options.
A user catalog (same format) given by the environment variable ``CEREBRO_CATALOG`` adds or overrides
entries, e.g. for locally trained weights.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cerebro.errors import CerebroError

FAMILIES_PACKAGE = "cerebro.segment.families"  # a family is a module of this package that registers its loader
USER_CATALOG_ENV = "CEREBRO_CATALOG"
DEFAULT_MODEL_ID = "cerebro-default"  # shipped with the package: segmentation works offline out of the box


@dataclass(frozen=True)
class ModelEntry:
    """One catalog entry (see module doc). ``labels`` maps label value -> name (None: read from the model).

    ``local``: a model folder shipped inside the ``cerebro`` package (path relative to ``cerebro/``), used
    instead of a download; its ``sha256`` is the folder digest of :mod:`cerebro.segment.weights.digest`.
    ``routes``: modality -> model id, for an entry that picks a model per modality
    (:mod:`cerebro.segment.routing`); such an entry has no family and no weights of its own.
    """

    id: str
    family: str = ""
    description: str = ""
    repo: str | None = None
    file: str | None = None
    revision: str | None = None
    sha256: str | None = None
    pinned: bool = False
    archive: str | None = None
    modality: str = "any"
    license: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    labels: dict[int, str] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    local: str | None = None
    routes: dict[str, str] | None = None

    @property
    def needs_weights(self) -> bool:
        """True when the family needs a weights file or folder (every family but the classical baseline)."""
        return self.file is not None or self.local is not None

    def as_dict(self) -> dict[str, Any]:
        """The entry as JSON-able data (labels keyed by strings, as in the file)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        if self.labels is not None:
            data["labels"] = {str(k): v for k, v in self.labels.items()}
        return data


def family_names() -> tuple[str, ...]:
    """Every family a catalog entry may name: the modules of ``cerebro/segment/families/`` (adding a family is
    adding one there; it registers its loader with :func:`cerebro.segment.registry.register_family`)."""
    import pkgutil

    from cerebro.segment import families

    return tuple(sorted(module.name for module in pkgutil.iter_modules(families.__path__)))


def entry_from_dict(data: dict[str, Any], source: str = "catalog") -> ModelEntry:
    """Validate one JSON entry and build a ModelEntry; raises CerebroError naming the bad field."""
    if not isinstance(data, dict) or "id" not in data or ("family" not in data and not data.get("routes")):
        raise CerebroError(f"{source}: every model entry needs an 'id' and a 'family' (or 'routes'); fix the "
                           "catalog file")
    unknown = set(data) - set(ModelEntry.__dataclass_fields__)
    if unknown:
        raise CerebroError(f"{source}: model '{data['id']}' has unknown fields {sorted(unknown)}; remove them")
    if data.get("routes") is not None:
        routes = data["routes"]
        if not isinstance(routes, dict) or not routes or not all(isinstance(v, str) for v in routes.values()) \
                or data.get("family") or data.get("file") or data.get("local"):
            raise CerebroError(f"{source}: model '{data['id']}': 'routes' maps modalities to model ids, and a "
                               "routing entry has no family or weights of its own; fix the catalog file")
        return ModelEntry(**data)
    if data["family"] not in family_names():
        raise CerebroError(
            f"{source}: model '{data['id']}' has unknown family '{data['family']}'; "
            f"use one of {', '.join(family_names())}"
        )
    sha = data.get("sha256")
    if sha is not None and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        raise CerebroError(f"{source}: model '{data['id']}' sha256 must be 64 lower-case hex digits")
    if data.get("pinned") and data.get("file") and data.get("repo") and not (sha and data.get("revision")):
        raise CerebroError(f"{source}: model '{data['id']}' is marked pinned but lacks a revision or sha256")
    labels = data.get("labels")
    fields = dict(data)
    if labels is not None:
        fields["labels"] = {int(k): str(v) for k, v in labels.items()}
    return ModelEntry(**fields)


def _read_catalog_file(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        text = resources.files("cerebro.segment").joinpath("catalog.json").read_text(encoding="utf-8")
        source = "built-in catalog"
    else:
        if not path.is_file():
            raise CerebroError(f"model catalog not found: {path}; check {USER_CATALOG_ENV} or the path given")
        text = path.read_text(encoding="utf-8")
        source = str(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CerebroError(f"{source} is not valid JSON ({exc}); fix the file") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise CerebroError(f"{source} has no 'models' list; see cerebro/segment/catalog.json for the format")
    return [dict(m, _source=source) for m in models]


def load_catalog(extra: str | os.PathLike[str] | None = None) -> dict[str, ModelEntry]:
    """All catalog entries by id: the built-in catalog, then ``$CEREBRO_CATALOG``, then ``extra`` (later wins)."""
    paths: list[Path | None] = [None]
    if os.environ.get(USER_CATALOG_ENV):
        paths.append(Path(os.environ[USER_CATALOG_ENV]))
    if extra is not None:
        paths.append(Path(extra))
    entries: dict[str, ModelEntry] = {}
    for path in paths:
        for raw in _read_catalog_file(path):
            source = raw.pop("_source")
            entry = entry_from_dict(raw, source)
            entries[entry.id] = entry
    for entry in entries.values():
        for modality, target in (entry.routes or {}).items():
            if target not in entries or entries[target].routes:
                raise CerebroError(f"model catalog: '{entry.id}' routes {modality} to '{target}', which is not a "
                                   "model of the catalog; fix the catalog file")
    return entries


def get_model_entry(model_id: str, catalog: dict[str, ModelEntry] | None = None) -> ModelEntry:
    """The entry for ``model_id``; raises CerebroError listing the known ids when it is unknown."""
    catalog = load_catalog() if catalog is None else catalog
    if model_id not in catalog:
        raise CerebroError(f"unknown model '{model_id}'; known models: {', '.join(sorted(catalog))} "
                           "(see `cerebro models list`)")
    return catalog[model_id]
