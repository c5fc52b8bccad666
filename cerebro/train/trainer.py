"""The training loop shared by ``cerebro train`` and the default model: AdamW with polynomial learning-rate
decay, gradient clipping, a checkpoint every ``checkpoint_every`` iterations (network, optimizer, schedule and
random-generator states: a killed run resumes exactly where its last checkpoint was), validation by sliding
window every ``validate_every`` iterations with the best checkpoint kept, a CSV log and a loss / Dice plot.
Progress is reported per iteration and the run can be cancelled between iterations.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cerebro.fsutil import atomic_path, require_free_space
from cerebro.progress import Progress
from cerebro.train.augment import BatchMaker
from cerebro.train.cases import CTIntensity, FixedCase
from cerebro.train.fast_conv_grad import fast_conv3d_weight_grad
from cerebro.train.losses import LossFunction
from cerebro.train.options import TrainOptions

LOG_FIELDS = ("iteration", "loss", "learning_rate", "seconds", "val_dice", "compressed_patches")


@dataclass
class TrainingState:
    """What a checkpoint holds besides the weights."""

    iteration: int
    log: list[dict[str, Any]]
    best_dice: float


def validation_dice(network: nn.Module, cases: list[FixedCase], patch_size: tuple[int, ...],
                    ct: CTIntensity | None = None) -> float:
    """Mean Dice of the network's argmax over whole validation cases (Gaussian sliding window, no mirroring;
    normalised by ``ct`` for a CT model)."""
    from cerebro.metrics.overlap import dice
    from cerebro.segment.families.nnunet.sliding_window import sliding_window_logits

    network.eval()
    scores = []
    with torch.inference_mode():
        for case in cases:
            logits = sliding_window_logits(network, torch.from_numpy(case.normalized(ct)), list(patch_size), 2, None)
            mask = torch.argmax(logits, 0).numpy()
            scores.append(dice(case.label, mask.astype(np.uint8)))
    network.train()
    return float(np.mean(scores)) if scores else float("nan")


class Trainer:
    """Trains ``network`` on batches from ``batches``; writes checkpoints into ``fold_dir``."""

    def __init__(self, network: nn.Module, batches: BatchMaker, loss: LossFunction, options: TrainOptions,
                 fold_dir: Path, checkpoint_extra: dict[str, Any], validation: list[FixedCase] | None = None,
                 device: str = "cpu") -> None:
        self.network, self.batches, self.loss, self.options = network.to(device), batches, loss, options
        self.fold_dir, self.extra, self.validation = fold_dir, checkpoint_extra, validation or []
        self.device = device
        self.optimizer = torch.optim.AdamW(network.parameters(), lr=options.learning_rate,
                                           weight_decay=options.weight_decay)
        total = max(options.iterations, 1)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer,
                                                          lambda it: max(1 - it / total, 0.0) ** 0.9)
        self.rng = np.random.default_rng(options.seed)
        self.state = TrainingState(0, [], -1.0)

    def resume(self, checkpoint: dict[str, Any]) -> None:
        """Continue from a ``checkpoint_latest.pth`` dict written by this trainer."""
        self.network.load_state_dict(checkpoint["network_weights"])
        self.optimizer.load_state_dict(checkpoint["optimizer_state"])
        self.schedule.load_state_dict(checkpoint["scheduler_state"])
        self.rng.bit_generator.state = checkpoint["cerebro_rng"]
        torch.set_rng_state(checkpoint["torch_rng"])
        self.state = TrainingState(int(checkpoint["current_epoch"]), list(checkpoint["cerebro_log"]),
                                   float(checkpoint["cerebro_best_dice"]))
        self.batches.compressed = int(checkpoint["cerebro_log"][-1]["compressed_patches"]) if self.state.log else 0

    def run(self, progress: Progress | None = None) -> TrainingState:
        """Train up to ``options.iterations``; returns the final state (the log holds every row)."""
        progress = progress or Progress()
        settings, state = self.options, self.state
        self.network.train()
        losses: list[float] = []
        started = time.perf_counter() - (state.log[-1]["seconds"] if state.log else 0.0)
        with fast_conv3d_weight_grad(self.network):
            while state.iteration < settings.iterations:
                progress.check_cancelled()
                images, labels, skeletons = self.batches.batch(self.rng)
                images, labels = images.to(self.device), labels.to(self.device)
                skeletons = skeletons.to(self.device) if skeletons is not None else None
                self.optimizer.zero_grad(set_to_none=True)
                loss = self.loss(self.network(images), labels, skeletons)
                loss.backward()
                nn.utils.clip_grad_norm_(self.network.parameters(), 12.0)
                self.optimizer.step()
                self.schedule.step()
                state.iteration += 1
                losses.append(float(loss.detach()))
                it = state.iteration
                val = float("nan")
                if self.validation and (it % settings.validate_every == 0 or it == settings.iterations):
                    val = validation_dice(self.network, self.validation, settings.inference_patch_size,
                                          self.batches.ct)
                text = f"iteration {it}/{settings.iterations}, loss {np.mean(losses):.3f}"
                text += "" if np.isnan(val) else f", validation Dice {val:.3f}"
                progress.update(it / settings.iterations, text)
                if it % settings.log_every == 0 or it == settings.iterations or not np.isnan(val):
                    state.log.append({"iteration": it, "loss": float(np.mean(losses)),
                                      "learning_rate": self.optimizer.param_groups[0]["lr"],
                                      "seconds": round(time.perf_counter() - started, 2),
                                      "val_dice": val, "compressed_patches": self.batches.compressed})
                    losses = []
                    if it % settings.checkpoint_every == 0 or not np.isnan(val):
                        progress.log(text)
                if not np.isnan(val) and val > state.best_dice:
                    state.best_dice = val
                    self.save("checkpoint_best.pth")
                if it % settings.checkpoint_every == 0 or it == settings.iterations:
                    self.save("checkpoint_latest.pth", full=True)
                    write_log(self.fold_dir, state.log)
        self.network.eval()
        return state

    def save(self, name: str, full: bool = False) -> Path:
        """Write a checkpoint atomically (stock nnU-Net's keys; ``full`` adds what resuming needs)."""
        checkpoint = {"network_weights": self.network.state_dict(), "current_epoch": self.state.iteration,
                      **self.extra, "cerebro_options": self.options.as_dict()}
        if full:
            checkpoint.update({"optimizer_state": self.optimizer.state_dict(),
                               "scheduler_state": self.schedule.state_dict(),
                               "cerebro_rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                               "cerebro_log": list(self.state.log), "cerebro_best_dice": self.state.best_dice})
        path = self.fold_dir / name
        buffer = io.BytesIO()  # serialised first: torch.save on a full disk is a RuntimeError from its zip writer
        torch.save(checkpoint, buffer)
        require_free_space(path, buffer.getbuffer().nbytes)
        with atomic_path(path) as tmp:
            tmp.write_bytes(buffer.getbuffer())
        return path


def write_log(fold_dir: Path, log: list[dict[str, Any]]) -> None:
    """``training_log.csv`` (one row per logged iteration) and ``progress.png`` (loss and validation Dice)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOG_FIELDS)
    writer.writeheader()
    for row in log:
        writer.writerow({k: ("" if isinstance(row.get(k), float) and np.isnan(row[k]) else row.get(k, ""))
                         for k in LOG_FIELDS})
    with atomic_path(fold_dir / "training_log.csv") as tmp:
        Path(tmp).write_text(buffer.getvalue(), encoding="utf-8")
    plot_log(log, fold_dir / "progress.png")


def plot_log(log: list[dict[str, Any]], path: Path) -> None:
    """Loss (left axis) and validation Dice (right axis) against the iteration, as a PNG."""
    from cerebro.benchmark.plot import pyplot

    plt = pyplot()
    figure, left = plt.subplots(figsize=(7, 4))
    iterations = [r["iteration"] for r in log]
    losses = np.asarray([r["loss"] for r in log], dtype=np.float64)
    left.plot(iterations, losses, color="tab:blue", alpha=0.3, lw=0.8)
    if len(losses):
        window = max(1, len(losses) // 25)  # a running mean over about 4 % of the run
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        left.plot(iterations[window - 1:], smooth, color="tab:blue", label="training loss (running mean)")
    left.set_xlabel("iteration")
    left.set_ylabel("training loss", color="tab:blue")
    validated = [(r["iteration"], r["val_dice"]) for r in log if not np.isnan(r["val_dice"])]
    if validated:
        right = left.twinx()
        right.plot(*zip(*validated), "o-", color="tab:green", label="validation Dice")
        right.set_ylabel("validation Dice", color="tab:green")
        right.set_ylim(0, 1)
    left.set_title("training progress")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, format="png")
    plt.close(figure)
