"""Coordinate networks: SIREN (sine activations, Sitzmann et al. 2020 init) and a hash-grid ReLU MLP.

Both map normalised coordinates (N, 3) in [-1, 1] (order z, y, x) to one normalised intensity (N, 1).
An architecture is a small JSON-able dict (see :func:`build_network`), so a decoder can rebuild the
exact network whose quantised weights it reads.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from cerebro.errors import CerebroError
from cerebro.inr.encodings import HashGridEncoding

FIRST_OMEGA_0 = 30.0
HIDDEN_OMEGA_0 = 30.0


class SineLayer(nn.Module):
    """``sin(omega_0 * (W x + b))`` with the SIREN initialisation of W.

    The first layer draws W from U(-1/in, 1/in); later layers from U(-sqrt(6/in)/omega_0, sqrt(6/in)/omega_0),
    which keeps activations arcsine-distributed through depth (Sitzmann et al. 2020, Sec. 3.2).
    """

    def __init__(self, in_features: int, out_features: int, omega_0: float, is_first: bool,
                 generator: torch.Generator) -> None:
        super().__init__()
        self.omega_0 = omega_0
        self.linear = nn.Linear(in_features, out_features)
        bound = 1.0 / in_features if is_first else math.sqrt(6.0 / in_features) / omega_0
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound, generator=generator)
            bias_bound = 1.0 / math.sqrt(in_features)
            self.linear.bias.uniform_(-bias_bound, bias_bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega_0 * self.linear(x))


class Siren(nn.Module):
    """SIREN: ``depth`` sine layers of ``width`` units (first omega_0 = 30) and a linear output layer."""

    def __init__(self, width: int, depth: int, generator: torch.Generator) -> None:
        super().__init__()
        layers: list[nn.Module] = [SineLayer(3, width, FIRST_OMEGA_0, True, generator)]
        layers += [SineLayer(width, width, HIDDEN_OMEGA_0, False, generator) for _ in range(depth - 1)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)
        bound = math.sqrt(6.0 / width) / HIDDEN_OMEGA_0
        with torch.no_grad():
            self.head.weight.uniform_(-bound, bound, generator=generator)
            self.head.bias.zero_()

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(coords))


class HashGridMLP(nn.Module):
    """Multi-resolution hash-grid encoding followed by a small ReLU MLP (Instant-NGP style, pure PyTorch)."""

    def __init__(self, levels: int, features: int, table_size: int, max_resolution: int, width: int,
                 depth: int, generator: torch.Generator) -> None:
        super().__init__()
        self.encoding = HashGridEncoding(levels, features, table_size, max_resolution, generator)
        layers: list[nn.Module] = []
        in_features = levels * features
        for _ in range(depth):
            layers += [_kaiming_linear(in_features, width, generator), nn.ReLU()]
            in_features = width
        layers.append(_kaiming_linear(in_features, 1, generator))
        self.mlp = nn.Sequential(*layers)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.encoding(coords))


def _kaiming_linear(in_features: int, out_features: int, generator: torch.Generator) -> nn.Linear:
    """A Linear layer with He-uniform weights and zero bias, drawn from ``generator``."""
    layer = nn.Linear(in_features, out_features)
    bound = math.sqrt(6.0 / in_features)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.zero_()
    return layer


def build_network(arch: dict[str, Any], seed: int) -> nn.Module:
    """Build the network described by ``arch`` on the CPU, initialised deterministically from ``seed``.

    ``arch`` is ``{"kind": "siren", "width", "depth"}`` or ``{"kind": "hashgrid", "levels", "features",
    "table_size", "max_resolution", "width", "depth"}``.
    """
    generator = torch.Generator().manual_seed(int(seed))
    kind = arch.get("kind")
    if kind == "siren":
        return Siren(int(arch["width"]), int(arch["depth"]), generator)
    if kind == "hashgrid":
        return HashGridMLP(int(arch["levels"]), int(arch["features"]), int(arch["table_size"]),
                           int(arch["max_resolution"]), int(arch["width"]), int(arch["depth"]), generator)
    raise CerebroError(f"unknown network kind {kind!r} in the compressed file; it needs a newer cerebro")
