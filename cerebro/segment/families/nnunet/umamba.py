"""U-Mamba Bot and Enc 3D networks (Ma et al. 2024), with the module tree and parameter names of the
U-Mamba repository (``umamba/nnunetv2/nets/UMambaBot_3d.py`` / ``UMambaEnc_3d.py``), so that published
``checkpoint_final.pth`` weights load with ``strict=True``. Mamba layers run on CPU through
:mod:`cerebro.segment.mamba.layer`. Inference only: the decoder returns the full-resolution logits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from dynamic_network_architectures.building_blocks.residual import BasicBlockD
from torch import nn

from cerebro.segment.families.nnunet.plans import Architecture
from cerebro.segment.mamba.layer import MambaLayer

_NORM_KWARGS = {"eps": 1e-5, "affine": True}
_NONLIN_KWARGS = {"inplace": True}


class BasicResBlock(nn.Module):
    """conv-norm-act, conv-norm, plus an optional 1x1 (strided) projection of the input, then act."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: list[int], stride: list[int] | int = 1,
                 use_1x1conv: bool = False):
        super().__init__()
        padding = [k // 2 for k in kernel_size]
        self.conv1 = nn.Conv3d(in_ch, out_ch, kernel_size, stride=stride, padding=padding)
        self.norm1 = nn.InstanceNorm3d(out_ch, **_NORM_KWARGS)
        self.act1 = nn.LeakyReLU(**_NONLIN_KWARGS)
        self.conv2 = nn.Conv3d(out_ch, out_ch, kernel_size, padding=padding)
        self.norm2 = nn.InstanceNorm3d(out_ch, **_NORM_KWARGS)
        self.act2 = nn.LeakyReLU(**_NONLIN_KWARGS)
        self.conv3 = nn.Conv3d(in_ch, out_ch, kernel_size=1, stride=stride) if use_1x1conv else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        if self.conv3 is not None:
            x = self.conv3(x)
        return self.act2(y + x)


class UpsampleLayer(nn.Module):
    """Nearest-neighbour upsampling by the pooling factor, then a 1x1 conv."""

    def __init__(self, in_ch: int, out_ch: int, scale: list[int]):
        super().__init__()
        self.conv = nn.Conv3d(in_ch, out_ch, kernel_size=1)
        self.scale = [float(s) for s in scale]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=self.scale, mode="nearest"))


def _stage(in_ch: int, out_ch: int, kernel: list[int], stride: list[int] | int, n_blocks: int) -> nn.Sequential:
    """One residual stage: a projecting BasicResBlock then ``n_blocks - 1`` BasicBlockD."""
    blocks: list[nn.Module] = [BasicResBlock(in_ch, out_ch, kernel, stride, use_1x1conv=True)]
    blocks += [
        BasicBlockD(conv_op=nn.Conv3d, input_channels=out_ch, output_channels=out_ch, kernel_size=kernel, stride=1,
                    conv_bias=True, norm_op=nn.InstanceNorm3d, norm_op_kwargs=_NORM_KWARGS, nonlin=nn.LeakyReLU,
                    nonlin_kwargs=_NONLIN_KWARGS)
        for _ in range(n_blocks - 1)
    ]
    return nn.Sequential(*blocks)


