"""Mamba's selective scan in pure PyTorch (CPU, MPS, CUDA), with mamba_ssm's CUDA kernel used when available.

The recurrence, per batch b, channel d and state n (the maths of ``mamba_ssm``'s ``selective_scan_ref``)::

    dt[t]   = softplus(delta[t] + delta_bias)           (softplus and bias optional)
    h[t]    = exp(dt[t] * A) * h[t-1] + dt[t] * B[t] * u[t]
    y[t]    = sum_n C[t] * h[t] + D * u[t]
    out[t]  = y[t] * silu(z[t])                         (gate optional)

:func:`selective_scan` evaluates it as a two-level blocked scan: the sequence is cut into ``n_chunks``
chunks of ``chunk`` steps; one vectorised pass over the ``chunk`` positions runs all chunks at once from a
zero state and keeps only each chunk's final state and total decay; a short loop over the chunks turns those
into each chunk's true initial state; a second vectorised pass reruns the chunks from their true initial
states and contracts with C. Every step is the reference's own multiply-add (no exp of positive sums, so
nothing can overflow), the Python loop length is about 3 * sqrt(L), and the working memory is one state
slice (B, D, n_chunks, N) at a time plus the inputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    chunk: int | None = None,
    use_kernel: bool = True,
) -> Tensor:
    """Selective scan of ``u`` (batch, d_inner, L); returns (batch, d_inner, L) in ``u``'s dtype.

    ``delta``: (batch, d_inner, L); ``A``: (d_inner, N), real; ``B``/``C``: (batch, N, L) or
    (batch, groups, N, L) with d_inner divisible by groups; ``D``: (d_inner,); ``z``: (batch, d_inner, L)
    gate; ``delta_bias``: (d_inner,). Computation is in float32 (float64 if ``u`` is float64).
    ``chunk`` overrides the block length (default about sqrt(L)). On CUDA, mamba_ssm's fused kernel is
    used when it can be imported and ``use_kernel`` is true.
    """
    if use_kernel and u.is_cuda:
        kernel = _mamba_ssm_kernel()
        if kernel is not None:
            return kernel(u, delta, A, B, C, D, z=z, delta_bias=delta_bias, delta_softplus=delta_softplus)
    if A.is_complex():
        raise ValueError("complex A is not supported by the PyTorch selective scan; use mamba_ssm on CUDA")
    if B.dim() not in (3, 4) or C.dim() not in (3, 4):
        raise ValueError("B and C must be input-dependent: (batch, N, L) or (batch, groups, N, L)")
    dtype_in = u.dtype
    work = torch.float64 if dtype_in == torch.float64 else torch.float32
    batch, dim, length = u.shape
    dstate = A.shape[1]

    u = u.to(work)
    delta = delta.to(work)
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)

    step = chunk or max(1, math.isqrt(max(length - 1, 0)) + 1)
    n_chunks = -(-length // step)
    padded = n_chunks * step

    groups = 1 if B.dim() == 3 else B.shape[1]
    if C.dim() == 4 and C.shape[1] != groups:
        raise ValueError("B and C must have the same number of groups")
    if dim % groups:
        raise ValueError(f"d_inner {dim} is not divisible by the number of groups {groups}")
    heads = dim // groups

    def per_step(x: Tensor) -> Tensor:
        """(batch, dim, L) -> (step, batch, groups, heads, n_chunks) contiguous, zero-padded to n_chunks*step."""
        x = F.pad(x, (0, padded - length))
        x = x.reshape(batch, groups, heads, n_chunks, step)
        return x.permute(4, 0, 1, 2, 3).contiguous()

    def per_step_bc(x: Tensor) -> Tensor:
        """(batch, [groups,] N, L) -> (step, batch, groups, 1, n_chunks, N) contiguous, zero-padded."""
        x = x.to(work)
        if x.dim() == 3:
            x = x[:, None]
        x = F.pad(x, (0, padded - length))
        x = x.reshape(batch, groups, dstate, n_chunks, step)
        return x.permute(4, 0, 1, 3, 2).unsqueeze(3).contiguous()

    dt_steps = per_step(delta)  # padding with dt = 0 keeps the state unchanged
    dtu_steps = per_step(delta * u)
    b_steps = per_step_bc(B)
    a = A.to(work).reshape(1, groups, heads, 1, dstate)

    # Pass 1: every chunk from a zero state; keep the final state and the chunk's total log-decay.
    state = u.new_zeros((batch, groups, heads, n_chunks, dstate))
    for t in range(step):
        dt_t = dt_steps[t].unsqueeze(-1)
        state = torch.exp(dt_t * a) * state + dtu_steps[t].unsqueeze(-1) * b_steps[t]
    decay_total = torch.exp(dt_steps.sum(0).unsqueeze(-1) * a)  # (batch, groups, heads, n_chunks, N)

    # Carry the states across chunk boundaries: start[c] = decay[c-1] * start[c-1] + local_end[c-1].
    starts = torch.empty_like(state)
    carry = u.new_zeros((batch, groups, heads, dstate))
    for c in range(n_chunks):
        starts[..., c, :] = carry
        carry = decay_total[..., c, :] * carry + state[..., c, :]
    del state, decay_total

    # Pass 2: rerun every chunk from its true start state and read out y = C . h.
    c_steps = per_step_bc(C)
    training = torch.is_grad_enabled() and any(t.requires_grad for t in (u, delta, A, B, C))
    y_steps = u.new_empty((step, batch, groups, heads, n_chunks))
    outputs = []  # with autograd (training) the read-outs are stacked: out= does not differentiate
    state = starts
    for t in range(step):
        dt_t = dt_steps[t].unsqueeze(-1)
        state = torch.exp(dt_t * a) * state + dtu_steps[t].unsqueeze(-1) * b_steps[t]
        if training:
            outputs.append((state * c_steps[t]).sum(-1))
        else:
            torch.sum(state * c_steps[t], dim=-1, out=y_steps[t])
    if training:
        y_steps = torch.stack(outputs)
    del dt_steps, dtu_steps, b_steps, c_steps, state, outputs

    y = y_steps.permute(1, 2, 3, 4, 0).reshape(batch, dim, padded)[..., :length]
    if D is not None:
        y = y + u * D.to(work)[:, None]
    if z is not None:
        y = y * F.silu(z.to(work))
    return y.to(dtype_in)


def selective_scan_reference(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
) -> Tensor:
    """Step-by-step float64 evaluation of the same recurrence (slow; the yardstick for tests and benchmarks).

    Same arguments and shapes as :func:`selective_scan`; returns float64 (batch, d_inner, L).
    """
    f64 = torch.float64
    u, delta, A = u.to(f64), delta.to(f64), A.to(f64)
    if delta_bias is not None:
        delta = delta + delta_bias.to(f64)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, length = u.shape
    B = _expand_groups(B.to(f64), dim)  # (batch, dim, N, L)
    C = _expand_groups(C.to(f64), dim)
    state = u.new_zeros((batch, dim, A.shape[1]))
    ys = []
    for t in range(length):
        dt = delta[:, :, t, None]
        state = torch.exp(dt * A) * state + dt * B[..., t] * u[:, :, t, None]
        ys.append((state * C[..., t]).sum(-1))
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + u * D.to(f64)[:, None]
    if z is not None:
        y = y * F.silu(z.to(f64))
    return y


def _expand_groups(x: Tensor, dim: int) -> Tensor:
    """(batch, N, L) or (batch, G, N, L) -> (batch, dim, N, L) by repeating each group over its channels."""
    if x.dim() == 3:
        return x[:, None].expand(-1, dim, -1, -1)
    return x.repeat_interleave(dim // x.shape[1], dim=1)


_KERNEL_CACHE: dict[str, object] = {}


def _mamba_ssm_kernel():
    """mamba_ssm's CUDA ``selective_scan_fn`` if the package (with its compiled extension) imports, else None."""
    if "fn" not in _KERNEL_CACHE:
        try:
            from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
        except Exception:  # ImportError, or the compiled extension failing to load
            selective_scan_fn = None
        _KERNEL_CACHE["fn"] = selective_scan_fn
    return _KERNEL_CACHE["fn"]
