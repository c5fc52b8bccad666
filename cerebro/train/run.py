"""``cerebro train``: train a catalog family's network on a labelled dataset with one of the recipes and write an
nnU-Net v2 results folder (see :mod:`cerebro.train.results`).

The last ``validation`` share of the cases (at least one; the only case itself when there is one) is kept out
of training and scored by sliding window every ``validate_every`` iterations; the best checkpoint is kept. The
plans' spacing is the median of the training cases' spacings, as nnU-Net's planner chooses it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cerebro.device import resolve_device
from cerebro.errors import CerebroError
from cerebro.fsutil import removed_on_failure
from cerebro.progress import Progress
from cerebro.train.augment import BatchMaker, CompressionAugment
from cerebro.train.cases import dataset_cases
from cerebro.train.losses import NEEDS_SKELETON, make_loss, tubed_skeleton
from cerebro.train.options import TrainOptions
from cerebro.train.results import (
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
from cerebro.train.trainer import Trainer, write_log


def split_cases(cases: list, share: float) -> tuple[list, list]:
    """(training, validation): the last ``share`` of the cases (at least one) validate; one case does both."""
    if len(cases) == 1:
        return cases, cases
    count = max(1, int(round(share * len(cases)))) if share > 0 else 0
    return (cases[:-count], cases[-count:]) if count else (cases, [])


def train(manifest_cases: list, out: str | Path, options: TrainOptions, resume: bool = False, device: str = "auto",
          progress: Progress | None = None) -> Path:
    """Train on the labelled ``manifest_cases`` (``cerebro.datasets.Case``) and write the results folder under
    ``out``; returns it. ``resume`` continues from its ``checkpoint_latest.pth``."""
    options.check()
    progress = progress or Progress()
    device = str(resolve_device(device, mps=False))
    folder = results_dir(Path(out), options.dataset_name, options.family)
    latest = folder / "fold_0" / "checkpoint_latest.pth"
    if resume and not latest.is_file():
        raise CerebroError(f"--resume: no checkpoint to resume in {folder}; run without --resume first")
    if not resume and latest.is_file():
        raise CerebroError(f"{folder} already holds a training run; pass --resume to continue it or choose "
                           "another --out")
    checkpoint = torch.load(latest, map_location="cpu", weights_only=True) if resume else None
    if checkpoint is not None and not options.matches(checkpoint.get("cerebro_options")):
        raise CerebroError(f"--resume: the run in {folder} was started with other options; give the same "
                           "options or choose another --out")
    if not manifest_cases:
        raise CerebroError("the dataset has no cases; check the folder and --layout")
    from cerebro.datasets.checks import read_geometry

    train_cases, val_cases = split_cases(list(manifest_cases), options.validation)
    spacing = [float(v) for v in np.median([read_geometry(c.image_path).spacing[::-1] for c in train_cases],
                                                  axis=0)]
    cases = dataset_cases(train_cases, spacing, options.centreline_channel, progress.sub(0.0, 0.08))
    validation = dataset_cases(val_cases, spacing, options.centreline_channel, progress.sub(0.08, 0.1)) \
        if val_cases is not train_cases else cases
    if not any(len(c.foreground) for c in cases):
        raise CerebroError("no training case has any vessel voxel in its label; check the labels")
    foreground = np.concatenate([c.raw[c.label > 0] for c in cases if len(c.foreground)])
    median_shape = [int(np.median([c.shape[d] for c in cases])) for d in range(3)]
    channels = 2 if options.centreline_channel else 1
    plans = make_plans(options.dataset_name, spacing, options.inference_patch_size, median_shape, options.features,
                       intensity_stats(foreground), channels, options.batch_size)
    if options.centreline_channel:
        plans["configurations"]["3d_fullres"]["normalization_schemes"][1] = "NoNormalization"
    dataset = make_dataset_json(options.dataset_name, len(cases), "trained with cerebro train",
                                options.centreline_channel)
    # A failure before the first checkpoint (a full disk, Ctrl+C) leaves no results folder; after it, it resumes.
    with removed_on_failure(Path(out), keep=latest.is_file):
        write_json_files(folder, plans, dataset)
        torch.manual_seed(options.seed)
        network = build_training_network(options.family, plans, dataset)
        if options.init and checkpoint is None:
            init_weights(network, options.init)
        skeletons = [tubed_skeleton(c.label) for c in cases] if options.loss in NEEDS_SKELETON else None
        sampler = PatchSampler(cases, options.patch_size, options.sampling, options.foreground_fraction)
        compression = CompressionAugment(options.compression_probability, options.compression_ratios)
        batches = BatchMaker(cases, sampler, options.batch_size, compression, skeletons)
        trainer = Trainer(network, batches, make_loss(options.loss), options, folder / "fold_0",
                          checkpoint_extra(options.family), validation, device)
        if checkpoint is not None:
            trainer.resume(checkpoint)
        state = trainer.run(progress.sub(0.1, 1.0))
        trainer.save("checkpoint_final.pth")
        write_log(folder / "fold_0", state.log)
    return folder
