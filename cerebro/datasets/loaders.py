"""Loaders that turn public vessel datasets, in their own folder layouts, into a :class:`Manifest`.

Every loader checks (unless ``check=False``) that each label lies on its image's grid and raises one
CerebroError naming the first case that does not. Layouts:

- nnU-Net raw: ``dataset.json``, ``imagesTr/{case}_0000{ending}``, ``labelsTr/{case}{ending}``, optional
  ``imagesTs/`` (and ``labelsTs/``).
- TopCoW (2023/2024 challenge release): ``imagesTr/topcow_{ct|mr}_{NNN}_0000.nii.gz`` and
  ``cow_seg_labelsTr/topcow_{ct|mr}_{NNN}.nii.gz`` with per-artery labels (see :data:`TOPCOW_LABELS`).
- RSNA 2025 Intracranial Aneurysm Detection (Kaggle): ``segmentations/{SeriesInstanceUID}/`` holding
  ``{uid}.nii`` (the series as NIfTI) and ``{uid}_cowseg.nii`` (13 vascular-territory labels); flat
  ``segmentations/{uid}.nii`` / ``{uid}_cowseg.nii`` is accepted too. Without the NIfTI image the DICOM folder
  ``series/{uid}/`` is used. ``train.csv`` (column ``Modality``), when present, gives the modality.
- BIDS-like PVS data: ``sub-*/anat/*_T2w.nii[.gz]`` (or ``sub-*/ses-*/anat/``) with masks
  ``derivatives/mask/sub-*/sub-*_desc-mask_PVS.nii[.gz]``; subjects with a missing or empty mask are skipped
  with a warning.
- Paired folders: an image folder and a label folder whose files share a stem (an image's ``_0000`` channel
  suffix is ignored).
"""

from __future__ import annotations

import csv
import json
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Union

import numpy as np

from cerebro.datasets.checks import check_cases
from cerebro.datasets.manifest import Case, Manifest
from cerebro.errors import CerebroError
from cerebro.io import VOLUME_SUFFIXES, read_volume
from cerebro.modality import modality_name

# TopCoW multi-class labels (challenge documentation); 15 is the 2023 release's value for the third A2.
TOPCOW_LABELS = {
    1: "BA", 2: "R-PCA", 3: "L-PCA", 4: "R-ICA", 5: "R-MCA", 6: "L-ICA", 7: "L-MCA", 8: "R-Pcom",
    9: "L-Pcom", 10: "Acom", 11: "R-ACA", 12: "L-ACA", 13: "3rd-A2", 15: "3rd-A2",
}
RSNA_MODALITIES = {"CTA": "cta", "MRA": "mra", "MRI T2": "t2w", "MRI T1post": "t1post"}
PathLike = Union[str, "os.PathLike[str]"]


def load_nnunet_raw(folder: PathLike, check: bool = True) -> Manifest:
    """Cases of an nnU-Net raw dataset folder (training cases with labels, then test images)."""
    root = _require_dir(folder, "nnU-Net raw dataset folder")
    info_path = root / "dataset.json"
    if not info_path.is_file():
        raise CerebroError(f"{root} has no dataset.json; point to an nnU-Net raw dataset folder (DatasetXXX_Name)")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CerebroError(f"{info_path} is not valid JSON ({exc}); fix or regenerate it") from None
    ending = str(info.get("file_ending", ".nii.gz"))
    channels = info.get("channel_names") or info.get("modality") or {"0": ""}
    modality = _modality_from_channel(str(channels.get("0", "")))
    cases = []
    for split, images, labels in (("train", "imagesTr", "labelsTr"), ("test", "imagesTs", "labelsTs")):
        for image in sorted((root / images).glob(f"*_0000{ending}")):
            case_id = image.name[: -len(f"_0000{ending}")]
            label = root / labels / f"{case_id}{ending}"
            if split == "train" and not label.is_file():
                raise CerebroError(f"case {case_id}: no label {labels}/{label.name}; add it or remove the image")
            cases.append(Case(case_id, image, label if label.is_file() else None, modality,
                              {"split": split, "channels": len(channels)}))
    if not cases:
        raise CerebroError(f"no images named *_0000{ending} in {root}/imagesTr; check the folder and file_ending")
    return _finish(cases, check)


def load_topcow(folder: PathLike, check: bool = True) -> Manifest:
    """Cases of a TopCoW release folder; labels are per-artery (``extra['label_names']``)."""
    root = _require_dir(folder, "TopCoW folder")
    pattern = re.compile(r"^(topcow_(ct|mr)_\d+)_0000\.nii(\.gz)?$")
    cases = []
    for image in sorted((root / "imagesTr").glob("topcow_*_0000.nii*")):
        match = pattern.match(image.name)
        if not match:
            continue
        case_id, kind = match.group(1), match.group(2)
        label = _first_existing(root / "cow_seg_labelsTr", case_id)
        if label is None:
            raise CerebroError(f"case {case_id}: no cow_seg_labelsTr/{case_id}.nii.gz; add it or remove the image")
        cases.append(Case(case_id, image, label, "cta" if kind == "ct" else "mra",
                          {"label_names": {str(k): v for k, v in TOPCOW_LABELS.items()}}))
    if not cases:
        raise CerebroError(f"no imagesTr/topcow_{{ct,mr}}_NNN_0000.nii.gz files in {root}; point to the TopCoW folder")
    return _finish(cases, check)


