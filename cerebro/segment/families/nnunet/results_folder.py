"""Open an nnU-Net v2 results folder (``<Trainer>__<Plans>__<configuration>/{dataset.json, plans.json,
fold_X/checkpoint_final.pth}``, or a zip holding one), build its network and load the weights strictly."""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cerebro.device import resolve_device
from cerebro.errors import CerebroError
from cerebro.progress import Progress
from cerebro.segment.families.nnunet.networks import build_network, network_kind
from cerebro.segment.families.nnunet.plans import NnUNetPlans, load_plans
from cerebro.segment.families.nnunet.predict import predict_volume
from cerebro.segment.result import SegmentationResult
from cerebro.segment.weights import checkpoints
from cerebro.segment.weights.download import safe_extract_zip
from cerebro.volume import Volume


@dataclass
class ResultsFolder:
    """The parts of a results folder's name and its files."""

    path: Path
    trainer: str
    plans_name: str
    configuration: str

    def fold_dir(self, fold: int | str) -> Path:
        """``fold_<fold>`` (``fold_all`` for "all")."""
        return self.path / f"fold_{fold}"


def find_results_folder(path: str | Path) -> ResultsFolder:
    """The ``Trainer__Plans__configuration`` folder at ``path`` or the single one below it (searched 3 deep)."""
    path = Path(path)
    if not path.is_dir():
        raise CerebroError(f"{path} is not a folder; give an nnU-Net results folder or its zip")
    candidates = [path] if _is_results_dir(path) else sorted(
        p.parent for p in path.glob("**/plans.json")
        if _is_results_dir(p.parent) and len(p.relative_to(path).parts) <= 4
    )
    if not candidates:
        raise CerebroError(f"no '<Trainer>__<Plans>__<configuration>' folder with plans.json under {path}; "
                           "give the results folder of a trained nnU-Net model")
    if len(candidates) > 1:
        names = ", ".join(str(c.relative_to(path)) for c in candidates)
        raise CerebroError(f"several results folders under {path} ({names}); give one of them")
    trainer, plans_name, configuration = candidates[0].name.split("__")
    return ResultsFolder(candidates[0], trainer, plans_name, configuration)


def _is_results_dir(p: Path) -> bool:
    return len(p.name.split("__")) == 3 and (p / "plans.json").is_file() and (p / "dataset.json").is_file()


def load_checkpoint(path: str | Path, allow_unsafe_pickle: bool = False) -> dict[str, Any]:
    """Read an nnU-Net checkpoint with ``torch.load(weights_only=True)`` (numpy scalars allowed).

    A checkpoint that needs other pickled classes is refused unless ``allow_unsafe_pickle`` (only for files
    you trust: unpickling can run code)."""
    path = Path(path)
    if not path.is_file():
        raise CerebroError(f"checkpoint {path} not found; check the fold and checkpoint name")
    checkpoint = checkpoints.load_checkpoint(path, allow_pickle=allow_unsafe_pickle)
    if not isinstance(checkpoint, dict) or "network_weights" not in checkpoint:
        raise CerebroError(f"{path} is not an nnU-Net checkpoint (no 'network_weights'); use checkpoint_final.pth")
    return checkpoint


@dataclass
class NnUNetModel:
    """A loaded nnU-Net / U-Mamba model: plans, one network and the weights of each requested fold."""

    folder: ResultsFolder
    plans: NnUNetPlans
    network: nn.Module
    fold_weights: list[dict[str, torch.Tensor]]
    mirror_axes: tuple[int, ...] | None
    device: torch.device
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> dict[int, str]:
        """Label value -> name from dataset.json."""
        return self.plans.labels

    @property
    def input_recipe(self) -> dict[str, Any]:
        """What the plans expect: spacing (mm, nnU-Net axis order), patch size, normalisation, channels."""
        return {"spacing": list(self.plans.spacing), "patch_size": list(self.plans.patch_size),
                "normalization": list(self.plans.normalization_schemes),
                "channels": int(self.plans.num_input_channels)}

    def predict(self, volume: Volume, tta: bool = True, progress: Progress | None = None,
                return_probabilities: bool = False, precision: str = "auto") -> SegmentationResult:
        """Segment ``volume`` like ``nnUNetv2_predict`` (mirroring when ``tta``; exactly so with ``precision``
        "float32", see :func:`predict_volume`); mask on its grid."""
        return predict_volume(self, volume, tta=tta, progress=progress, return_probabilities=return_probabilities,
                              precision=precision)


def load_nnunet_model(results_dir: str | Path, folds=(0,), checkpoint: str = "checkpoint_final.pth",
                      device: str | torch.device = "auto", allow_unsafe_pickle: bool = False,
                      unzip_to: str | Path | None = None) -> NnUNetModel:
    """Load an nnU-Net v2 results folder (or its .zip, unpacked to ``unzip_to`` or a temporary folder).

    ``folds``: fold numbers (or "all") whose weights are averaged at prediction as nnU-Net does. Each
    checkpoint's ``network_weights`` load with ``strict=True`` into the network built from plans.json.
    """
    results_dir = Path(results_dir)
    if results_dir.is_file():
        target = Path(unzip_to) if unzip_to else Path(tempfile.mkdtemp(prefix="cerebro-nnunet-")) / "model"
        if not zipfile.is_zipfile(results_dir):
            raise CerebroError(f"{results_dir} is not a zip file; give the results folder or its zip as downloaded")
        results_dir = target if target.is_dir() else safe_extract_zip(results_dir, target)
    folder = find_results_folder(results_dir)
    folds = (folds,) if isinstance(folds, (int, str)) else tuple(folds)
    if not folds:
        raise CerebroError("no folds requested; give at least one fold, e.g. folds=(0,)")
    checkpoints = [load_checkpoint(folder.fold_dir(f) / checkpoint, allow_unsafe_pickle) for f in folds]
    configuration = _configuration_of(checkpoints[0], folder)
    plans = load_plans(folder.path / "plans.json", folder.path / "dataset.json", configuration)
    trainer = str(checkpoints[0].get("trainer_name") or folder.trainer)
    network = build_network(trainer, plans)
    weights = []
    for fold, ckpt in zip(folds, checkpoints):
        state = {k: v for k, v in ckpt["network_weights"].items()}
        try:
            network.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CerebroError(f"fold {fold} weights do not fit the network built from plans.json for {trainer} "
                               f"({str(exc).splitlines()[0][:200]}); use the plans.json trained with them") from None
        weights.append(state)
    mirror = checkpoints[0].get("inference_allowed_mirroring_axes")
    dev = resolve_device(device) if isinstance(device, str) else torch.device(device)
    network.to(dev).eval()
    return NnUNetModel(folder=folder, plans=plans, network=network, fold_weights=weights,
                       mirror_axes=tuple(int(a) for a in mirror) if mirror is not None else None, device=dev,
                       info={"trainer": trainer, "configuration": configuration, "folds": list(folds),
                             "network": network_kind(trainer, plans)})


def _configuration_of(checkpoint: dict[str, Any], folder: ResultsFolder) -> str:
    init_args = checkpoint.get("init_args") or {}
    configuration = init_args.get("configuration") if isinstance(init_args, dict) else None
    if configuration and configuration != folder.configuration:
        raise CerebroError(f"checkpoint was trained with configuration '{configuration}' but sits in a folder "
                           f"named for '{folder.configuration}'; fix the folder name")
    return configuration or folder.configuration
