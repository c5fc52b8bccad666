"""Weight quantisation and packing: float16, or symmetric integer codes per tensor with a float32 scale.

Integer quantisation maps each tensor to codes in [-levels, levels] with step max|w| / levels; int-k means
``levels = 2^(k-1) - 1`` at most (rate control may pick fewer levels to meet a byte budget). The packed blob
is zstd-compressed (imagecodecs); codes are stored one per byte and zstd's entropy coder removes the
unused high bits. Layout before zstd: the float32 scales of all tensors (``model.parameters()`` order)
then the int8 codes; for float16 (``levels == 0``), the float16 values.
"""

from __future__ import annotations

import imagecodecs
import numpy as np
import torch
from torch import nn

from cerebro.errors import CerebroError
from cerebro.inr.arch import max_levels

ZSTD_LEVEL = 19


def quant_scale(weight: torch.Tensor, levels: int) -> torch.Tensor:
    """Quantisation step (float32 scalar tensor): max |w| / ``levels``, 1 for an all-zero tensor."""
    peak = weight.detach().abs().max().float()
    scale = peak / levels
    return torch.where(peak > 0, scale, torch.ones_like(scale))


def fake_quantize(weight: torch.Tensor, levels: int) -> torch.Tensor:
    """The value ``weight`` decodes to after quantisation, with a straight-through gradient (for QAT)."""
    if levels == 0:
        rounded = weight.detach().half().float()
    else:
        scale = quant_scale(weight, levels)
        rounded = torch.round(weight.detach() / scale).clamp(-levels, levels) * scale
    return weight + (rounded - weight).detach()


def pack_weights(model: nn.Module, levels: int) -> bytes:
    """Quantise every parameter of ``model`` (codes in [-levels, levels], 0 = float16); zstd-compressed blob."""
    if not 0 <= levels <= 127:
        raise CerebroError(f"quantisation levels={levels} is not supported; use 1 to 127, or 0 for float16")
    params = [p.detach().float().cpu() for p in model.parameters()]
    if levels == 0:
        payload = b"".join(p.numpy().astype("<f2").tobytes() for p in params)
    else:
        scales = [quant_scale(p, levels) for p in params]
        codes = [torch.round(p / s).clamp(-levels, levels).to(torch.int8).numpy() for p, s in zip(params, scales)]
        scale_bytes = np.array([float(s) for s in scales], dtype="<f4").tobytes()
        payload = scale_bytes + b"".join(c.tobytes() for c in codes)
    return bytes(imagecodecs.zstd_encode(payload, level=ZSTD_LEVEL))


def fitting_levels(model: nn.Module, bits: int, budget_bytes: float) -> int:
    """The most quantisation levels (at most int-``bits``) whose packed blob fits ``budget_bytes``; at least 1.

    float16 (``bits`` 16) has no levels to choose and returns 0.
    """
    if bits == 16:
        return 0
    low, high = 1, max_levels(bits)
    if len(pack_weights(model, high)) <= budget_bytes:  # the common case; each zstd-19 pack of MBs takes seconds
        return high
    high -= 1
    while low < high:
        middle = (low + high + 1) // 2
        if len(pack_weights(model, middle)) <= budget_bytes:
            low = middle
        else:
            high = middle - 1
    return low


def unpack_weights(model: nn.Module, blob: bytes, levels: int) -> None:
    """Fill ``model``'s parameters (in place) from a blob written by :func:`pack_weights` with the same ``levels``."""
    params = list(model.parameters())
    counts = [p.numel() for p in params]
    expected = 2 * sum(counts) if levels == 0 else 4 * len(params) + sum(counts)
    try:  # at most the bytes the network needs: a blob that inflates to more is refused, not decompressed
        payload = bytes(imagecodecs.zstd_decode(blob, out=expected))
    except Exception as exc:  # imagecodecs raises its own error types for corrupt input
        raise CerebroError(f"the network weights in the compressed file are corrupt ({exc}); re-compress") from None
    if levels == 0:
        values = np.frombuffer(payload, dtype="<f2").astype(np.float32) if len(payload) == expected else None
        scales = np.ones(len(params), dtype=np.float32)
    else:
        values, scales = None, None
        if len(payload) == expected:
            scales = np.frombuffer(payload[: 4 * len(params)], dtype="<f4")
            values = np.frombuffer(payload[4 * len(params):], dtype=np.int8).astype(np.float32)
    if values is None or scales is None:
        raise CerebroError(f"weight blob holds {len(payload)} bytes, the network needs {expected}; "
                           "the file is corrupt or from another version, re-compress")
    offset = 0
    with torch.no_grad():
        for param, count, scale in zip(params, counts, scales):
            chunk = torch.from_numpy(values[offset: offset + count].copy()).reshape(param.shape) * float(scale)
            param.copy_(chunk)
            offset += count
