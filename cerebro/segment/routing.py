"""Modality routing: a catalog entry with ``routes`` (``cerebro-default``) names no network of its own but one model
per modality (``cta`` -> ``cerebro-default-cta``, ``mra`` -> ``cerebro-default-mra``); the volume's modality picks
one. Where the modality comes from, first found wins:

1. an explicit choice (``--modality cta|mra``, the panel's selector);
2. the dataset: the manifest's modality (RSNA's ``train.csv``, an nnU-Net ``dataset.json`` channel name such as
   ``CT``, the phantom's modality, ``--modality`` of ``cerebro dataset manifest``);
3. last resort, the intensities (:func:`cerebro.modality.modality_from_intensities`): CT is stored in Hounsfield
   units, where air is near -1000; a volume with at least 0.01 % of its voxels at or below -500 is CT, any other
   is taken for TOF-MRA. A tight CTA crop without air (no voxel below -500) is therefore routed to the MRA model:
   name the modality for such data.

The chosen model and the reason are printed by ``cerebro segment`` and recorded in every benchmark record.
"""

from __future__ import annotations

from dataclasses import dataclass

from cerebro.errors import CerebroError
from cerebro.modality import MODALITIES, modality_from_intensities, modality_name
from cerebro.segment.catalog import ModelEntry, get_model_entry
from cerebro.volume import Volume


def volume_modality(volume: Volume | None, declared: str | None = None, dataset: str | None = None
                    ) -> tuple[str | None, str]:
    """(modality, why) of a volume: ``declared`` (explicit) first, then the ``dataset``'s, then the intensities;
    (None, "") when nothing is known (no volume and no usable names)."""
    explicit = modality_name(declared)
    if declared and explicit is None:
        raise CerebroError(f"unknown modality '{declared}'; choose one of: {', '.join(MODALITIES)}")
    if explicit is not None:
        return explicit, f"--modality {explicit}"
    from_dataset = modality_name(dataset)
    if from_dataset is not None:
        return from_dataset, f"dataset: modality '{dataset}'"
    if volume is not None:
        return modality_from_intensities(volume)
    return None, ""


@dataclass(frozen=True)
class Route:
    """Which model runs for a requested catalog id: ``model_id`` (the requested one when it does not route),
    the ``modality`` it was picked for and ``reason``."""

    requested: str
    model_id: str
    modality: str | None = None
    reason: str = ""

    @property
    def routed(self) -> bool:
        """Whether another model than the requested one runs."""
        return self.model_id != self.requested

    def describe(self) -> str:
        """One line for people: ``cerebro-default-cta (cerebro-default for cta: --modality cta)``."""
        if not self.routed:
            return self.model_id
        return f"{self.model_id} ({self.requested} for {self.modality}: {self.reason})"


def route_model(model_id: str, modality: str | None, reason: str = "",
                catalog: dict[str, ModelEntry] | None = None) -> Route:
    """The model that runs for ``model_id`` on a volume of ``modality`` (see :func:`volume_modality`); an entry that
    does not route runs itself, whatever the modality (no reason given)."""
    entry = get_model_entry(model_id, catalog)
    if not entry.routes:
        return Route(model_id, model_id)
    if modality is None:
        raise CerebroError(f"model '{model_id}' picks a model per modality ({_routes_text(entry)}); give the "
                           "modality (--modality cta|mra) or a volume")
    if modality not in entry.routes:
        raise CerebroError(f"model '{model_id}' has no model for modality '{modality}' ({_routes_text(entry)}); "
                           "choose a model with --model")
    return Route(model_id, entry.routes[modality], modality, reason)


def _routes_text(entry: ModelEntry) -> str:
    return ", ".join(f"{m}: {target}" for m, target in sorted((entry.routes or {}).items()))
