"""Train CerebroBench's shipped default model: a small plain nnU-Net (``PlainConvUNet``) on synthetic CTA and
TOF-MRA phantoms, written as an nnU-Net v2 results folder so that our pipeline and stock ``nnUNetv2_predict``
run the very same weights.

The preprocessing of the training cases is the inference preprocessing of
:mod:`cerebro.segment.nnunet.predict` (crop to nonzero, per-case z-score, order-3 resampling to the plans'
spacing); labels are the phantoms' vessel volume fractions resampled linearly and thresholded at 0.5.
Training: random patches (a share centred on vessels, optionally a share on CTA bone as hard negatives), flips on
all axes and intensity jitter, Dice + cross-entropy, AdamW with polynomial learning-rate decay, no deep supervision.
Plain PyTorch on the CPU.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cerebro.phantoms import DEFAULT_SPACING, generate_phantom
from cerebro.progress import Progress
from cerebro.segment.nnunet.networks import build_network
from cerebro.segment.nnunet.plans import NnUNetPlans
from cerebro.segment.nnunet.preprocess import new_shape_for_spacing, nonzero_bbox, normalize, resample
from cerebro.segment.nnunet.results_folder import find_results_folder, load_checkpoint
from cerebro.train.fast_conv_grad import fast_conv3d_weight_grad
from cerebro.volume import Volume

DATASET_NAME = "Dataset900_CerebroPhantoms"
TRAINER = "nnUNetTrainer"
PLANS_NAME = "nnUNetPlans"
CONFIGURATION = "3d_fullres"
RESULTS_FOLDER_NAME = f"{TRAINER}__{PLANS_NAME}__{CONFIGURATION}"
MODALITIES = ("cta", "mra")
# Phantom seeds: training cases use TRAIN_SEED_BASE[modality] + seed * 100 + n; held-out cases use EVAL_SEED_BASE + n.
TRAIN_SEED_BASE = {"cta": 10_000, "mra": 20_000}
EVAL_SEED_BASE = 900_000
MIRROR_AXES = (0, 1, 2)
DATA_RESAMPLING = {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None}
SEG_RESAMPLING = {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None}
PROBABILITY_RESAMPLING = {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None}
BONE_HU = 700.0  # CTA voxels above this are skull (the phantoms' vessels stay below)
MAX_BONE_CENTRES = 200_000  # bone voxels kept per case as candidate patch centres


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that defines a training run (stored in the checkpoint for reproducibility)."""

    iterations: int = 100
    seed: int = 0
    threads: int = 2
    cases_per_modality: int = 6
    case_shape: int = 112
    patch_size: tuple[int, int, int] = (64, 64, 64)  # inference tile (plans.json)
    train_patch_size: tuple[int, int, int] = (48, 48, 48)  # training crops: smaller to fit the CPU time budget
    batch_size: int = 2
    features_per_stage: tuple[int, ...] = (8, 16, 32, 64, 128)
    learning_rate: float = 3e-3
    weight_decay: float = 1e-5
    foreground_patch_fraction: float = 0.5
    init_from: str | None = None  # results folder whose fold_0 weights start the training (fine-tuning)
    cta_case_shape: int | None = None  # cube size of the CTA phantoms (None: case_shape); larger = more skull
    bone_patch_fraction: float = 0.0  # share of patches centred on CTA bone (> BONE_HU): hard negatives
    calibration_patches: int = 32  # training patches used to calibrate the decision threshold (0: skip)


@dataclass
class TrainingCase:
    """One preprocessed case: z-scored image (x, y, z) float32 on the plans' grid and its 0/1 label."""

    name: str
    image: np.ndarray
    label: np.ndarray
    foreground: np.ndarray  # (n, 3) voxel indices of the label's foreground
    bone: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 3), np.int64))  # (n, 3) CTA bone


