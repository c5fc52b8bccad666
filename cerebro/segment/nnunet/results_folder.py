"""Open an nnU-Net v2 results folder (``<Trainer>__<Plans>__<configuration>/{dataset.json, plans.json,
fold_X/checkpoint_final.pth}``, or a zip holding one), build its network and load the weights strictly."""

from __future__ import annotations

import pickle
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cerebro.errors import CerebroError
from cerebro.progress import Progress
from cerebro.segment.nnunet.networks import build_network, network_kind
from cerebro.segment.nnunet.plans import NnUNetPlans, load_plans
from cerebro.segment.result import SegmentationResult
from cerebro.volume import Volume

MAX_UNZIPPED_BYTES = 8 * 1024**3


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


def extract_zip(zip_path: str | Path, destination: str | Path) -> Path:
    """Safely unpack a results-folder zip into ``destination`` (no absolute paths, no '..', no links, bounded
    size); the folder is written atomically and reused when it already exists. Returns ``destination``."""
    zip_path, destination = Path(zip_path), Path(destination)
    if destination.is_dir():
        return destination
    if not zipfile.is_zipfile(zip_path):
        raise CerebroError(f"{zip_path} is not a zip file; give the results-folder zip as downloaded")
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unzip-", dir=destination.parent))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            total = 0
            for info in archive.infolist():
                name = Path(info.filename)
                if name.is_absolute() or ".." in name.parts or (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise CerebroError(f"unsafe entry '{info.filename}' in {zip_path}; refusing to unpack it")
                total += info.file_size
                if total > MAX_UNZIPPED_BYTES:
                    raise CerebroError(f"{zip_path} unpacks to more than {MAX_UNZIPPED_BYTES >> 30} GiB; refusing")
            archive.extractall(tmp)
        tmp.rename(destination)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return destination


def load_checkpoint(path: str | Path, allow_unsafe_pickle: bool = False) -> dict[str, Any]:
    """Read an nnU-Net checkpoint with ``torch.load(weights_only=True)`` (numpy scalars allowed).

    A checkpoint that needs other pickled classes is refused unless ``allow_unsafe_pickle`` (only for files
    you trust: unpickling can run code)."""
    path = Path(path)
    if not path.is_file():
        raise CerebroError(f"checkpoint {path} not found; check the fold and checkpoint name")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not allow_unsafe_pickle:
            raise CerebroError(f"{path.name} contains pickled Python objects beyond tensors ({str(exc)[:120]}...); "
                               "load it only if you trust its source, with allow_unsafe_pickle=True") from None
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, OSError) as exc:
        raise CerebroError(f"cannot read checkpoint {path}: {exc}; download it again") from None
    if not isinstance(checkpoint, dict) or "network_weights" not in checkpoint:
        raise CerebroError(f"{path} is not an nnU-Net checkpoint (no 'network_weights'); use checkpoint_final.pth")
    return checkpoint


def _numpy_safe_globals() -> list:
    """Plain-data numpy globals that nnU-Net's training log pickles (scalars, dtypes); none of them runs code."""
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar
    dtypes = [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
    return [scalar, np.dtype, *dtypes]


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda if available, else mps, else cpu; anything else is passed to torch.device."""
    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


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

    def predict(self, volume: Volume, tta: bool = True, progress: Progress | None = None,
                return_probabilities: bool = False) -> SegmentationResult:
        """Segment ``volume`` exactly like ``nnUNetv2_predict`` (mirroring when ``tta``); mask on its grid."""
        from cerebro.segment.nnunet.predict import predict_volume

        return predict_volume(self, volume, tta=tta, progress=progress, return_probabilities=return_probabilities)


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
        results_dir = extract_zip(results_dir, target)
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
    for fold, ckpt in zip(folds, checkpoints, strict=True):
        state = {k: v for k, v in ckpt["network_weights"].items()}
        try:
            network.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CerebroError(f"fold {fold} weights do not fit the network built from plans.json for {trainer} "
                               f"({str(exc).splitlines()[0][:200]}); use the plans.json trained with them") from None
        weights.append(state)
    mirror = checkpoints[0].get("inference_allowed_mirroring_axes")
    dev = pick_device(device)
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
