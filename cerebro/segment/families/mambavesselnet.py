"""MambaVesselNet++ (``mvnNet`` of shimaaelbana/RSNA_2025-MambaVesselNet): our definition, same parameter names.

Encoder: five MONAI ``UnetrBasicBlock`` stages joined by stride-2 convolutions + channels-first
LayerNorm; bottleneck: eight blocks of two bidirectional ("v2") Mamba layers, LayerNorm and a 1x1x1
MLP; decoder: MONAI ``UnetrUpBlock`` stages and a ``UnetOutBlock``. Inputs must be divisible by 16.
Published checkpoints are training dicts whose ``model`` entry is the state dict.
Inference (the seed's test.py): RAS, 0.3542 mm, intensity 0..1000 -> 0..1 clipped, crop to the
foreground (> 0), 64^3 sliding windows (overlap 0.25, batch 4), softmax, back to the input grid, argmax.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.blocks.dynunet_block import UnetOutBlock
from monai.networks.blocks.unetr_block import UnetrBasicBlock, UnetrUpBlock
from torch import nn

from cerebro.progress import Progress
from cerebro.segment.catalog import ModelEntry
from cerebro.segment.grid import back_to_input, network_input
from cerebro.segment.mamba.layer import MambaLayer
from cerebro.segment.network_model import NetworkModel
from cerebro.segment.registry import register_family
from cerebro.segment.weights.checkpoints import load_state_dict, load_weights_into
from cerebro.volume import Volume


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channel axis of (B, C, x, y, z) tensors (parameters ``weight``, ``bias``)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None, None] * x + self.bias[:, None, None, None]


class MlpChannel(nn.Module):
    """1x1x1 convolution MLP (``fc1``, GELU, ``fc2``)."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv3d(channels, hidden, 1)
        self.fc2 = nn.Conv3d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class MambaBlock(nn.Module):
    """Two Mamba layers, LayerNorm and MLP at the bottleneck (``mamba_layers``, ``norm``, ``mlp``)."""

    def __init__(self, channels: int, depth: int = 2) -> None:
        super().__init__()
        self.mamba_layers = nn.Sequential(*[MambaLayer(channels, bimamba="v2") for _ in range(depth)])
        self.norm = ChannelsFirstLayerNorm(channels)
        self.mlp = MlpChannel(channels, 4 * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.norm(self.mamba_layers(x)))


def _downsample(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(channels, channels, kernel_size=2, stride=2), ChannelsFirstLayerNorm(channels))


class MvnNet(nn.Module):
    """The MambaVesselNet++ network; ``feature_dims`` has five entries (published: 48, 96, 192, 384, 768)."""

    def __init__(self, in_chans: int = 1, out_chans: int = 2, feature_dims: list[int] | None = None,
                 norm_name: str = "instance") -> None:
        super().__init__()
        f = list(feature_dims or [48, 96, 192, 384, 768])
        if len(f) != 5:
            raise ValueError("feature_dims needs five entries")

        def basic(cin: int, cout: int) -> UnetrBasicBlock:
            return UnetrBasicBlock(spatial_dims=3, in_channels=cin, out_channels=cout, kernel_size=3, stride=1,
                                   norm_name=norm_name, res_block=True)

        def up(cin: int, cout: int) -> UnetrUpBlock:
            return UnetrUpBlock(spatial_dims=3, in_channels=cin, out_channels=cout, kernel_size=3,
                                upsample_kernel_size=2, norm_name=norm_name, res_block=True)

        self.enc_conv1 = basic(in_chans, f[0])
        self.downsample1 = _downsample(f[0])
        self.enc_conv2 = basic(f[0], f[1])
        self.downsample2 = _downsample(f[1])
        self.enc_conv3 = basic(f[1], f[2])
        self.downsample3 = _downsample(f[2])
        self.enc_conv4 = basic(f[2], f[3])
        self.downsample4 = _downsample(f[3])
        self.enc_conv5 = basic(f[3], f[4])
        for i in range(1, 5):
            setattr(self, f"enc_mamba{i}", MambaBlock(f[4]))
        for i in range(1, 5):
            setattr(self, f"dec_mamba{i}", MambaBlock(f[4]))
        self.dec_conv5 = up(f[4], f[3])
        self.dec_conv4 = up(f[3], f[2])
        self.dec_conv3 = up(f[2], f[1])
        self.dec_conv2 = up(f[1], f[0])
        self.dec_conv1 = basic(f[0], f[0])
        self.out = UnetOutBlock(spatial_dims=3, in_channels=f[0], out_channels=out_chans)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enc1 = self.enc_conv1(x)
        enc2 = self.enc_conv2(self.downsample1(enc1))
        enc3 = self.enc_conv3(self.downsample2(enc2))
        enc4 = self.enc_conv4(self.downsample3(enc3))
        x = self.enc_conv5(self.downsample4(enc4))
        for name in ("enc_mamba1", "enc_mamba2", "enc_mamba3", "enc_mamba4",
                     "dec_mamba1", "dec_mamba2", "dec_mamba3", "dec_mamba4"):
            x = getattr(self, name)(x)
        x = self.dec_conv5(x, enc4)
        x = self.dec_conv4(x, enc3)
        x = self.dec_conv3(x, enc2)
        x = self.dec_conv2(x, enc1)
        return self.out(self.dec_conv1(x))


