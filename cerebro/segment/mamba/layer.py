"""A Mamba block that runs anywhere, with exactly the parameter names of ``mamba_ssm.Mamba``.

Published U-Mamba and MambaVesselNet checkpoints load into :class:`Mamba` with ``strict=True``. The
``bimamba="v2"`` variant (Vision Mamba's bidirectional block, used by MambaVesselNet) adds ``A_b_log``,
``conv1d_b``, ``x_proj_b``, ``dt_proj_b`` and ``D_b``, scans the reversed sequence with them and sums both
directions before ``out_proj``. The scan is :func:`cerebro.segment.scan.selective_scan` (mamba_ssm's CUDA
kernel when importable on a GPU, pure PyTorch otherwise).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cerebro.segment.mamba.selective_scan import selective_scan


class Mamba(nn.Module):
    """Selective state-space block on (batch, L, d_model) sequences; returns the same shape.

    Arguments and initialisation follow ``mamba_ssm.Mamba`` (d_state 16, d_conv 4, expand 2, dt_rank
    ceil(d_model / 16)); ``bimamba`` is ``"none"`` or ``"v2"``; ``divide_out`` halves the summed directions
    (Vision Mamba's ``if_devide_out``).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
        bimamba: str = "none",
        divide_out: bool = False,
    ) -> None:
        super().__init__()
        if bimamba not in ("none", "v2"):
            raise ValueError(f"bimamba must be 'none' or 'v2', got {bimamba!r}")
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.bimamba = bimamba
        self.divide_out = divide_out

        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias)
        self.conv1d, self.x_proj, self.dt_proj, self.A_log, self.D = self._direction(
            conv_bias, dt_min, dt_max, dt_init_floor
        )
        if bimamba == "v2":
            self.conv1d_b, self.x_proj_b, self.dt_proj_b, self.A_b_log, self.D_b = self._direction(
                conv_bias, dt_min, dt_max, dt_init_floor
            )
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)

    def _direction(self, conv_bias: bool, dt_min: float, dt_max: float, dt_floor: float):
        """The parameters of one scan direction, initialised like mamba_ssm (S4D-real A, dt in [dt_min, dt_max])."""
        conv = nn.Conv1d(self.d_inner, self.d_inner, self.d_conv, groups=self.d_inner, padding=self.d_conv - 1,
                         bias=conv_bias)
        x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * self.d_state, bias=False)
        dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        std = self.dt_rank**-0.5
        nn.init.uniform_(dt_proj.weight, -std, std)
        dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_floor)
        with torch.no_grad():
            dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        a_log = nn.Parameter(torch.log(torch.arange(1, self.d_state + 1, dtype=torch.float32)).repeat(self.d_inner, 1))
        d_skip = nn.Parameter(torch.ones(self.d_inner))
        return conv, x_proj, dt_proj, a_log, d_skip

    def _scan(self, x: torch.Tensor, z: torch.Tensor, conv: nn.Conv1d, x_proj: nn.Linear, dt_proj: nn.Linear,
              a_log: torch.Tensor, d_skip: torch.Tensor) -> torch.Tensor:
        """Causal depthwise conv + SiLU, input-dependent (dt, B, C), gated selective scan: (b, d_inner, L)."""
        length = x.shape[-1]
        x = F.silu(conv(x)[..., :length])
        x_dbl = x_proj(x.transpose(1, 2))  # (b, L, dt_rank + 2N)
        dt, b, c = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, dt_proj.weight).transpose(1, 2)  # bias goes into the scan, as in mamba_ssm
        return selective_scan(
            x, dt, -torch.exp(a_log.float()), b.transpose(1, 2), c.transpose(1, 2), d_skip.float(), z=z,
            delta_bias=dt_proj.bias.float(), delta_softplus=True,
        )

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(batch, L, d_model) -> (batch, L, d_model)."""
        xz = self.in_proj(hidden_states).transpose(1, 2)  # (b, 2*d_inner, L)
        x, z = xz.chunk(2, dim=1)
        y = self._scan(x, z, self.conv1d, self.x_proj, self.dt_proj, self.A_log, self.D)
        if self.bimamba == "v2":
            y_b = self._scan(x.flip(-1), z.flip(-1), self.conv1d_b, self.x_proj_b, self.dt_proj_b, self.A_b_log,
                             self.D_b)
            y = y + y_b.flip(-1)
            if self.divide_out:
                y = y / 2
        return self.out_proj(y.transpose(1, 2))


class MambaLayer(nn.Module):
    """LayerNorm + Mamba over the flattened voxels of a (B, C, *spatial) tensor (or, with ``channel_token``, over
    the channels), in float32 with autocast off, as U-Mamba's layer; ``bimamba="v2"``: both directions, as
    MambaVesselNet++'s. Parameter names ``norm`` and ``mamba``, as both repositories."""

    def __init__(self, dim: int, d_state: int = 16, d_conv: int = 4, expand: int = 2, channel_token: bool = False,
                 bimamba: str = "none") -> None:
        super().__init__()
        self.dim = dim
        self.norm = nn.LayerNorm(dim)
        self.mamba = Mamba(d_model=dim, d_state=d_state, d_conv=d_conv, expand=expand, bimamba=bimamba)
        self.channel_token = channel_token

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) -> same shape, float32."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            batch, channels, spatial = x.shape[0], x.shape[1], x.shape[2:]
            if self.channel_token:
                tokens = x.reshape(batch, channels, -1)  # sequence of channels, each a vector of voxels
                return self.mamba(self.norm(tokens)).reshape(batch, channels, *spatial)
            tokens = x.reshape(batch, channels, -1).transpose(1, 2)
            out = self.mamba(self.norm(tokens))
            return out.transpose(1, 2).reshape(batch, channels, *spatial)
