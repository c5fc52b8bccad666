"""The nnU-Net v2 results folder a training run writes: ``<out>/<Dataset>/<Trainer>__nnUNetPlans__3d_fullres/``
with ``plans.json`` (nnU-Net >= 2.4 ``architecture`` block), ``dataset.json`` and ``fold_0/`` holding
``checkpoint_final.pth`` (what CerebroSegment, ``cerebro segment`` and stock ``nnUNetv2_predict`` load),
``checkpoint_best.pth``, ``checkpoint_latest.pth`` (resume), ``training_log.csv`` and ``progress.png``.

Families with a training form: ``nnunet`` (``PlainConvUNet`` from dynamic_network_architectures, trainer
``nnUNetTrainer``) and ``umamba`` (U-Mamba Bot, trainer ``nnUNetTrainerUMambaBot``; stock nnU-Net needs the
U-Mamba package to load it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from cerebro.errors import CerebroError
from cerebro.fsutil import atomic_path
from cerebro.segment.families.nnunet.plans import CENTRELINE_CHANNEL
from cerebro.train.cases import DATA_RESAMPLING, LABEL_RESAMPLING
from cerebro.train.options import TRAINERS

PLANS_NAME = "nnUNetPlans"
CONFIGURATION = "3d_fullres"
MIRROR_AXES = (0, 1, 2)
SEG_RESAMPLING = {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None}
PROBABILITY_RESAMPLING = LABEL_RESAMPLING  # linear, as the training labels are resampled


def results_dir(out: Path, dataset_name: str, family: str) -> Path:
    """Where the results folder of ``family`` goes under ``out``."""
    if family not in TRAINERS:
        raise CerebroError(f"family '{family}' has no training form; choose one of: {', '.join(TRAINERS)}")
    return Path(out) / dataset_name / f"{TRAINERS[family]}__{PLANS_NAME}__{CONFIGURATION}"


def intensity_stats(values: np.ndarray) -> dict[str, float]:
    """nnU-Net's foreground intensity properties of raw foreground voxel values."""
    values = values.astype(np.float64)
    return {"max": float(values.max()), "mean": float(values.mean()), "median": float(np.median(values)),
            "min": float(values.min()), "percentile_00_5": float(np.percentile(values, 0.5)),
            "percentile_99_5": float(np.percentile(values, 99.5)), "std": float(values.std())}


def make_plans(dataset_name: str, spacing: list[float], patch_size: tuple[int, ...], median_shape: list[int],
               features: tuple[int, ...], stats: dict[str, float], channels: int = 1,
               batch_size: int = 2, normalization: str = "ZScoreNormalization") -> dict[str, Any]:
    """plans.json of a plain 3D U-Net with ``len(features)`` stages (strides 1, 2, 2, ...; 3^3 kernels); every
    channel normalised by ``normalization`` (``CTNormalization`` uses ``stats``, the foreground properties)."""
    n_stages = len(features)
    configuration = {
        "data_identifier": f"{PLANS_NAME}_{CONFIGURATION}", "preprocessor_name": "DefaultPreprocessor",
        "batch_size": batch_size, "patch_size": [int(p) for p in patch_size],
        "median_image_size_in_voxels": [int(v) for v in median_shape], "spacing": [float(s) for s in spacing],
        "normalization_schemes": [normalization] * channels, "use_mask_for_norm": [False] * channels,
        "resampling_fn_data": "resample_data_or_seg_to_shape", "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": dict(DATA_RESAMPLING), "resampling_fn_seg_kwargs": dict(SEG_RESAMPLING),
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": dict(PROBABILITY_RESAMPLING),
        "architecture": {
            "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
            "arch_kwargs": {
                "n_stages": n_stages, "features_per_stage": list(features),
                "conv_op": "torch.nn.modules.conv.Conv3d", "kernel_sizes": [[3, 3, 3]] * n_stages,
                "strides": [[1, 1, 1]] + [[2, 2, 2]] * (n_stages - 1), "n_conv_per_stage": [2] * n_stages,
                "n_conv_per_stage_decoder": [2] * (n_stages - 1), "conv_bias": True,
                "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
                "norm_op_kwargs": {"eps": 1e-05, "affine": True}, "dropout_op": None, "dropout_op_kwargs": None,
                "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": True},
            },
            "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
        },
        "batch_dice": True,
    }
    return {
        "dataset_name": dataset_name, "plans_name": PLANS_NAME,
        "original_median_spacing_after_transp": [float(s) for s in spacing],
        "original_median_shape_after_transp": [int(v) for v in median_shape],
        "image_reader_writer": "SimpleITKIO", "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2],
        "configurations": {CONFIGURATION: configuration},
        "experiment_planner_used": "ExperimentPlanner", "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {str(c): stats for c in range(channels)},
    }


def make_dataset_json(dataset_name: str, num_training: int, description: str,
                      centreline_channel: bool = False, channel_name: str = "angio") -> dict[str, Any]:
    """dataset.json: channel 0 the angiogram (``channel_name``: "CT" for a CT model, as nnU-Net names it),
    optionally channel 1 the centreline prior; labels background 0 / vessel 1."""
    channels = {"0": channel_name, **({"1": CENTRELINE_CHANNEL} if centreline_channel else {})}
    return {"channel_names": channels, "labels": {"background": 0, "vessel": 1}, "numTraining": num_training,
            "file_ending": ".nii.gz", "name": dataset_name, "description": description}


def build_training_network(family: str, plans: dict[str, Any], dataset: dict[str, Any]) -> nn.Module:
    """The network of ``family`` for these plans, exactly as inference builds it."""
    from cerebro.segment.families.nnunet.networks import build_network
    from cerebro.segment.families.nnunet.plans import NnUNetPlans

    return build_network(TRAINERS[family], NnUNetPlans(plans, dataset, CONFIGURATION,
                                                       plans["configurations"][CONFIGURATION]))


def checkpoint_extra(family: str) -> dict[str, Any]:
    """The keys stock nnU-Net reads from a checkpoint besides the weights."""
    return {"trainer_name": TRAINERS[family], "init_args": {"configuration": CONFIGURATION, "fold": 0},
            "inference_allowed_mirroring_axes": MIRROR_AXES}


def write_json_files(folder: Path, plans: dict[str, Any], dataset: dict[str, Any]) -> None:
    """plans.json and dataset.json, atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in (("plans.json", plans), ("dataset.json", dataset)):
        with atomic_path(folder / name) as tmp:
            Path(tmp).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def init_weights(network: nn.Module, folder: str | Path) -> None:
    """Load ``fold_0/checkpoint_final.pth`` of an existing results folder into ``network`` (fine-tuning); the
    architectures must match."""
    from cerebro.segment.families.nnunet.results_folder import find_results_folder, load_checkpoint

    source = find_results_folder(folder)
    path = source.fold_dir(0) / "checkpoint_final.pth"
    if not path.is_file():
        raise CerebroError(f"--init {folder}: {path} not found; give an nnU-Net results folder with fold_0")
    weights = load_checkpoint(path)["network_weights"]
    try:
        network.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise CerebroError(f"--init {folder}: its network does not match this run's ({first}); use the same "
                           "family, features and input channels") from None