def load_rsna(folder: PathLike, check: bool = True) -> Manifest:
    """Cases of the RSNA 2025 aneurysm data that have a vessel segmentation (``*_cowseg.nii``)."""
    root = _require_dir(folder, "RSNA data folder")
    segmentations = root / "segmentations"
    if not segmentations.is_dir():
        raise CerebroError(f"{root} has no segmentations/ folder; point to the unpacked competition data")
    modality_by_uid = _rsna_modalities(root / "train.csv")
    cases = []
    for label in sorted(segmentations.rglob("*_cowseg.nii*")):
        uid = re.sub(r"_cowseg\.nii(\.gz)?$", "", label.name)
        image = _first_existing(label.parent, uid) or (root / "series" / uid)
        if not image.exists():
            raise CerebroError(f"case {uid}: no image ({label.parent.name}/{uid}.nii or series/{uid}/); "
                               "restore the series or remove its segmentation")
        cases.append(Case(uid, image, label, modality_by_uid.get(uid, "unknown"),
                          {"label_values": "1..13 vascular territories"}))
    if not cases:
        raise CerebroError(f"no *_cowseg.nii files under {segmentations}; check the folder")
    return _finish(cases, check)


def load_bids_pvs(folder: PathLike, check: bool = True) -> Manifest:
    """T2-weighted images with perivascular-space masks from a BIDS-like folder; empty masks are skipped."""
    root = _require_dir(folder, "BIDS folder")
    images = sorted([*root.glob("sub-*/anat/*_T2w.nii*"), *root.glob("sub-*/ses-*/anat/*_T2w.nii*")])
    cases = []
    for image in images:
        subject = image.relative_to(root).parts[0]
        mask = _first_existing(root / "derivatives" / "mask" / subject, f"{subject}_desc-mask_PVS")
        case_id = re.sub(r"_T2w\.nii(\.gz)?$", "", image.name)
        if mask is None:
            warnings.warn(f"case {case_id}: no derivatives/mask/{subject}/{subject}_desc-mask_PVS.nii.gz; skipped",
                          stacklevel=2)
            continue
        if not np.any(read_volume(mask).array):
            warnings.warn(f"case {case_id}: the PVS mask {mask.name} is empty; skipped", stacklevel=2)
            continue
        cases.append(Case(case_id, image, mask, "t2w", {"subject": subject}))
    if not cases:
        raise CerebroError(f"no subject in {root} has a T2w image with a non-empty PVS mask; check the layout")
    return _finish(cases, check)


def load_paired_folders(images: PathLike, labels: PathLike, modality: str = "unknown",
                        check: bool = True) -> Manifest:
    """Pair every image in ``images`` with the file of the same stem in ``labels``."""
    image_dir = _require_dir(images, "image folder")
    label_dir = _require_dir(labels, "label folder")
    label_by_stem = {_stem(p): p for p in sorted(label_dir.iterdir()) if _is_volume(p)}
    cases = []
    for image in sorted(p for p in image_dir.iterdir() if _is_volume(p)):
        stem = _stem(image)
        case_id = stem[:-5] if stem.endswith("_0000") else stem
        label = label_by_stem.get(case_id) or label_by_stem.get(stem)
        if label is None:
            raise CerebroError(f"case {case_id}: no label named {case_id}.* in {label_dir}; add it or move the image")
        cases.append(Case(case_id, image, label, modality))
    if not cases:
        raise CerebroError(f"no volume files ({', '.join(VOLUME_SUFFIXES)}) in {image_dir}")
    return _finish(cases, check)


LAYOUTS: dict[str, Callable[..., Manifest]] = {
    "nnunet": load_nnunet_raw,
    "topcow": load_topcow,
    "rsna": load_rsna,
    "bids-pvs": load_bids_pvs,
}


def _finish(cases: list[Case], check: bool) -> Manifest:
    if check:
        check_cases(cases)
    return Manifest(cases)


def _require_dir(path: PathLike, what: str) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise CerebroError(f"{what} not found: {p}; check the path")
    return p


def _first_existing(folder: Path, stem: str) -> Path | None:
    for suffix in (".nii.gz", ".nii"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def _is_volume(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(VOLUME_SUFFIXES)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(VOLUME_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _modality_from_channel(name: str) -> str:
    """``cta`` / ``mra`` for the channel names of those modalities (:func:`cerebro.modality.modality_name`), else
    the name itself in lower case (``unknown`` when empty)."""
    return modality_name(name) or name.lower() or "unknown"


def _rsna_modalities(train_csv: Path) -> dict[str, str]:
    if not train_csv.is_file():
        return {}
    with train_csv.open(newline="", encoding="utf-8") as handle:
        return {row["SeriesInstanceUID"]: RSNA_MODALITIES.get(row.get("Modality", ""), "unknown")
                for row in csv.DictReader(handle) if row.get("SeriesInstanceUID")}