def build_network(entry: ModelEntry) -> MvnNet:
    """An untrained MvnNet with the catalog entry's architecture options."""
    arch = dict(entry.options.get("architecture", {}))
    return MvnNet(in_chans=arch.get("in_chans", 1), out_chans=arch.get("out_chans", 2),
                  feature_dims=arch.get("feature_dims"))


class MambaVesselNetModel(NetworkModel):
    """MambaVesselNet++ with the seed's MONAI inference recipe (see module doc)."""

    half_precision = False  # the Mamba scan runs in float32, as upstream
    default_overlap = 0.25
    default_batch = 4

    @classmethod
    def load(cls, entry: ModelEntry, weights: Path | None, device: Any, allow_pickle: bool = False
             ) -> MambaVesselNetModel:
        """Build the network from ``entry`` and load ``weights`` (a training checkpoint with key ``model``);
        ``weights=None`` keeps random weights (timing only)."""
        network = build_network(entry)
        if weights is not None:
            state = load_state_dict(weights, key="model", allow_pickle=allow_pickle)
            load_weights_into(network, state, "MambaVesselNet++")
        return cls(entry, network, device)

    def to_network(self, volume: Volume) -> tuple[np.ndarray, Any]:
        grid, image = network_input(volume, self.entry.input)
        return image, grid

    def windows(self, image: np.ndarray, tta: bool, progress: Progress, precision: str = "auto") -> np.ndarray:
        """Windows over the foreground box only (MONAI CropForeground); background elsewhere."""
        n_classes = int(self.entry.options.get("architecture", {}).get("out_chans", 2))
        probs = np.zeros((n_classes, *image.shape[1:]), dtype=np.float32)
        probs[0] = 1.0
        box = _foreground_box(image[0]) if self.entry.options.get("crop_foreground", True) else tuple(
            slice(0, n) for n in image.shape[1:])
        if box is not None:
            probs[(slice(None), *box)] = super().windows(image[(slice(None), *box)], tta, progress, precision)
        return probs

    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=1)

    def to_input(self, probs: np.ndarray, context: Any, volume: Volume) -> np.ndarray:
        return back_to_input(probs, context, volume, default=[1.0] + [0.0] * (probs.shape[0] - 1))

    def decide(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Argmax over the classes; foreground probability = 1 - p(background)."""
        return np.argmax(probs, axis=0), 1.0 - probs[0]


register_family("mambavesselnet")(MambaVesselNetModel.load)


def _foreground_box(image: np.ndarray) -> tuple[slice, ...] | None:
    """Bounding box of voxels > 0 (MONAI CropForeground's default), or None when there are none."""
    nonzero = np.nonzero(image > 0)
    if nonzero[0].size == 0:
        return None
    return tuple(slice(int(idx.min()), int(idx.max()) + 1) for idx in nonzero)
