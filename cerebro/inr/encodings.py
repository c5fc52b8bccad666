"""Multi-resolution hash-grid input encoding (Mueller et al. 2022, Instant-NGP) in pure PyTorch.

Level ``l`` places a grid of resolution ``r_l`` (geometric from 4 to ``max_resolution``) over [-1, 1]^3;
a coordinate's feature vector at that level is the trilinear interpolation of the features stored at the
8 surrounding grid vertices. Coarse levels whose ``(r+1)^3`` vertices fit in ``table_size`` are indexed
densely; finer levels share ``table_size`` entries through a spatial hash. The levels are concatenated.
"""

from __future__ import annotations

import torch
from torch import nn

from cerebro.inr.arch import level_resolutions, level_sizes

_PRIMES = (1, 2654435761, 805459861)
_CORNERS = torch.tensor([[dz, dy, dx] for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)], dtype=torch.int64)


class HashGridEncoding(nn.Module):
    """Maps coordinates (N, 3) in [-1, 1] to features (N, levels * features)."""

    def __init__(self, levels: int, features: int, table_size: int, max_resolution: int,
                 generator: torch.Generator) -> None:
        super().__init__()
        self.resolutions = level_resolutions(levels, max_resolution)
        self.sizes = level_sizes(levels, table_size, max_resolution)
        self.tables = nn.ParameterList()
        for size in self.sizes:
            table = torch.empty(size, features)
            table.uniform_(-1e-4, 1e-4, generator=generator)
            self.tables.append(nn.Parameter(table))

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        unit = ((coords + 1.0) * 0.5).clamp(0.0, 1.0)
        corners = _CORNERS.to(coords.device)
        outputs = []
        for resolution, size, table in zip(self.resolutions, self.sizes, self.tables):
            position = unit * resolution
            base = position.floor().clamp(0, resolution - 1)
            frac = position - base
            vertex = base.long()[:, None, :] + corners[None, :, :]  # (N, 8, 3)
            if (resolution + 1) ** 3 <= size:
                index = (vertex[..., 0] * (resolution + 1) + vertex[..., 1]) * (resolution + 1) + vertex[..., 2]
            else:
                index = (vertex[..., 0] * _PRIMES[0]) ^ (vertex[..., 1] * _PRIMES[1]) ^ (vertex[..., 2] * _PRIMES[2])
                index = torch.remainder(index, size)
            weight = torch.where(corners[None].bool(), frac[:, None, :], 1.0 - frac[:, None, :]).prod(dim=-1)
            outputs.append((table[index] * weight[..., None]).sum(dim=1))
        return torch.cat(outputs, dim=-1)
