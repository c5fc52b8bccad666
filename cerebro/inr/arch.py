"""Network architecture descriptions and their sizes, without importing torch (used for rate control and listing).

An architecture is a JSON-able dict: ``{"kind": "siren", "width", "depth"}`` or ``{"kind": "hashgrid",
"levels", "features", "table_size", "max_resolution", "width", "depth"}`` (see :mod:`cerebro.inr.model`).
"""

from __future__ import annotations

import math
from typing import Any

BASE_RESOLUTION = 4
QUANT_BITS = (16, 8, 7, 6, 5, 4, 3, 2)


def max_levels(bits: int) -> int:
    """Largest integer code magnitude for ``bits`` per weight (0 stands for float16, i.e. no integer codes)."""
    return 0 if bits == 16 else 2 ** (bits - 1) - 1


def level_resolutions(levels: int, max_resolution: int) -> list[int]:
    """Hash-grid resolution of each level, geometric from BASE_RESOLUTION to ``max_resolution``."""
    top = max(int(max_resolution), BASE_RESOLUTION)
    if levels == 1:
        return [top]
    growth = math.exp((math.log(top) - math.log(BASE_RESOLUTION)) / (levels - 1))
    return [int(round(BASE_RESOLUTION * growth**level)) for level in range(levels)]


def level_sizes(levels: int, table_size: int, max_resolution: int) -> list[int]:
    """Feature vectors stored per hash-grid level: the dense vertex count ``(r+1)^3`` or ``table_size``."""
    return [min(int(table_size), (r + 1) ** 3) for r in level_resolutions(levels, max_resolution)]


def parameter_count(arch: dict[str, Any]) -> int:
    """Number of trainable scalars of the network ``arch`` describes."""
    width, depth = int(arch["width"]), int(arch["depth"])
    if arch["kind"] == "siren":
        return (3 * width + width) + (depth - 1) * (width * width + width) + (width + 1)
    in_features = int(arch["levels"]) * int(arch["features"])
    mlp = 0
    for _ in range(depth):
        mlp += in_features * width + width
        in_features = width
    mlp += in_features + 1
    grid = sum(level_sizes(int(arch["levels"]), int(arch["table_size"]), int(arch["max_resolution"])))
    return grid * int(arch["features"]) + mlp


def tensor_count(arch: dict[str, Any]) -> int:
    """Number of parameter tensors (each gets one quantisation scale)."""
    if arch["kind"] == "siren":
        return 2 * int(arch["depth"]) + 2
    return int(arch["levels"]) + 2 * int(arch["depth"]) + 2
