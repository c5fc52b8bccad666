"""The recipe of CerebroBench's shipped default models: small plain nnU-Nets (``PlainConvUNet``, 5 stages,
8-128 features) written as nnU-Net v2 results folders so that our pipeline and stock ``nnUNetv2_predict`` run the
very same weights, trained with the shared trainer (:mod:`cerebro.train.trainer`):

- ``modality="any"`` (the TOF-MRA model, z-score per case): domain-randomised cases
  (:mod:`cerebro.train.synthetic`) of every style plus CTA and TOF-MRA phantoms of our generator;
- ``modality="cta"`` (the CT model, nnU-Net's ``CTNormalization`` with the training foreground's statistics
  written into plans.json): whole-head-like CTA windows (:mod:`cerebro.train.synthetic_ct`), the domain-randomised
  cases in CT style and CTA phantoms.

After training, the decision threshold is calibrated on training patches and folded into the output layer's
bias (:func:`calibrate_background_bias`), so a plain argmax applies it. ``export`` copies plans, dataset.json and
``checkpoint_final.pth`` (the files that ship) into the package folder.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cerebro.errors import CerebroError
from cerebro.phantoms import generate_phantom
from cerebro.progress import Progress
from cerebro.train.augment import BatchMaker, CompressionAugment
from cerebro.train.cases import CTIntensity, FixedCase, fixed_case
from cerebro.train.losses import make_loss
from cerebro.train.options import TrainOptions
from cerebro.train.results import (
    CONFIGURATION,
    PLANS_NAME,
    build_training_network,
    checkpoint_extra,
    init_weights,
    intensity_stats,
    make_dataset_json,
    make_plans,
    results_dir,
    write_json_files,
)
from cerebro.train.sampling import PatchSampler
from cerebro.train.synthetic import SyntheticCase, draw_appearance, generate_case
from cerebro.train.synthetic_ct import generate_ct_case
from cerebro.train.trainer import Trainer, write_log

DATASET_NAME = "Dataset900_CerebroPhantoms"
CT_DATASET_NAME = "Dataset902_CerebroCTA"
MODEL_MODALITIES = ("any", "cta")
TRAINER = "nnUNetTrainer"
RESULTS_FOLDER_NAME = f"{TRAINER}__{PLANS_NAME}__{CONFIGURATION}"
MODALITIES = ("cta", "mra")
PLAN_SPACING = [0.55, 0.4, 0.4]  # (k, j, i) mm: the median spacing of the first model's phantoms, kept
# Seeds: phantoms TRAIN_SEED_BASE[modality] + n; synthetic cases SYNTHETIC_SEED_BASE + n, validation
# VALIDATION_SEED_BASE + n (held-out phantoms use cerebro.train.evaluate.EVAL_SEED_BASE + n, never trained on).
TRAIN_SEED_BASE = {"cta": 10_000, "mra": 20_000}
SYNTHETIC_SEED_BASE = 100_000
CT_SEED_BASE = 300_000  # whole-head CTA windows: CT_SEED_BASE + 1000 * seed + n; validation VALIDATION + 100 + n
VALIDATION_SEED_BASE = 500_000
DESCRIPTIONS = {"any": "CerebroBench default vessel model: domain-randomised synthetic angiograms and CTA / "
                "TOF-MRA phantoms",
                "cta": "CerebroBench default CTA vessel model (Hounsfield units, CTNormalization): whole-head-like "
                "synthetic CTA and CTA phantoms"}
SHIPPED_FILES = ("plans.json", "dataset.json", "fold_0/checkpoint_final.pth")


# The default model's recipe: cerebro train's options, with its own budget and dataset name.
DEFAULT_OPTIONS = TrainOptions(iterations=4000, validate_every=250, dataset_name=DATASET_NAME)


@dataclass(frozen=True)
class DefaultModelData:
    """What the default model trains on — domain-randomised cases and phantoms — and how its run is set up around
    the recipe (:class:`~cerebro.train.options.TrainOptions`); stored in the checkpoints as ``cerebro_training``."""

    threads: int = 2
    synthetic_cases: int = 48
    phantoms_per_modality: int = 4
    cta_phantom_shape: int = 144
    mra_phantom_shape: int = 112
    phantom_share: float = 0.3  # share of patches drawn from the phantoms
    validation_cases: int = 4
    bone_fraction: float = 0.2
    wider_view: float = 0.0  # share of synthetic draws normalised as if in a larger field of view
    calibration_patches: int = 32
    modality: str = "any"  # "any": the z-score model of every style; "cta": the CT model (CTNormalization)
    ct_share: float = 0.6  # CT model: share of its synthetic cases from the whole-head CTA generator


def make_cases(config: DefaultModelData, seed: int, progress: Progress | None = None
               ) -> tuple[list[Any], list[float], dict[str, float]]:
    """Training cases (synthetic then phantoms), their sampling weights and the foreground intensity statistics
    (of the phantoms; for the CT model, of the synthetic cases under drawn appearances too)."""
    progress = progress or Progress()
    ct = config.modality == "cta"
    modalities = ("cta",) if ct else MODALITIES
    total = config.synthetic_cases + len(modalities) * config.phantoms_per_modality
    head_cases = int(round(config.synthetic_cases * config.ct_share)) if ct else 0
    cases: list[Any] = []
    values = []
    for n in range(config.synthetic_cases):
        progress.update(n / total, f"synthetic case {n + 1}")
        if n < head_cases:
            case: Any = generate_ct_case(CT_SEED_BASE + seed * 1000 + n, PLAN_SPACING)
        else:
            case = generate_case(SYNTHETIC_SEED_BASE + seed * 1000 + n, PLAN_SPACING)
            case.wider_view, case.style = config.wider_view, ("ct" if ct else None)
        if ct:
            values.append(_foreground_values(case, np.random.default_rng(seed * 1000 + n)))
        cases.append(case)
    phantoms = []
    for modality in modalities:
        shape = config.cta_phantom_shape if modality == "cta" else config.mra_phantom_shape
        for n in range(config.phantoms_per_modality):
            progress.update((len(cases) + len(phantoms)) / total, f"{modality} phantom {n + 1}")
            seed = TRAIN_SEED_BASE[modality] + seed * 100 + n
            phantom = generate_phantom(shape, modality, seed)
            values.append(phantom.image.array[phantom.mask.array > 0])
            phantoms.append(fixed_case(f"{modality}_{seed}", phantom.image, phantom.fraction.array, PLAN_SPACING,
                                       modality, seed=seed))
    synthetic, real = len(cases), len(phantoms)
    cases.extend(phantoms)
    share = config.phantom_share if real and synthetic else (1.0 if real else 0.0)
    weights = [(1 - share) / max(synthetic, 1)] * synthetic + [share / max(real, 1)] * real
    progress.update(1.0, f"{synthetic} synthetic cases, {real} phantoms")
    stats = intensity_stats(np.concatenate(values)) if values else intensity_stats(np.zeros(1))
    return cases, weights, stats


def _foreground_values(case: Any, rng: np.random.Generator, draws: int = 3, per_draw: int = 4000) -> np.ndarray:
    """Raw intensities of label voxels of a synthetic case under ``draws`` drawn appearances (a sample of each)."""
    out = []
    for _ in range(draws):
        look, _, _ = case.draw(rng)
        image = case.raw_patch((slice(None),) * 3, look, rng)
        values = image[case.label > 0]
        if len(values) > per_draw:
            values = rng.choice(values, per_draw, replace=False)
        out.append(values)
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def validation_cases(config: DefaultModelData) -> list[FixedCase]:
    """Synthetic validation cases (their own seeds) with one fixed appearance each, as fixed images (whole-head
    CTA windows for the CT model)."""
    out = []
    for n in range(config.validation_cases):
        seed = VALIDATION_SEED_BASE + n
        if config.modality == "cta":
            rng = np.random.default_rng(seed)
            head = generate_ct_case(VALIDATION_SEED_BASE + 100 + n, PLAN_SPACING)
            raw = head.raw_patch((slice(None),) * 3, head.draw(rng)[0], rng)
            out.append(FixedCase(head.name, raw, head.label, 0.0, 1.0, head.foreground, head.bone))
            continue
        case = generate_case(seed, PLAN_SPACING)
        out.append(frozen_case(case, np.random.default_rng(seed)))
    return out


def frozen_case(case: SyntheticCase, rng: np.random.Generator) -> FixedCase:
    """A synthetic case with one drawn appearance, as a FixedCase (raw image and z-score statistics)."""
    look = draw_appearance(rng)
    raw = case.raw_patch((slice(None),) * 3, look, rng)
    return FixedCase(case.name, raw, case.label, float(raw.mean()), max(float(raw.std()), 1e-6),
                     case.foreground, case.bone)


def calibrate_background_bias(network: nn.Module, batches: BatchMaker, patches: int,
                              progress: Progress | None = None) -> tuple[float, float]:
    """Move the network's argmax to the foreground-probability threshold that maximises Dice on training patches.

    For two classes, ``P(vessel) > t`` is the same as an argmax after adding ``log(t / (1 - t))`` to the
    background logit, so the threshold goes into the bias of the output layer: the weights stay a plain nnU-Net
    checkpoint and stock nnU-Net gives the same masks. ``t`` is searched in 0.05 steps on ``patches`` uniformly
    drawn, unaugmented patches. Returns (t, Dice at t).
    """
    progress = progress or Progress()
    rng = np.random.default_rng(12345)
    probabilities, truths = [], []
    network.eval()
    with torch.inference_mode():
        for n in range(patches):
            progress.update(n / patches, "calibrating the decision threshold")
            image, label, _ = batches.patch(rng, augment=False)
            logits = network(torch.from_numpy(image)[None])
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
    return best, float(max(scores))


def train_default_model(out: str | Path, options: TrainOptions = DEFAULT_OPTIONS, data: DefaultModelData | None = None,
                        resume: bool = False, progress: Progress | None = None) -> Path:
    """Generate the cases, train (resuming from ``checkpoint_latest.pth`` when asked and present), calibrate,
    and write ``out/<options.dataset_name>/<RESULTS_FOLDER_NAME>/``. Returns the results folder."""
    options.check()
    data = data or DefaultModelData()
    if data.modality not in MODEL_MODALITIES:
        raise CerebroError(f"unknown default-model modality '{data.modality}'; choose one of: "
                           f"{', '.join(MODEL_MODALITIES)}")
    progress = progress or Progress()
    torch.set_num_threads(data.threads)
    torch.manual_seed(options.seed)
    started = time.perf_counter()
    cases, weights, stats = make_cases(data, options.seed, progress.sub(0.0, 0.05))
    folder = results_dir(Path(out), options.dataset_name, options.family)
    median = [int(np.median([c.shape[d] for c in cases])) for d in range(3)]
    ct = CTIntensity(stats) if data.modality == "cta" else None
    plans = make_plans(options.dataset_name, PLAN_SPACING, options.inference_patch_size, median, options.features,
                       stats, batch_size=options.batch_size,
                       normalization="CTNormalization" if ct else "ZScoreNormalization")
    dataset = make_dataset_json(options.dataset_name, len(cases), DESCRIPTIONS[data.modality],
                                channel_name="CT" if ct else "angio")
    write_json_files(folder, plans, dataset)
    network = build_training_network(options.family, plans, dataset)
    if options.init is not None:
        init_weights(network, options.init)
    sampler = PatchSampler(cases, options.patch_size, options.sampling, options.foreground_fraction,
                           data.bone_fraction, weights)
    batches = BatchMaker(cases, sampler, options.batch_size,
                         CompressionAugment(options.compression_probability, options.compression_ratios), ct=ct)
    extra = {**checkpoint_extra(options.family), "cerebro_training": asdict(data)}
    trainer = Trainer(network, batches, make_loss(options.loss), options, folder / "fold_0", extra,
                      validation_cases(data))
    latest = folder / "fold_0" / "checkpoint_latest.pth"
    if resume and latest.is_file():
        trainer.resume(torch.load(latest, weights_only=True))
    state = trainer.run(progress.sub(0.05, 0.97))
    if data.calibration_patches > 0:
        calibration = BatchMaker(cases, PatchSampler(cases, options.inference_patch_size, "uniform"), 1,
                                 CompressionAugment(0.0), intensity=False, ct=ct)
        threshold, score = calibrate_background_bias(network, calibration, data.calibration_patches,
                                                     progress.sub(0.97, 1.0))
        trainer.extra["cerebro_training"].update({"threshold": threshold, "calibration_dice": round(score, 4)})
    trainer.extra["cerebro_training"]["seconds"] = round(time.perf_counter() - started, 1)
    trainer.extra["cerebro_training"]["final_loss"] = state.log[-1]["loss"] if state.log else None
    trainer.save("checkpoint_final.pth")
    write_log(folder / "fold_0", state.log)
    return folder


def export(folder: Path, target: Path) -> Path:
    """Copy the files that ship (plans, dataset.json, fold_0/checkpoint_final.pth) into ``target`` (replaced)."""
    destination = target / folder.parent.name / RESULTS_FOLDER_NAME
    if destination.exists():
        shutil.rmtree(destination)
    for name in SHIPPED_FILES:
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / name, destination / name)
    return destination
