"""Public vessel datasets on disk -> a manifest of (case id, image, label, modality) the benchmark consumes."""

from cerebro.datasets.checks import check_cases, geometry_problem
from cerebro.datasets.labels import load_label
from cerebro.datasets.loaders import (
    LAYOUTS,
    load_bids_pvs,
    load_nnunet_raw,
    load_paired_folders,
    load_rsna,
    load_topcow,
)
from cerebro.datasets.manifest import Case, Manifest

__all__ = [
    "LAYOUTS", "Case", "Manifest", "check_cases", "geometry_problem", "load_bids_pvs", "load_label",
    "load_nnunet_raw", "load_paired_folders", "load_rsna", "load_topcow",
]
