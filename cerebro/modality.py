"""What a volume's modality is, in one place: the names datasets use for CTA and TOF-MRA, and the Hounsfield-unit
rules of CT (air near -1000 HU, bone above 700 HU, contrast-filled vessels in between) that the modality routing
(:mod:`cerebro.segment.routing`), the vesselness baseline's window and the CT model's evaluation share."""

from __future__ import annotations

import numpy as np

from cerebro.errors import CerebroError
from cerebro.volume import Volume

MODALITIES = ("cta", "mra")
MODALITY_CHOICES = ("auto", *MODALITIES)  # a panel's selector; auto: the dataset's, else the intensities
AIR_HU = -500.0  # at or below: air (or CT padding at -1024 / -2048)
AIR_SHARE = 0.0001  # share of voxels at or below AIR_HU that makes a volume CT
BONE_HU = 700.0  # CTA voxels above this are bone (contrast-filled vessels stay below)
_NAMES = {"cta": "cta", "ct": "cta", "ct angiography": "cta", "mra": "mra", "tof": "mra", "tof-mra": "mra",
          "tof mra": "mra", "tof_mra": "mra", "mr angiography": "mra"}


def modality_name(text: str | None) -> str | None:
    """``cta`` or ``mra`` for a modality as datasets write it (``CT``, ``CTA``, ``TOF-MRA``, ``MRA``, any case),
    None for anything else (``unknown``, ``t2w``, empty)."""
    if not text:
        return None
    name = text.strip().lower()
    if name in _NAMES:
        return _NAMES[name]
    return "mra" if "mra" in name or "tof" in name else None


def chosen_modality(choice: str) -> str | None:
    """A selector's choice (:data:`MODALITY_CHOICES`) as a modality, None for ``auto``; one-line error otherwise."""
    if choice not in MODALITY_CHOICES:
        raise CerebroError(f"unknown modality '{choice}'; use one of {', '.join(MODALITY_CHOICES)}")
    return None if choice == "auto" else choice


def air_share(volume: Volume) -> float:
    """Share of voxels at or below -500 (air in HU), read from every 4th voxel along each axis."""
    sample = np.asarray(volume.array[::4, ::4, ::4])
    return float(np.count_nonzero(sample <= AIR_HU)) / max(sample.size, 1)


def in_hounsfield_units(volume: Volume) -> bool:
    """Whether the volume is CT in Hounsfield units by the air rule: at least 0.01 % of voxels at or below -500.
    A magnitude MR image has no such values; a tight CT crop without air does not pass either."""
    return air_share(volume) >= AIR_SHARE


def modality_from_intensities(volume: Volume) -> tuple[str, str]:
    """The last-resort rule of the routing: (``cta``, why) for a volume in Hounsfield units
    (:func:`in_hounsfield_units`), else (``mra``, why)."""
    share = air_share(volume)
    if share >= AIR_SHARE:
        return "cta", f"intensities: {100 * share:.2f} % of voxels <= {AIR_HU:g} (air in Hounsfield units)"
    return "mra", (f"intensities: {100 * share:.2f} % of voxels <= {AIR_HU:g} (no air in Hounsfield units); "
                   "name the modality if this is CT")
