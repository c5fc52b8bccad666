"""Build the network of an nnU-Net results folder from its plans: plain nnU-Net nets through
``dynamic_network_architectures`` (PlainConvUNet, ResidualEncoderUNet), U-Mamba nets from
:mod:`cerebro.segment.families.nnunet.umamba`. Nothing is imported by a name read from the files."""

from __future__ import annotations

from torch import nn

from cerebro.errors import CerebroError
from cerebro.segment.families.nnunet.plans import NnUNetPlans
from cerebro.segment.families.nnunet.umamba import UMambaBot, UMambaEnc

UMAMBA_TRAINERS = {"nnUNetTrainerUMambaBot": "bot", "nnUNetTrainerUMambaEnc": "enc",
                   "nnUNetTrainerUMambaEncNoAMP": "enc"}
PLAIN_NETWORKS = ("PlainConvUNet", "ResidualEncoderUNet")


def network_kind(trainer_name: str, plans: NnUNetPlans) -> str:
    """'umamba_bot', 'umamba_enc' or the dynamic_network_architectures class name for a trainer + plans."""
    if trainer_name in UMAMBA_TRAINERS:
        return "umamba_" + UMAMBA_TRAINERS[trainer_name]
    if "UMamba" in trainer_name:
        raise CerebroError(f"unknown U-Mamba trainer '{trainer_name}'; supported: " + ", ".join(UMAMBA_TRAINERS))
    name = plans.architecture().network_class_name.rsplit(".", 1)[-1]
    if name not in PLAIN_NETWORKS:
        raise CerebroError(f"network '{name}' in plans.json is not supported; supported: "
                           + ", ".join(PLAIN_NETWORKS + tuple(UMAMBA_TRAINERS)))
    return name


def build_network(trainer_name: str, plans: NnUNetPlans) -> nn.Module:
    """The inference network (no deep supervision) for ``trainer_name`` with ``plans``' configuration."""
    kind = network_kind(trainer_name, plans)
    arch = plans.architecture()
    in_ch, n_cls = plans.num_input_channels, plans.num_segmentation_heads
    if kind == "umamba_bot":
        return UMambaBot(arch, in_ch, n_cls)
    if kind == "umamba_enc":
        return UMambaEnc(arch, in_ch, n_cls, plans.patch_size)
    from dynamic_network_architectures.architectures.unet import PlainConvUNet, ResidualEncoderUNet

    common = dict(
        input_channels=in_ch, n_stages=len(arch.features_per_stage), features_per_stage=arch.features_per_stage,
        conv_op=nn.Conv3d, kernel_sizes=arch.kernel_sizes, strides=arch.strides, num_classes=n_cls,
        n_conv_per_stage_decoder=arch.n_conv_per_stage_decoder, conv_bias=bool(arch.kwargs.get("conv_bias", True)),
        norm_op=nn.InstanceNorm3d, norm_op_kwargs=arch.kwargs.get("norm_op_kwargs") or {"eps": 1e-5, "affine": True},
        dropout_op=None, dropout_op_kwargs=None, nonlin=nn.LeakyReLU,
        nonlin_kwargs=arch.kwargs.get("nonlin_kwargs") or {"inplace": True}, deep_supervision=False,
    )
    _check_plain_ops(arch.kwargs)
    if kind == "PlainConvUNet":
        return PlainConvUNet(n_conv_per_stage=arch.n_conv_per_stage, **common)
    return ResidualEncoderUNet(n_blocks_per_stage=arch.n_conv_per_stage, **common)


def _check_plain_ops(kwargs: dict) -> None:
    """Refuse plans whose ops differ from the Conv3d/InstanceNorm3d/LeakyReLU/no-dropout set we build."""
    expected = {"conv_op": "Conv3d", "norm_op": "InstanceNorm3d", "nonlin": "LeakyReLU", "dropout_op": None}
    for key, want in expected.items():
        got = kwargs.get(key, want)
        got = None if got is None else str(got).rsplit(".", 1)[-1]
        if got != want:
            raise CerebroError(f"plans.json asks for {key}={kwargs.get(key)!r}, which is not supported "
                               f"(expected {want}); use a standard 3D nnU-Net plan")
