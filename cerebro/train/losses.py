"""Training losses of the recipes, on two-class logits (b, 2, x, y, z) so every model stays an nnU-Net network:

- ``ce+dice``: MONAI ``DiceCELoss`` (softmax, batch Dice), nnU-Net's default;
- ``bce+dice``: binary cross-entropy + Dice on the vessel logit ``l1 - l0`` (the PVS / UNet++ pipeline);
- ``cldice``: ``ce+dice`` + MONAI ``SoftclDiceLoss`` (soft-skeleton centreline Dice, Shit et al. 2021);
- ``skeleton-recall``: ``ce+dice`` + (1 - soft recall of the label's tubed skeleton), Kirchhoff et al. 2024;
- ``mip``: ``ce+dice`` + Dice of the maximum-intensity projections of prediction and label along the three
  axes (SPOCKMIP's MIP loss).
Every loss takes (logits, target (b, x, y, z) int64, skeleton (b, x, y, z) float or None).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from cerebro.errors import CerebroError
from cerebro.train.options import LOSSES

NEEDS_SKELETON = ("skeleton-recall",)
LossFunction = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def _soft_dice(probability: torch.Tensor, truth: torch.Tensor, smooth: float = 1e-5) -> torch.Tensor:
    """1 - soft Dice over the whole batch."""
    intersection = (probability * truth).sum()
    return 1 - (2 * intersection + smooth) / (probability.sum() + truth.sum() + smooth)


def make_loss(name: str, extra_weight: float = 1.0) -> LossFunction:
    """The loss function of recipe ``name``; ``extra_weight`` scales the topology / MIP term."""
    if name not in LOSSES:
        raise CerebroError(f"unknown loss '{name}'; choose one of: {', '.join(LOSSES)}")
    from monai.losses import DiceCELoss, DiceLoss, SoftclDiceLoss

    dice_ce = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    if name == "bce+dice":
        bce = nn.BCEWithLogitsLoss()
        dice = DiceLoss(sigmoid=True, batch=True)

        def bce_dice(logits: torch.Tensor, target: torch.Tensor, skeleton: torch.Tensor | None) -> torch.Tensor:
            vessel = (logits[:, 1] - logits[:, 0])[:, None]
            truth = (target == 1).float()[:, None]
            return bce(vessel, truth) + dice(vessel, truth)

        return bce_dice

    def base(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return dice_ce(logits, target[:, None])

    if name == "ce+dice":
        return lambda logits, target, skeleton: base(logits, target)
    if name == "cldice":
        cl = SoftclDiceLoss(iter_=3, include_background=False, to_onehot_y=True, softmax=True)
        return lambda logits, target, skeleton: base(logits, target) + extra_weight * cl(logits, target[:, None])
    if name == "skeleton-recall":
        def skeleton_recall(logits: torch.Tensor, target: torch.Tensor, skeleton: torch.Tensor | None) -> torch.Tensor:
            if skeleton is None:
                raise CerebroError("the skeleton-recall loss needs the label skeletons")
            vessel = torch.softmax(logits, dim=1)[:, 1]
            recall = ((vessel * skeleton).sum() + 1e-5) / (skeleton.sum() + 1e-5)
            return base(logits, target) + extra_weight * (1 - recall)

        return skeleton_recall

    def mip(logits: torch.Tensor, target: torch.Tensor, skeleton: torch.Tensor | None) -> torch.Tensor:
        vessel = torch.softmax(logits, dim=1)[:, 1]
        truth = (target == 1).float()
        projections = sum(_soft_dice(vessel.amax(dim=axis), truth.amax(dim=axis)) for axis in (1, 2, 3)) / 3
        return base(logits, target) + extra_weight * projections

    return mip


def tubed_skeleton(label: np.ndarray) -> np.ndarray:
    """The label's skeleton dilated by one voxel (a 3x3x3 cube), float32: the skeleton-recall target."""
    from scipy.ndimage import binary_dilation

    from cerebro.metrics.topology import skeleton

    array = np.asarray(label) > 0
    if not array.any():
        return np.zeros(array.shape, np.float32)
    return binary_dilation(skeleton(array), np.ones((3, 3, 3), bool)).astype(np.float32)
