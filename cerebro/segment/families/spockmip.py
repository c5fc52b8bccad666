"""SPOCKMIP UNet3D (soumickmj/SPOCKMIP, Hugging Face ``soumickmj/SMILEUHURA_SPOCKMIP_UNet3D_MIP``).

The Hub repository ships its own model code for ``trust_remote_code``; we never run it. Instead the
``model.safetensors`` keys (``model.`` + the names of SPOCKMIP's ``Models/unet3d.py`` U-Net: ``Conv1`` ..
``Conv5``, ``Up5`` .. ``Up2``, ``Up_conv5`` .. ``Up_conv2``, ``Conv``) are loaded into our own definition:
double 3x3x3 conv + BatchNorm3d + LeakyReLU blocks, max-pool down, nearest upsample + conv up,
``init_features`` * (1, 2, 4, 8, 16) channels (published: 64).
Inference (SPOCKMIP ``pipeline.test``): no resampling; 64^3 patches with strides (32, 32, 16) along
(i, j, k); each patch divided by its own maximum; axes moved (i, j, k) -> (k, i, j) for the network;
sigmoid; overlapping patches averaged; Otsu threshold (0.5 if the map is constant).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from skimage.filters import threshold_otsu
from torch import nn

from cerebro.segment.catalog import ModelEntry
from cerebro.segment.network_model import NetworkModel
from cerebro.segment.registry import register_family
from cerebro.segment.weights.checkpoints import load_state_dict, load_weights_into
from cerebro.volume import Volume


def _conv_bn_act(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv3d(cin, cout, 3, padding=1, bias=True), nn.BatchNorm3d(cout), nn.LeakyReLU(inplace=True)]


class ConvBlock(nn.Module):
    """Two conv-BN-LeakyReLU layers (``conv`` Sequential: indices 0, 1, 3, 4 hold parameters)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(*_conv_bn_act(cin, cout), *_conv_bn_act(cout, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class UpConv(nn.Module):
    """Nearest x2 upsampling, then conv-BN-LeakyReLU (``up`` Sequential: indices 1, 2 hold parameters)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.Sequential(nn.Upsample(scale_factor=2), *_conv_bn_act(cin, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x)


class SpockUNet(nn.Module):
    """SPOCKMIP's 3D U-Net; returns logits (B, out_ch, ...) for inputs divisible by 16."""

    def __init__(self, in_ch: int = 1, out_ch: int = 1, init_features: int = 64) -> None:
        super().__init__()
        f = [init_features * m for m in (1, 2, 4, 8, 16)]
        self.pool = nn.MaxPool3d(2, 2)
        self.Conv1 = ConvBlock(in_ch, f[0])
        self.Conv2 = ConvBlock(f[0], f[1])
        self.Conv3 = ConvBlock(f[1], f[2])
        self.Conv4 = ConvBlock(f[2], f[3])
        self.Conv5 = ConvBlock(f[3], f[4])
        self.Up5, self.Up_conv5 = UpConv(f[4], f[3]), ConvBlock(f[4], f[3])
        self.Up4, self.Up_conv4 = UpConv(f[3], f[2]), ConvBlock(f[3], f[2])
        self.Up3, self.Up_conv3 = UpConv(f[2], f[1]), ConvBlock(f[2], f[1])
        self.Up2, self.Up_conv2 = UpConv(f[1], f[0]), ConvBlock(f[1], f[0])
        self.Conv = nn.Conv3d(f[0], out_ch, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.Conv1(x)
        e2 = self.Conv2(self.pool(e1))
        e3 = self.Conv3(self.pool(e2))
        e4 = self.Conv4(self.pool(e3))
        e5 = self.Conv5(self.pool(e4))
        d = self.Up_conv5(torch.cat((e4, self.Up5(e5)), dim=1))
        d = self.Up_conv4(torch.cat((e3, self.Up4(d)), dim=1))
        d = self.Up_conv3(torch.cat((e2, self.Up3(d)), dim=1))
        d = self.Up_conv2(torch.cat((e1, self.Up2(d)), dim=1))
        return self.Conv(d)


def build_network(entry: ModelEntry) -> SpockUNet:
    """An untrained SpockUNet with the catalog entry's architecture options."""
    arch = dict(entry.options.get("architecture", {}))
    return SpockUNet(arch.get("in_ch", 1), arch.get("out_ch", 1), arch.get("init_features", 64))


def max_normalise(patches: torch.Tensor) -> torch.Tensor:
    """Divide each patch of a (B, C, ...) batch by its own maximum (patches with max <= 0 are left as is)."""
    peak = patches.amax(dim=tuple(range(1, patches.ndim)), keepdim=True)
    return patches / torch.where(peak > 0, peak, torch.ones_like(peak))


class SpockmipModel(NetworkModel):
    """SPOCKMIP UNet3D with its published patch-based inference (see module doc)."""

    half_precision = True
    default_batch = 4
    patch_transform = staticmethod(max_normalise)

    @classmethod
    def load(cls, entry: ModelEntry, weights: Path | None, device: Any, allow_pickle: bool = False) -> SpockmipModel:
        """Build the network and load the Hub's ``model.safetensors`` (keys prefixed ``model.``)."""
        network = build_network(entry)
        if weights is not None:
            state = load_state_dict(weights, prefix=entry.options.get("key_prefix", "model."),
                                    allow_pickle=allow_pickle)
            load_weights_into(network, state, "SPOCKMIP UNet3D")
        return cls(entry, network, device)

    def overlap(self) -> list[float]:
        # network axes (k, i, j): window entries are equal, overlaps follow the strides of (i, j, k)
        window = list(self.entry.options.get("window", self.default_window))
        strides_ijk = self.entry.options.get("strides_ijk", [32, 32, 16])
        return [1.0 - strides_ijk[2] / window[0], 1.0 - strides_ijk[0] / window[1], 1.0 - strides_ijk[1] / window[2]]

    def to_network(self, volume: Volume) -> tuple[np.ndarray, Any]:
        return np.ascontiguousarray(volume.array.astype(np.float32).transpose(0, 2, 1)[None]), None  # (1, k, i, j)

    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    def to_input(self, probs: np.ndarray, context: Any, volume: Volume) -> np.ndarray:
        return np.ascontiguousarray(probs[:1].transpose(0, 1, 3, 2), dtype=np.float32)  # back to (k, j, i)

    def decide(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        threshold = threshold_otsu(probs[0]) if probs.max() > probs.min() else 0.5
        return probs[0] > threshold, probs[0]


register_family("spockmip")(SpockmipModel.load)
