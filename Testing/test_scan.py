"""Pure-PyTorch selective scan and Mamba block against step-by-step float64 references."""

import pytest
import torch
import torch.nn.functional as F

from cerebro.segment.mamba.layer import Mamba
from cerebro.segment.mamba.selective_scan import selective_scan, selective_scan_reference

torch.set_num_threads(1)


def _inputs(batch, dim, dstate, length, groups=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    bc_shape = (batch, dstate, length) if not groups else (batch, groups, dstate, length)
    return dict(
        u=torch.randn(batch, dim, length, generator=g),
        delta=torch.randn(batch, dim, length, generator=g) * 0.5,
        A=-(torch.rand(dim, dstate, generator=g) * 8 + 0.1),
        B=torch.randn(*bc_shape, generator=g),
        C=torch.randn(*bc_shape, generator=g),
        D=torch.randn(dim, generator=g),
        z=torch.randn(batch, dim, length, generator=g),
        delta_bias=torch.randn(dim, generator=g) * 0.2,
    )


def _rel(a, b):
    return ((a.double() - b).norm() / b.norm()).item()


@pytest.mark.parametrize(
    "batch,dim,dstate,length,groups,chunk",
    [(2, 8, 4, 1, 0, None), (2, 8, 16, 37, 0, None), (1, 16, 16, 777, 0, None), (2, 8, 4, 100, 2, None),
     (1, 6, 16, 300, 0, 7), (1, 6, 16, 300, 0, 300)],
)
def test_scan_matches_float64_reference(batch, dim, dstate, length, groups, chunk):
    x = _inputs(batch, dim, dstate, length, groups)
    y = selective_scan(**x, delta_softplus=True, chunk=chunk)
    assert y.dtype == torch.float32 and y.shape == (batch, dim, length)
    assert _rel(y, selective_scan_reference(**x, delta_softplus=True)) < 1e-5


def test_scan_without_optional_terms_and_in_float64():
    x = _inputs(1, 4, 8, 50)
    for key in ("D", "z", "delta_bias"):
        x.pop(key)
    x["delta"] = x["delta"].abs()
    assert _rel(selective_scan(**x), selective_scan_reference(**x)) < 1e-5
    x64 = {k: v.double() for k, v in x.items()}
    y64 = selective_scan(**x64)
    assert y64.dtype == torch.float64
    assert _rel(y64, selective_scan_reference(**x64)) < 1e-12


def _mamba_reference(m: Mamba, hidden: torch.Tensor) -> torch.Tensor:
    """Mamba forward written out step by step in float64 (mamba_ssm's slow path, both directions for v2)."""
    sd = {k: v.double() for k, v in m.state_dict().items()}
    h = hidden.double()
    length = h.shape[1]
    xz = (h @ sd["in_proj.weight"].T).transpose(1, 2)
    x, z = xz.chunk(2, dim=1)

    def direction(x, z, suffix):
        x = F.silu(F.conv1d(x, sd[f"conv1d{suffix}.weight"], sd[f"conv1d{suffix}.bias"], padding=m.d_conv - 1,
                            groups=m.d_inner)[..., :length])
        dbl = x.transpose(1, 2) @ sd[f"x_proj{suffix}.weight"].T
        dt, b, c = torch.split(dbl, [m.dt_rank, m.d_state, m.d_state], dim=-1)
        dt = (dt @ sd[f"dt_proj{suffix}.weight"].T).transpose(1, 2)
        a = -torch.exp(sd["A_log" if not suffix else "A_b_log"])
        return selective_scan_reference(x, dt, a, b.transpose(1, 2), c.transpose(1, 2), sd[f"D{suffix}"], z,
                                        sd[f"dt_proj{suffix}.bias"], True)

    y = direction(x, z, "")
    if m.bimamba == "v2":
        y = y + direction(x.flip(-1), z.flip(-1), "_b").flip(-1)
    return y.transpose(1, 2) @ sd["out_proj.weight"].T


@pytest.mark.parametrize("bimamba", ["none", "v2"])
def test_mamba_block_matches_reference_and_names(bimamba):
    torch.manual_seed(1)
    m = Mamba(d_model=12, bimamba=bimamba)
    names = {"in_proj.weight", "conv1d.weight", "conv1d.bias", "x_proj.weight", "dt_proj.weight", "dt_proj.bias",
             "A_log", "D", "out_proj.weight"}
    if bimamba == "v2":
        names |= {"conv1d_b.weight", "conv1d_b.bias", "x_proj_b.weight", "dt_proj_b.weight", "dt_proj_b.bias",
                  "A_b_log", "D_b"}
    sd = m.state_dict()
    assert set(sd) == names
    assert sd["A_log"].shape == (24, 16) and sd["x_proj.weight"].shape == (1 + 32, 24)
    assert sd["conv1d.weight"].shape == (24, 1, 4) and sd["in_proj.weight"].shape == (48, 12)
    hidden = torch.randn(2, 90, 12)
    with torch.no_grad():
        out = m(hidden)
    assert out.shape == hidden.shape
    assert _rel(out, _mamba_reference(m, hidden)) < 1e-5


def test_bidirectional_block_sees_the_future():
    torch.manual_seed(2)
    hidden = torch.randn(1, 40, 8)
    later = hidden.clone()
    later[:, -1] += 1.0
    with torch.no_grad():
        for kind, changes_past in (("none", False), ("v2", True)):
            m = Mamba(d_model=8, bimamba=kind)
            diff = (m(hidden) - m(later))[:, :-1].abs().max().item()
            assert (diff > 1e-6) == changes_past
