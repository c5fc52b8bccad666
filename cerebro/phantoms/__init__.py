"""Synthetic cerebrovascular phantoms (CTA / TOF-MRA) with exact vessel masks, partial-volume fractions and
centrelines; see :func:`generate_phantom` and :func:`write_phantom_dataset`."""

from cerebro.phantoms.phantom import DEFAULT_SPACING, Phantom, generate_phantom
from cerebro.phantoms.write import write_phantom_case, write_phantom_dataset

__all__ = ["DEFAULT_SPACING", "Phantom", "generate_phantom", "write_phantom_case", "write_phantom_dataset"]
