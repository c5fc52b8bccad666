"""Read a case's label: a binary vessel mask (any non-zero label) or the dataset's own multi-class labels."""

from __future__ import annotations

import numpy as np

from cerebro.datasets.manifest import Case
from cerebro.errors import CerebroError
from cerebro.io import read_volume
from cerebro.volume import Volume


def load_label(case: Case, binary: bool = True) -> Volume:
    """The label of ``case``: uint8 with 1 = vessel (every non-zero class) when ``binary``, else as stored
    (e.g. TopCoW per-artery labels, named in ``case.extra['label_names']``)."""
    if case.label_path is None:
        raise CerebroError(f"case {case.case_id} has no label; use a labelled case (e.g. from imagesTr)")
    label = read_volume(case.label_path)
    if label.dtype.kind == "f" and not np.array_equal(label.array, np.round(label.array)):
        raise CerebroError(f"case {case.case_id}: label {case.label_path.name} holds non-integer values; "
                           "give a label map (integers), not a probability map")
    if not binary:
        return label
    return label.with_array((label.array > 0).astype(np.uint8))
