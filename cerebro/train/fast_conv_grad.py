"""Faster CPU training of 3D convolutions: PyTorch's CPU ``convolution_backward`` computes the weight gradient of
``Conv3d`` through a slow path (about 10x the forward time), while the same gradient is itself a convolution
(input correlated with the output gradient, dilated by the stride) that runs on the fast forward kernels.

:func:`fast_conv3d_weight_grad` swaps that backward into every ``nn.Conv3d`` of a network for the duration of a
``with`` block. Parameters, state-dict keys and forward results are unchanged; only the backward differs (same
gradient up to float rounding). Used by :mod:`cerebro.train.default_model` only.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


class _Conv3dWeightGradAsConv(torch.autograd.Function):
    """conv3d whose weight gradient is computed as a (dilated) forward convolution."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):  # noqa: ANN001, ANN205 - autograd signature
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, bias is not None
        return F.conv3d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205 - autograd signature
        x, weight = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = torch.ops.aten.convolution_backward(
                grad, x, weight, None, list(ctx.stride), list(ctx.padding), [1, 1, 1], False, [0, 0, 0], 1,
                [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            full = F.conv3d(x.transpose(0, 1), grad.transpose(0, 1), padding=ctx.padding, dilation=ctx.stride)
            k = weight.shape[2:]
            grad_weight = full.transpose(0, 1)[..., : k[0], : k[1], : k[2]].contiguous()
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum(dim=(0, 2, 3, 4))
        return grad_input, grad_weight, grad_bias, None, None


def _forward(self: nn.Conv3d, x: torch.Tensor) -> torch.Tensor:
    return _Conv3dWeightGradAsConv.apply(x, self.weight, self.bias, self.stride, self.padding)


@contextmanager
def fast_conv3d_weight_grad(network: nn.Module) -> Iterator[nn.Module]:
    """Within the block, every plain ``nn.Conv3d`` (zero padding, no dilation, one group) of ``network`` uses the
    faster backward; the original forward methods are restored afterwards."""
    patched = []
    for module in network.modules():
        if (type(module) is nn.Conv3d and module.groups == 1 and module.dilation == (1, 1, 1)
                and module.padding_mode == "zeros" and not isinstance(module.padding, str)):
            module.forward = types.MethodType(_forward, module)
            patched.append(module)
    try:
        yield network
    finally:
        for module in patched:
            del module.forward
