"""Topology-aware comparison of vessel masks: centreline Dice (clDice) and Betti-number errors.

clDice (Shit et al., CVPR 2021): topology precision = share of the test skeleton inside the reference mask,
topology sensitivity = share of the reference skeleton inside the test mask, clDice = their harmonic mean.
Skeletons are scikit-image's 3D thinning (Lee et al.). Betti numbers of a 3D mask: b0 connected components
(26-connected foreground), b2 cavities (6-connected background pockets that do not reach the outside), and
b1 tunnels/loops from the Euler characteristic, b1 = b0 + b2 - chi."""

from __future__ import annotations

import numpy as np

from cerebro.metrics.overlap import binary_pair, cropped_pair
from cerebro.volume import Volume


def skeleton(mask: np.ndarray) -> np.ndarray:
    """One-voxel-wide 3D skeleton (boolean) of a boolean mask."""
    from skimage.morphology import skeletonize

    return skeletonize(mask).astype(bool)


def cldice(reference: np.ndarray | Volume, test: np.ndarray | Volume) -> float:
    """Centreline Dice in [0, 1]; 1.0 for two empty masks, 0.0 when exactly one is empty."""
    a, b = cropped_pair(reference, test)
    if not a.any() or not b.any():
        return 1.0 if not a.any() and not b.any() else 0.0
    skeleton_a, skeleton_b = skeleton(a), skeleton(b)
    precision = np.count_nonzero(skeleton_b & a) / max(np.count_nonzero(skeleton_b), 1)
    sensitivity = np.count_nonzero(skeleton_a & b) / max(np.count_nonzero(skeleton_a), 1)
    if precision + sensitivity == 0:
        return 0.0
    return float(2 * precision * sensitivity / (precision + sensitivity))


def betti_numbers(mask: np.ndarray | Volume) -> tuple[int, int, int]:
    """(b0, b1, b2) of a binary 3D mask: components, tunnels (loops), cavities. The volume's outside counts as
    background, so a vessel cut by the field of view stays one open tube."""
    from scipy.ndimage import generate_binary_structure, label
    from skimage.measure import euler_number

    m, _ = cropped_pair(mask, mask)
    if not m.any():
        return 0, 0, 0
    b0 = int(label(m, structure=generate_binary_structure(3, 3))[1])
    b2 = int(label(~m, structure=generate_binary_structure(3, 1))[1]) - 1  # minus the outside
    chi = int(euler_number(m, connectivity=3))
    return b0, b0 + b2 - chi, b2


def betti_errors(reference: np.ndarray | Volume, test: np.ndarray | Volume) -> dict[str, int]:
    """Absolute differences of the Betti numbers of ``test`` and ``reference`` (b0, b1, b2 errors)."""
    binary_pair(reference, test)  # same grid
    ref, tst = betti_numbers(reference), betti_numbers(test)
    return {f"b{d}_error": abs(r - t) for d, (r, t) in enumerate(zip(ref, tst))}
