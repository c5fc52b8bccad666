"""UNet++ with a 3D EfficientNet encoder, in the layout of ``segmentation_models_pytorch_3d``.

``segmentation_models_pytorch_3d.UnetPlusPlus("efficientnet-b7", in_channels=1, classes=1)`` cannot be
installed here without torchvision (its timm/pretrainedmodels dependencies import it), so this is our
own definition with the same state-dict keys and shapes: ``encoder._conv_stem``, ``encoder._bn0``,
``encoder._blocks.N._expand_conv/_bn0/_depthwise_conv/_bn1/_se_reduce/_se_expand/_project_conv/_bn2``,
``encoder._conv_head``, ``encoder._bn1``, ``decoder.blocks.x_D_L.conv{1,2}.{0,1}``, ``segmentation_head.0``.
EfficientNet's TensorFlow-style "same" padding is static, computed from the model's nominal image
size (600 for B7) as upstream does. No public weights exist (seed 001 kept ``best_model.pth``, a
plain state dict). Inference: RAS, 1.5 mm, intensity -1000..3000 -> 0..1 clipped, 96^3 windows with
0.5 overlap, sigmoid > 0.5.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cerebro.segment.catalog import ModelEntry
from cerebro.segment.grid import back_to_input, network_input
from cerebro.segment.network_model import NetworkModel
from cerebro.segment.registry import register_family
from cerebro.segment.weights.checkpoints import load_state_dict, load_weights_into
from cerebro.volume import Volume

# name: (width multiplier, depth multiplier, nominal image size, upstream stage_idxs (the first three split the
# blocks into the stride-4, 8, 16 and 32 stages), encoder output channels after the input)
EFFICIENTNETS = {
    "efficientnet-b0": (1.0, 1.0, 224, (3, 5, 9, 16), (32, 24, 40, 112, 320)),
    "efficientnet-b1": (1.0, 1.1, 240, (5, 8, 16, 23), (32, 24, 40, 112, 320)),
    "efficientnet-b2": (1.1, 1.2, 260, (5, 8, 16, 23), (32, 24, 48, 120, 352)),
    "efficientnet-b3": (1.2, 1.4, 300, (5, 8, 18, 26), (40, 32, 48, 136, 384)),
    "efficientnet-b4": (1.4, 1.8, 380, (6, 10, 22, 32), (48, 32, 56, 160, 448)),
    "efficientnet-b5": (1.6, 2.2, 456, (8, 13, 27, 39), (48, 40, 64, 176, 512)),
    "efficientnet-b6": (1.8, 2.6, 528, (9, 15, 31, 45), (56, 40, 72, 200, 576)),
    "efficientnet-b7": (2.0, 3.1, 600, (11, 18, 38, 55), (64, 48, 80, 224, 640)),
}
# EfficientNet-B0 stages: (repeats, kernel, stride, expansion, input filters, output filters); SE ratio 0.25
_B0_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
              (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
_BN = {"momentum": 0.01, "eps": 1e-3}


def _round_filters(filters: int, width: float) -> int:
    scaled = filters * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return int(rounded + 8 if rounded < 0.9 * scaled else rounded)


class SamePadConv3d(nn.Conv3d):
    """Conv3d with TensorFlow "same" padding fixed at construction from a nominal input size."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False,
                 image_size: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride=stride, groups=groups, bias=bias)
        total = max((math.ceil(image_size / stride) - 1) * stride + kernel - image_size, 0)
        self.pad = (total // 2, total - total // 2) * 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pad) if any(self.pad) else x)


class MBConvBlock(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise kxk, squeeze-excitation, 1x1 project (+ identity)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, image_size: int,
                 first_of_stage: bool) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SamePadConv3d(cin, mid, 1, image_size=image_size)
            self._bn0 = nn.BatchNorm3d(mid, **_BN)
        self._depthwise_conv = SamePadConv3d(mid, mid, kernel, stride, groups=mid, image_size=image_size)
        self._bn1 = nn.BatchNorm3d(mid, **_BN)
        squeezed = max(1, int(cin * 0.25))
        self._se_reduce = nn.Conv3d(mid, squeezed, 1)
        self._se_expand = nn.Conv3d(squeezed, mid, 1)
        self._project_conv = SamePadConv3d(mid, cout, 1, image_size=math.ceil(image_size / stride))
        self._bn2 = nn.BatchNorm3d(cout, **_BN)
        # upstream compares a one-element stride list with 1, so a stage's first block never adds the identity
        self.residual = not first_of_stage and stride == 1 and cin == cout

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = F.silu(self._bn0(self._expand_conv(inputs))) if self.expand else inputs
        x = F.silu(self._bn1(self._depthwise_conv(x)))
        scale = self._se_expand(F.silu(self._se_reduce(F.adaptive_avg_pool3d(x, 1))))
        x = self._bn2(self._project_conv(torch.sigmoid(scale) * x))
        return x + inputs if self.residual else x


class EfficientNetEncoder3d(nn.Module):
    """EfficientNet-Bn feature extractor returning the input and five feature maps (strides 2..32)."""

    def __init__(self, name: str, in_channels: int = 1) -> None:
        super().__init__()
        if name not in EFFICIENTNETS:
            raise ValueError(f"unknown encoder {name}; use one of {sorted(EFFICIENTNETS)}")
        width, depth, size, self.stage_ends, channels = EFFICIENTNETS[name]
        self.out_channels = (in_channels, *channels)
        stem = _round_filters(32, width)
        self._conv_stem = SamePadConv3d(in_channels, stem, 3, 2, image_size=size)
        self._bn0 = nn.BatchNorm3d(stem, **_BN)
        size = math.ceil(size / 2)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in _B0_STAGES:
            cin, cout = _round_filters(cin, width), _round_filters(cout, width)
            for r in range(int(math.ceil(depth * repeats))):
                blocks.append(MBConvBlock(cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1, expand,
                                          size, first_of_stage=r == 0))
                size = math.ceil(size / stride) if r == 0 else size
        self._blocks = nn.ModuleList(blocks)
        head = _round_filters(1280, width)
        self._conv_head = SamePadConv3d(_round_filters(320, width), head, 1, image_size=size)
        self._bn1 = nn.BatchNorm3d(head, **_BN)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = [x]
        x = F.silu(self._bn0(self._conv_stem(x)))
        features.append(x)
        start = 0
        for end in (*self.stage_ends[:3], len(self._blocks)):
            for block in self._blocks[start:end]:
                x = block(x)
            features.append(x)
            start = end
        return features


class Conv3dReLU(nn.Sequential):
    """3x3x3 conv (no bias) + BatchNorm3d + ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class DecoderBlock(nn.Module):
    """Nearest x2 upsampling, concatenation with the skip features, two Conv3dReLU."""

    def __init__(self, cin: int, skip: int, cout: int) -> None:
        super().__init__()
        self.conv1 = Conv3dReLU(cin + skip, cout)
        self.conv2 = Conv3dReLU(cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class UnetPlusPlusDecoder(nn.Module):
    """Nested dense skip pathways of UNet++; block ``x_D_L`` sits at depth D of decoder level L."""

    def __init__(self, encoder_channels: tuple[int, ...], decoder_channels: tuple[int, ...]) -> None:
        super().__init__()
        enc = list(encoder_channels[1:])[::-1]
        self.in_ch = [enc[0], *decoder_channels[:-1]]
        self.skip_ch = [*enc[1:], 0]
        self.depth = len(self.in_ch) - 1
        blocks = {}
        for level in range(self.depth):
            for d in range(level + 1):
                if d == 0:
                    cin, skip, cout = self.in_ch[level], self.skip_ch[level] * (level + 1), decoder_channels[level]
                else:
                    cin, skip, cout = (self.skip_ch[level - 1], self.skip_ch[level] * (level + 1 - d),
                                       self.skip_ch[level])
                blocks[f"x_{d}_{level}"] = DecoderBlock(cin, skip, cout)
        blocks[f"x_0_{self.depth}"] = DecoderBlock(self.in_ch[-1], 0, decoder_channels[-1])
        self.blocks = nn.ModuleDict(blocks)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        feats = features[1:][::-1]
        dense: dict[str, torch.Tensor] = {}
        for level in range(self.depth):
            for d in range(self.depth - level):
                if level == 0:
                    dense[f"x_{d}_{d}"] = self.blocks[f"x_{d}_{d}"](feats[d], feats[d + 1])
                    continue
                top = d + level
                skips = [dense[f"x_{i}_{top}"] for i in range(d + 1, top + 1)] + [feats[top + 1]]
                dense[f"x_{d}_{top}"] = self.blocks[f"x_{d}_{top}"](dense[f"x_{d}_{top - 1}"], torch.cat(skips, 1))
        return self.blocks[f"x_0_{self.depth}"](dense[f"x_0_{self.depth - 1}"])


class UnetPlusPlus3d(nn.Module):
    """UNet++ (encoder, decoder, 3x3x3 segmentation head) returning logits; inputs divisible by 32."""

    def __init__(self, encoder: str = "efficientnet-b7", in_channels: int = 1, classes: int = 1,
                 decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16)) -> None:
        super().__init__()
        self.encoder = EfficientNetEncoder3d(encoder, in_channels)
        self.decoder = UnetPlusPlusDecoder(self.encoder.out_channels, tuple(decoder_channels))
        self.segmentation_head = nn.Sequential(nn.Conv3d(decoder_channels[-1], classes, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.segmentation_head(self.decoder(self.encoder(x)))


def build_network(entry: ModelEntry) -> UnetPlusPlus3d:
    """An untrained UNet++ with the catalog entry's architecture options."""
    arch = dict(entry.options.get("architecture", {}))
    return UnetPlusPlus3d(arch.get("encoder", "efficientnet-b7"), arch.get("in_channels", 1), arch.get("classes", 1),
                          tuple(arch.get("decoder_channels", (256, 128, 64, 32, 16))))


class UnetPlusPlusModel(NetworkModel):
    """UNet++ (EfficientNet encoder) with the seed-001 MONAI inference recipe (see module doc)."""

    half_precision = True
    default_window = (96, 96, 96)

    @classmethod
    def load(cls, entry: ModelEntry, weights: Path | None, device: Any, allow_pickle: bool = False
             ) -> UnetPlusPlusModel:
        """Build the network and load a plain state dict (``weights=None``: random weights, timing only)."""
        network = build_network(entry)
        if weights is not None:
            load_weights_into(network, load_state_dict(weights, allow_pickle=allow_pickle), "UNet++")
        return cls(entry, network, device)

    def to_network(self, volume: Volume) -> tuple[np.ndarray, Any]:
        grid, image = network_input(volume, self.entry.input)
        return image, grid

    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    def to_input(self, probs: np.ndarray, context: Any, volume: Volume) -> np.ndarray:
        return back_to_input(probs[:1], context, volume, default=[0.0])

    def decide(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return probs[0] > float(self.entry.options.get("threshold", 0.5)), probs[0]


register_family("unetpp")(UnetPlusPlusModel.load)
