"""Synthetic cerebrovascular phantoms (CTA / TOF-MRA) with exact vessel masks, partial-volume fractions and
centrelines; see :func:`generate_phantom`."""

from cerebro.phantoms.phantom import DEFAULT_SPACING, Phantom, generate_phantom

__all__ = ["DEFAULT_SPACING", "Phantom", "generate_phantom"]