def preprocess_case(image: Volume, fraction: Volume, target_spacing: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Image and label on the plans' grid, preprocessed exactly like inference (identity transpose).

    ``fraction`` is the vessel volume fraction per voxel on ``image``'s grid; ``target_spacing`` in mm in
    array order (k, j, i). Returns (float32 image, uint8 label), both of the resampled shape.
    """
    data = image.array.astype(np.float32)[None]
    box, nonzero = nonzero_bbox(data)
    data = data[(slice(None), *box)]
    data[0] = normalize(data[0], "ZScoreNormalization", None, False, nonzero)
    spacing = list(image.spacing[::-1])
    shape = new_shape_for_spacing(data.shape[1:], spacing, target_spacing)
    data = resample(data, shape, spacing, target_spacing, **DATA_RESAMPLING)
    frac = fraction.array[box][None].astype(np.float32)
    frac = resample(frac, shape, spacing, target_spacing, **PROBABILITY_RESAMPLING)
    return data[0], (frac[0] >= 0.5).astype(np.uint8)


def bone_voxels(raw: Volume, image: np.ndarray, seed: int) -> np.ndarray:
    """Indices (n, 3) into the preprocessed ``image`` of voxels above ``BONE_HU`` in the ``raw`` CTA (at most
    ``MAX_BONE_CENTRES``, drawn at random): the z-score of ``preprocess_case`` maps ``BONE_HU`` to one threshold."""
    data = raw.array.astype(np.float32)[None]
    box, _ = nonzero_bbox(data)
    cropped = data[(slice(None), *box)]
    threshold = (BONE_HU - float(cropped.mean())) / max(float(cropped.std()), 1e-8)
    bone = np.argwhere(image > threshold)
    if len(bone) > MAX_BONE_CENTRES:
        bone = bone[np.random.default_rng(seed).choice(len(bone), MAX_BONE_CENTRES, replace=False)]
    return bone


def training_spacing(config: TrainingConfig) -> list[float]:
    """The plans' target spacing (k, j, i) mm: the median over the training cases, as nnU-Net's planner does."""
    spacings = [DEFAULT_SPACING[m][::-1] for m in MODALITIES for _ in range(config.cases_per_modality)]
    return [float(v) for v in np.median(np.asarray(spacings), axis=0)]


def make_training_cases(config: TrainingConfig, progress: Progress | None = None
                        ) -> tuple[list[TrainingCase], dict[str, float]]:
    """Generate and preprocess the training phantoms; also the foreground intensity statistics (raw values)."""
    progress = progress or Progress()
    target = training_spacing(config)
    cases, foreground_values = [], []
    total = len(MODALITIES) * config.cases_per_modality
    for m, modality in enumerate(MODALITIES):
        for n in range(config.cases_per_modality):
            index = m * config.cases_per_modality + n
            progress.update(index / total, f"phantom {index + 1}/{total}")
            seed = TRAIN_SEED_BASE[modality] + config.seed * 100 + n
            shape = config.cta_case_shape if modality == "cta" and config.cta_case_shape else config.case_shape
            phantom = generate_phantom(shape, modality, seed)
            foreground_values.append(phantom.image.array[phantom.mask.array > 0].astype(np.float64))
            image, label = preprocess_case(phantom.image, phantom.fraction, target)
            bone = bone_voxels(phantom.image, image, seed) if modality == "cta" else np.zeros((0, 3), np.int64)
            cases.append(TrainingCase(f"{modality}_{seed}", image, label, np.argwhere(label > 0), bone))
    progress.update(1.0, "training cases ready")
    values = np.concatenate(foreground_values)
    stats = {"max": float(values.max()), "mean": float(values.mean()), "median": float(np.median(values)),
             "min": float(values.min()), "percentile_00_5": float(np.percentile(values, 0.5)),
             "percentile_99_5": float(np.percentile(values, 99.5)), "std": float(values.std())}
    return cases, stats


def make_plans(config: TrainingConfig, intensity_stats: dict[str, float]) -> dict[str, Any]:
    """An nnU-Net v2 plans.json (``architecture`` block, as nnU-Net >= 2.4 writes it) for the default model."""
    n_stages = len(config.features_per_stage)
    spacing = training_spacing(config)
    median_shape = [int(round(config.case_shape * s / t))
                    for s, t in zip(np.median([DEFAULT_SPACING[m][::-1] for m in MODALITIES], axis=0), spacing)]
    configuration = {
        "data_identifier": f"{PLANS_NAME}_{CONFIGURATION}", "preprocessor_name": "DefaultPreprocessor",
        "batch_size": config.batch_size, "patch_size": list(config.patch_size),
        "median_image_size_in_voxels": median_shape, "spacing": spacing,
        "normalization_schemes": ["ZScoreNormalization"], "use_mask_for_norm": [False],
        "resampling_fn_data": "resample_data_or_seg_to_shape", "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": dict(DATA_RESAMPLING), "resampling_fn_seg_kwargs": dict(SEG_RESAMPLING),
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": dict(PROBABILITY_RESAMPLING),
        "architecture": {
            "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
            "arch_kwargs": {
                "n_stages": n_stages, "features_per_stage": list(config.features_per_stage),
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
        "dataset_name": DATASET_NAME, "plans_name": PLANS_NAME,
        "original_median_spacing_after_transp": spacing, "original_median_shape_after_transp": median_shape,
        "image_reader_writer": "SimpleITKIO", "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2],
        "configurations": {CONFIGURATION: configuration},
        "experiment_planner_used": "ExperimentPlanner", "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {"0": intensity_stats},
    }


def make_dataset_json(num_training: int) -> dict[str, Any]:
    """dataset.json: one image channel (CTA or TOF-MRA, z-scored per case), labels background 0 / vessel 1."""
    return {"channel_names": {"0": "angio"}, "labels": {"background": 0, "vessel": 1},
            "numTraining": num_training, "file_ending": ".nii.gz",
            "name": DATASET_NAME, "description": "CerebroBench synthetic cerebrovascular phantoms (CTA and TOF-MRA)"}


class PatchSampler:
    """Random training patches: a share centred near foreground voxels, the rest uniform; flips and jitter."""

    def __init__(self, cases: list[TrainingCase], config: TrainingConfig, rng: np.random.Generator) -> None:
        self.cases, self.config, self.rng = cases, config, rng

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(images (b, 1, x, y, z) float32, labels (b, x, y, z) int64)."""
        images, labels = [], []
        for _ in range(self.config.batch_size):
            image, label = self._patch(self.cases[self.rng.integers(len(self.cases))])
            images.append(image)
            labels.append(label)
        return torch.from_numpy(np.stack(images)[:, None]), torch.from_numpy(np.stack(labels).astype(np.int64))

    def plain_patch(self, case: TrainingCase) -> tuple[np.ndarray, np.ndarray]:
        """One patch of ``case`` (float32 image, uint8 label) without augmentation."""
        return self._patch(case, augment=False)

    def _patch(self, case: TrainingCase, augment: bool = True) -> tuple[np.ndarray, np.ndarray]:
        patch = np.asarray(self.config.train_patch_size)
        shape = np.asarray(case.image.shape)
        pad = np.maximum(patch - shape, 0)
        image = np.pad(case.image, [(0, p) for p in pad], mode="constant", constant_values=case.image.min())
        label = np.pad(case.label, [(0, p) for p in pad])
        shape = np.asarray(image.shape)
        draw = self.rng.random()
        if len(case.bone) and draw < self.config.bone_patch_fraction:
            center = case.bone[self.rng.integers(len(case.bone))]
            start = center - patch // 2 + self.rng.integers(-patch // 4, patch // 4 + 1)
        elif len(case.foreground) and self.rng.random() < self.config.foreground_patch_fraction:
            center = case.foreground[self.rng.integers(len(case.foreground))]
            start = center - patch // 2 + self.rng.integers(-patch // 4, patch // 4 + 1)
        else:
            start = self.rng.integers(0, shape - patch + 1)
        start = np.clip(start, 0, shape - patch)
        box = tuple(slice(s, s + p) for s, p in zip(start, patch))
        image, label = image[box], label[box]
        if not augment:
            return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(label)
        flips = tuple(a for a in MIRROR_AXES if self.rng.random() < 0.5)
        if flips:
            image, label = np.flip(image, flips), np.flip(label, flips)
        image = image * self.rng.uniform(0.8, 1.2) + self.rng.uniform(-0.2, 0.2)
        if self.rng.random() < 0.3:
            image = image + self.rng.normal(0.0, self.rng.uniform(0.0, 0.15), image.shape)
        return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(label)


def dice_ce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy + (1 - soft Dice of the foreground over the whole batch), nnU-Net's default loss pair."""
    ce = nn.functional.cross_entropy(logits, target)
    foreground = torch.softmax(logits, dim=1)[:, 1]
    truth = (target == 1).float()
    intersection = (foreground * truth).sum()
    dice = (2 * intersection + 1e-5) / (foreground.sum() + truth.sum() + 1e-5)
    return ce + 1 - dice


def train_network(network: nn.Module, cases: list[TrainingCase], config: TrainingConfig,
                  progress: Progress | None = None) -> list[float]:
    """Train ``network`` in place for ``config.iterations`` steps; returns the loss of every step."""
    progress = progress or Progress()
    rng = np.random.default_rng(config.seed)
    sampler = PatchSampler(cases, config, rng)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: (1 - it / config.iterations) ** 0.9)
    network.train()
    losses = []
    with fast_conv3d_weight_grad(network):
        for iteration in range(config.iterations):
            images, labels = sampler.batch()
            optimizer.zero_grad(set_to_none=True)
            loss = dice_ce_loss(network(images), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(network.parameters(), 12.0)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            if iteration % 10 == 0 or iteration == config.iterations - 1:
                recent = float(np.mean(losses[-50:]))
                progress.update((iteration + 1) / config.iterations,
                                f"iteration {iteration + 1}/{config.iterations}, loss {recent:.3f}")
    network.eval()
    return losses


def calibrate_background_bias(network: nn.Module, cases: list[TrainingCase], config: TrainingConfig,
                              progress: Progress | None = None) -> float:
    """Move the network's argmax to the foreground-probability threshold that maximises Dice on training patches.

    Short CPU training leaves the softmax over-confident for vessels (argmax over-segments). For two classes,
    ``P(vessel) > t`` is the same as an argmax after adding ``log(t / (1 - t))`` to the background logit, so the
    threshold goes into the bias of the output layer: the weights stay a plain nnU-Net checkpoint and stock
    nnU-Net gives the same masks. ``t`` is searched in 0.05 steps on ``config.calibration_patches`` patches
    drawn uniformly from the training cases (as whole volumes are seen at inference; no augmentation). Returns ``t``.
    """
    progress = progress or Progress()
    rng = np.random.default_rng(config.seed + 1)
    sampler = PatchSampler(cases, dataclasses.replace(config, batch_size=1, train_patch_size=config.patch_size,
                                                    foreground_patch_fraction=0.0),
                           rng)
    probabilities, truths = [], []
    network.eval()
    with torch.inference_mode():
        for n in range(config.calibration_patches):
            progress.update(n / config.calibration_patches, "calibrating the decision threshold")
            case = cases[rng.integers(len(cases))]
            image, label = sampler.plain_patch(case)
            logits = network(torch.from_numpy(image)[None, None])
            probabilities.append(torch.softmax(logits, 1)[0, 1].numpy().ravel())
            truths.append(label.ravel() > 0)
    prob, truth = np.concatenate(probabilities), np.concatenate(truths)
    thresholds = np.round(np.arange(0.05, 0.96, 0.05), 2)
    scores = [2 * np.count_nonzero((prob > t) & truth) / max(np.count_nonzero(prob > t) + truth.sum(), 1)
              for t in thresholds]
    best = float(thresholds[int(np.argmax(scores))])
    seg_layer = network.decoder.seg_layers[-1]
    with torch.no_grad():
        seg_layer.bias[0] += float(np.log(best / (1 - best)))
    progress.update(1.0, f"threshold {best:.2f} (training-patch Dice {max(scores):.3f})")
    return best


def train_default_model(out: str | os.PathLike[str], config: TrainingConfig | None = None,
                        progress: Progress | None = None) -> Path:
    """Generate phantoms, train, and write ``out/<DATASET_NAME>/<RESULTS_FOLDER_NAME>/`` (plans.json,
    dataset.json, fold_0/checkpoint_final.pth); the folder is replaced in one step. Returns its path."""
    config = config or TrainingConfig()
    progress = progress or Progress()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    cases, stats = make_training_cases(config, progress.sub(0.0, 0.1))
    plans = make_plans(config, stats)
    dataset = make_dataset_json(len(cases))
    network = build_network(TRAINER, NnUNetPlans(plans, dataset, CONFIGURATION, plans["configurations"][CONFIGURATION]))
    if config.init_from is not None:
        start = load_checkpoint(find_results_folder(config.init_from).fold_dir(0) / "checkpoint_final.pth")
        network.load_state_dict(start["network_weights"], strict=True)
    losses = train_network(network, cases, config, progress.sub(0.1, 0.95)) if config.iterations > 0 else []
    if config.calibration_patches > 0:
        calibrate_background_bias(network, cases, config, progress.sub(0.95, 1.0))
    seconds = time.perf_counter() - started
    return write_results_folder(Path(out), network, plans, dataset, config, losses, seconds)


def write_results_folder(out: Path, network: nn.Module, plans: dict[str, Any], dataset: dict[str, Any],
                         config: TrainingConfig, losses: list[float], seconds: float) -> Path:
    """Write the nnU-Net v2 results folder atomically (built in a temporary folder, then renamed)."""
    target = out / DATASET_NAME / RESULTS_FOLDER_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".train-", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the results folder is meant to be shared and shipped
    try:
        (tmp / "fold_0").mkdir()
        (tmp / "plans.json").write_text(json.dumps(plans, indent=2) + "\n", encoding="utf-8")
        (tmp / "dataset.json").write_text(json.dumps(dataset, indent=2) + "\n", encoding="utf-8")
        checkpoint = {
            "network_weights": network.state_dict(),
            "trainer_name": TRAINER,
            "init_args": {"configuration": CONFIGURATION, "fold": 0},
            "inference_allowed_mirroring_axes": MIRROR_AXES,
            "current_epoch": config.iterations,
            "cerebro_training": {**{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
                                 "seconds": round(seconds, 1), "torch": str(torch.__version__),
                                 "final_loss": float(np.mean(losses[-50:])) if losses else None},
        }
        torch.save(checkpoint, tmp / "fold_0" / "checkpoint_final.pth")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def evaluate_on_phantoms(model: Any, shape: int = 128, cases_per_modality: int = 2, tta: bool = True,
                         progress: Progress | None = None) -> list[dict[str, Any]]:
    """Dice of ``model.predict`` (any loaded segmentation model) against the exact masks of held-out phantoms.

    The phantoms use seeds ``EVAL_SEED_BASE + n`` (never used for training), both modalities, cubes of ``shape``
    voxels at the phantoms' default spacing. Returns one dict per case: modality, seed, dice, seconds.
    """
    from cerebro.metrics.overlap import dice

    progress = progress or Progress()
    rows = []
    total = len(MODALITIES) * cases_per_modality
    for m, modality in enumerate(MODALITIES):
        for n in range(cases_per_modality):
            index = m * cases_per_modality + n
            part = progress.sub(index / total, (index + 1) / total)
            seed = EVAL_SEED_BASE + n
            phantom = generate_phantom(shape, modality, seed, progress=part.sub(0.0, 0.3))
            started = time.perf_counter()
            result = model.predict(phantom.image, tta=tta, progress=part.sub(0.3, 1.0))
            rows.append({"modality": modality, "seed": seed, "shape": shape, "tta": tta,
                         "dice": dice(phantom.mask, result.mask), "seconds": time.perf_counter() - started})
    return rows
