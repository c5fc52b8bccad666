"""The recipe and budget of a training run — ``cerebro train`` and the shipped default model alike — and the names
of its choices. Free of PyTorch, so that the command line registers ``cerebro train`` (and refuses bad settings) on
a machine without it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cerebro.errors import CerebroError

LOSSES = ("ce+dice", "bce+dice", "cldice", "skeleton-recall", "mip")
SAMPLING_MODES = ("uniform", "foreground-fraction", "centreline")
TRAINERS = {"nnunet": "nnUNetTrainer", "umamba": "nnUNetTrainerUMambaBot"}
"""Families with a training form and the nnU-Net trainer name their results folders carry."""


@dataclass(frozen=True)
class TrainOptions:
    """The recipe and budget of a training run (stored in every checkpoint as ``cerebro_options``): the network,
    loss, patch sampling, augmentation, the optimiser's loop and where the results folder is named."""

    family: str = "nnunet"
    loss: str = "ce+dice"
    sampling: str = "foreground-fraction"
    foreground_fraction: float = 0.33
    centreline_channel: bool = False
    compression_probability: float = 0.0
    compression_ratios: tuple[float, float] = (4.0, 64.0)
    iterations: int = 1000
    batch_size: int = 2
    patch_size: tuple[int, int, int] = (48, 48, 48)
    inference_patch_size: tuple[int, int, int] = (64, 64, 64)
    features: tuple[int, ...] = (8, 16, 32, 64, 128)
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    validation: float = 0.2
    validate_every: int = 100
    checkpoint_every: int = 50
    log_every: int = 10
    seed: int = 0
    dataset_name: str = "Dataset901_Vessels"
    init: str | None = None

    def check(self) -> None:
        """Refuse settings out of range with one line naming the fix."""
        if self.family not in TRAINERS:
            raise CerebroError(f"family '{self.family}' has no training form; choose one of: {', '.join(TRAINERS)}")
        if self.loss not in LOSSES:
            raise CerebroError(f"unknown loss '{self.loss}'; choose one of: {', '.join(LOSSES)}")
        if self.sampling not in SAMPLING_MODES:
            raise CerebroError(f"unknown sampling '{self.sampling}'; choose one of: {', '.join(SAMPLING_MODES)}")
        for name, value in (("--iterations", self.iterations), ("--batch-size", self.batch_size),
                            ("--validate-every", self.validate_every), ("--checkpoint-every", self.checkpoint_every),
                            ("log_every", self.log_every)):
            if value < 1:
                raise CerebroError(f"{name} must be at least 1, got {value}")
        divisor = 2 ** (len(self.features) - 1)
        for name, size in (("--patch-size", self.patch_size), ("--inference-patch-size", self.inference_patch_size)):
            if len(size) != 3 or any(s < divisor or s % divisor for s in size):
                raise CerebroError(f"{name} must be three multiples of {divisor} (the network downsamples "
                                   f"{len(self.features) - 1} times), got {list(size)}")
        if not 0 <= self.validation < 1:
            raise CerebroError(f"--validation must be a share in [0, 1), got {self.validation}")
        if not self.dataset_name.startswith("Dataset") or "/" in self.dataset_name:
            raise CerebroError(f"--dataset-name must look like Dataset901_Name, got {self.dataset_name!r}")

    def as_dict(self) -> dict[str, Any]:
        """The options as JSON values (tuples as lists), as checkpoints store them."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def matches(self, stored: Any) -> bool:
        """Whether a checkpoint's ``cerebro_options`` are these options (options it predates count as defaults)."""
        if not isinstance(stored, dict):
            return False
        defaults = TrainOptions().as_dict()
        return {**defaults, **stored} == {**defaults, **self.as_dict()} and set(stored) <= set(defaults)