class ResidualEncoder(nn.Module):
    """Stem + residual stages; with ``mamba_sizes`` a MambaLayer after every stage (U-Mamba Enc)."""

    def __init__(self, in_channels: int, features: list[int], kernels: list[list[int]], strides: list[list[int]],
                 n_blocks: list[int], patch_size: list[int] | None = None):
        super().__init__()
        self.output_channels = list(features)
        self.strides = [list(s) for s in strides]
        self.kernel_sizes = [list(k) for k in kernels]
        self.stem = _stage(in_channels, features[0], kernels[0], 1, n_blocks[0])
        stages = []
        channels = features[0]
        for s, out_ch in enumerate(features):
            stages.append(_stage(channels, out_ch, kernels[s], strides[s], n_blocks[s]))
            channels = out_ch
        self.stages = nn.ModuleList(stages)
        if patch_size is not None:
            layers = []
            size = list(patch_size)
            for s, out_ch in enumerate(features):
                size = [i // j for i, j in zip(size, strides[s])]
                channel_token = int(np.prod(size)) <= out_ch
                layers.append(MambaLayer(int(np.prod(size)) if channel_token else out_ch, channel_token=channel_token))
            self.mamba_layers = nn.ModuleList(layers)
        else:
            self.mamba_layers = None

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Skip tensors of every stage, highest resolution first."""
        x = self.stem(x)
        skips = []
        for s, stage in enumerate(self.stages):
            x = stage(x)
            if self.mamba_layers is not None:
                x = self.mamba_layers[s](x)
            skips.append(x)
        return skips


class ResidualDecoder(nn.Module):
    """Upsample + concatenate skip + residual stage, with one 1x1 seg head per stage (last one used)."""

    def __init__(self, encoder: ResidualEncoder, num_classes: int, n_conv_decoder: list[int]):
        super().__init__()
        self.encoder = encoder  # registered, as upstream does: its weights appear again under decoder.encoder.*
        feats, strides, kernels = encoder.output_channels, encoder.strides, encoder.kernel_sizes
        stages, ups, segs = [], [], []
        for s in range(1, len(feats)):
            below, skip = feats[-s], feats[-(s + 1)]
            ups.append(UpsampleLayer(below, skip, strides[-s]))
            stages.append(_stage(2 * skip, skip, kernels[-(s + 1)], 1, n_conv_decoder[s - 1]))
            segs.append(nn.Conv3d(skip, num_classes, 1, 1, 0, bias=True))
        self.stages = nn.ModuleList(stages)
        self.upsample_layers = nn.ModuleList(ups)
        self.seg_layers = nn.ModuleList(segs)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        x = skips[-1]
        for s, stage in enumerate(self.stages):
            x = stage(torch.cat((self.upsample_layers[s](x), skips[-(s + 2)]), 1))
        return self.seg_layers[-1](x)


def _block_counts(arch: Architecture) -> tuple[list[int], list[int]]:
    """U-Mamba's rule: one block in the lower half of the encoder and the matching decoder stages."""
    n_stages = len(arch.features_per_stage)
    enc = list(arch.n_conv_per_stage)
    dec = list(arch.n_conv_per_stage_decoder)
    for s in range(math.ceil(n_stages / 2), n_stages):
        enc[s] = 1
    for s in range(math.ceil((n_stages - 1) / 2 + 0.5), n_stages - 1):
        dec[s] = 1
    return enc, dec


class UMambaBot(nn.Module):
    """U-Mamba Bot: residual U-Net with one Mamba layer on the bottleneck."""

    def __init__(self, arch: Architecture, in_channels: int, num_classes: int):
        super().__init__()
        enc, dec = _block_counts(arch)
        self.encoder = ResidualEncoder(in_channels, arch.features_per_stage, arch.kernel_sizes, arch.strides, enc)
        self.mamba_layer = MambaLayer(arch.features_per_stage[-1])
        self.decoder = ResidualDecoder(self.encoder, num_classes, dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, *patch) -> logits (B, num_classes, *patch)."""
        skips = self.encoder(x)
        skips[-1] = self.mamba_layer(skips[-1])
        return self.decoder(skips)


class UMambaEnc(nn.Module):
    """U-Mamba Enc: residual U-Net with a Mamba layer after every encoder stage (needs the plans' patch size)."""

    def __init__(self, arch: Architecture, in_channels: int, num_classes: int, patch_size: list[int]):
        super().__init__()
        enc, dec = _block_counts(arch)
        self.encoder = ResidualEncoder(in_channels, arch.features_per_stage, arch.kernel_sizes, arch.strides, enc,
                                       patch_size=patch_size)
        self.decoder = ResidualDecoder(self.encoder, num_classes, dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, *patch) -> logits (B, num_classes, *patch); input must be the plans' patch size."""
        return self.decoder(self.encoder(x))
