"""Tiny nnU-Net v2 plans and results folders, written in the published layout, for the tests."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

N_STAGES = 4
STRIDES = [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]]
KERNELS = [[3, 3, 3]] * N_STAGES
FEATURES = [4, 8, 16, 32]


def old_style_configuration(patch=(32, 32, 32), spacing=(1.0, 0.8, 0.8), scheme="CTNormalization",
                            class_name="PlainConvUNet", max_features=32) -> dict:
    """A 3d_fullres configuration as nnU-Net 2.1.1 (U-Mamba's fork) writes it."""
    return {
        "data_identifier": "nnUNetPlans_3d_fullres", "preprocessor_name": "DefaultPreprocessor", "batch_size": 2,
        "patch_size": list(patch), "median_image_size_in_voxels": [64, 64, 64], "spacing": list(spacing),
        "normalization_schemes": [scheme], "use_mask_for_norm": [False], "UNet_class_name": class_name,
        "UNet_base_num_features": FEATURES[0], "n_conv_per_stage_encoder": [2] * N_STAGES,
        "n_conv_per_stage_decoder": [2] * (N_STAGES - 1), "num_pool_per_axis": [3, 3, 3],
        "pool_op_kernel_sizes": STRIDES, "conv_kernel_sizes": KERNELS, "unet_max_num_features": max_features,
        "resampling_fn_data": "resample_data_or_seg_to_shape",
        "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None},
        "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None},
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None},
        "batch_dice": False,
    }


def new_style_configuration(patch=(32, 32, 32), spacing=(1.0, 0.8, 0.8), scheme="ZScoreNormalization") -> dict:
    """A 3d_fullres configuration as nnU-Net >= 2.4 writes it (``architecture`` block)."""
    cfg = old_style_configuration(patch, spacing, scheme)
    for key in ("UNet_class_name", "UNet_base_num_features", "n_conv_per_stage_encoder", "n_conv_per_stage_decoder",
                "num_pool_per_axis", "pool_op_kernel_sizes", "conv_kernel_sizes", "unet_max_num_features"):
        cfg.pop(key)
    cfg["architecture"] = {
        "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
        "arch_kwargs": {
            "n_stages": N_STAGES, "features_per_stage": FEATURES, "conv_op": "torch.nn.modules.conv.Conv3d",
            "kernel_sizes": KERNELS, "strides": STRIDES, "n_conv_per_stage": [2] * N_STAGES,
            "n_conv_per_stage_decoder": [2] * (N_STAGES - 1), "conv_bias": True,
            "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
            "norm_op_kwargs": {"eps": 1e-05, "affine": True}, "dropout_op": None, "dropout_op_kwargs": None,
            "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": True},
        },
        "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
    }
    return cfg


def plans_dict(configuration: dict) -> dict:
    return {
        "dataset_name": "Dataset001_Vessels", "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": [1.0, 0.8, 0.8], "original_median_shape_after_transp": [64, 64, 64],
        "image_reader_writer": "SimpleITKIO", "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2],
        "configurations": {"3d_fullres": configuration},
        "experiment_planner_used": "ExperimentPlanner", "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {
            "0": {"max": 1200.0, "mean": 300.0, "median": 280.0, "min": -200.0, "percentile_00_5": -100.0,
                  "percentile_99_5": 800.0, "std": 200.0}},
    }


DATASET = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "vessel": 1}, "numTraining": 10,
           "file_ending": ".nii.gz"}


def write_results_folder(root: Path, trainer: str, plans: dict, network: torch.nn.Module,
                         mirror_axes=(0, 1, 2), extra: dict | None = None) -> Path:
    """``root/<trainer>__nnUNetPlans__3d_fullres/{plans.json, dataset.json, fold_0/checkpoint_final.pth}``."""
    folder = root / f"{trainer}__nnUNetPlans__3d_fullres"
    (folder / "fold_0").mkdir(parents=True)
    (folder / "plans.json").write_text(json.dumps(plans, indent=2))
    (folder / "dataset.json").write_text(json.dumps(DATASET, indent=2))
    checkpoint = {
        "network_weights": network.state_dict(),
        "optimizer_state": {"state": {}, "param_groups": [{"lr": 0.01, "momentum": 0.99}]},
        "grad_scaler_state": None,
        "logging": {"mean_fg_dice": [np.float64(0.5), np.float32(0.6)], "epoch": [np.int64(1)]},
        "_best_ema": np.float64(0.7),
        "current_epoch": 1000,
        "init_args": {"plans": plans, "configuration": "3d_fullres", "fold": 0, "dataset_json": DATASET,
                      "unpack_dataset": True, "device": torch.device("cpu")},
        "trainer_name": trainer,
        "inference_allowed_mirroring_axes": mirror_axes,
        **(extra or {}),
    }
    torch.save(checkpoint, folder / "fold_0" / "checkpoint_final.pth")
    return folder


def zip_folder(folder: Path, zip_path: Path) -> Path:
    """Zip ``folder`` so the archive holds ``<folder name>/...`` like the published zips."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, path.relative_to(folder.parent).as_posix())
    return zip_path


def vessel_phantom(shape=(48, 48, 48), seed=0) -> np.ndarray:
    """CT-like int16 volume: soft tissue (~40 HU) with two bright tubes (~450 HU) and noise."""
    rng = np.random.default_rng(seed)
    k, j, i = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    image = 40 + 10 * rng.standard_normal(shape)
    tube1 = (j - shape[1] / 2) ** 2 + (i - shape[2] / 2 - 4 * np.sin(k / 6)) ** 2 < 9
    tube2 = (k - shape[0] / 3) ** 2 + (j - shape[1] / 3) ** 2 < 4
    image[tube1 | tube2] += 410
    return image.astype(np.int16)
