"""Write phantoms as an nnU-Net raw dataset (plus partial-volume fractions and centrelines) and a manifest."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np

from cerebro.datasets.manifest import Case, Manifest
from cerebro.errors import CerebroError
from cerebro.fsutil import atomic_path, removed_on_failure, require_writable, writer_lock
from cerebro.io import write_volume
from cerebro.phantoms.appearance import MODALITIES
from cerebro.phantoms.phantom import Phantom, generate_phantom
from cerebro.progress import Progress

CHANNEL_NAMES = {"cta": "CT", "mra": "MRA"}  # nnU-Net: "CT" selects its CT intensity normalisation


def write_phantom_case(phantom: Phantom, dataset_dir: str | os.PathLike[str], case_id: str) -> Case:
    """Write one phantom into ``dataset_dir`` in the nnU-Net raw layout; returns its manifest Case.

    Files: ``imagesTr/{id}_0000.nii.gz``, ``labelsTr/{id}.nii.gz`` (uint8, 1 = vessel), ``fractionsTr/{id}.nii.gz``
    (float32 partial volume), ``centerlinesTr/{id}.nii.gz`` (uint8) and ``centerlinesTr/{id}.csv``
    (x, y, z LPS mm and radius mm per centreline point).
    """
    root = Path(dataset_dir)
    image = write_volume(phantom.image, root / "imagesTr" / f"{case_id}_0000.nii.gz")
    label = write_volume(phantom.mask, root / "labelsTr" / f"{case_id}.nii.gz")
    fraction = write_volume(phantom.fraction, root / "fractionsTr" / f"{case_id}.nii.gz")
    centerline = write_volume(phantom.centerline_mask, root / "centerlinesTr" / f"{case_id}.nii.gz")
    points = root / "centerlinesTr" / f"{case_id}.csv"
    with atomic_path(points) as tmp:
        table = np.column_stack([phantom.centerline_points, phantom.radii])
        np.savetxt(tmp, table, fmt="%.4f", delimiter=",", header="x_lps_mm,y_lps_mm,z_lps_mm,radius_mm", comments="")
    extra = {
        "split": "train", "seed": phantom.seed, "fraction_path": str(fraction),
        "centerline_path": str(centerline), "centerline_points_path": str(points),
        "stats": phantom.stats,
    }
    return Case(case_id, image, label, phantom.modality, extra)


def write_phantom_dataset(
    out_dir: str | os.PathLike[str],
    modality: str,
    shape: tuple[int, int, int],
    cases: int,
    seed: int,
    spacing: tuple[float, float, float] | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Generate ``cases`` phantoms (seeds ``seed``, ``seed + 1``, ...) and write them with ``manifest.csv``.

    ``modality`` 'cta' or 'mra' makes ``out_dir`` one nnU-Net raw dataset; 'both' writes ``out_dir/cta`` and
    ``out_dir/mra`` (the same trees seen both ways) and one manifest for both in ``out_dir``.
    """
    if modality not in (*MODALITIES, "both"):
        raise CerebroError(f"unknown phantom modality {modality!r}; use cta, mra or both")
    if cases < 1:
        raise CerebroError(f"--cases must be at least 1, got {cases}")
    progress = progress or Progress()
    out = Path(out_dir)
    modalities = list(MODALITIES) if modality == "both" else [modality]
    datasets = [out / m for m in modalities] if modality == "both" else [out]
    created = not out.exists()
    _require_new_dataset(out, datasets)
    locked = False
    try:
        with writer_lock(out, "or write the phantoms into another folder", keep_file=False):  # runs never mix
            locked = True
            _require_new_dataset(out, datasets)  # again under the lock: a run that ended meanwhile is seen
            with removed_on_failure(out):  # a full disk or Ctrl+C leaves no half dataset
                return _write_cases(out, modalities, modality == "both", shape, cases, seed, spacing, progress)
    except BaseException:
        if created and locked:  # the folder this run made, now empty
            with contextlib.suppress(OSError):
                out.rmdir()
        raise


def _write_cases(out: Path, modalities: list[str], nested: bool, shape: tuple[int, int, int], cases: int,
                 seed: int, spacing: tuple[float, float, float] | None, progress: Progress) -> Manifest:
    """Generate and write the cases (under ``out/<modality>`` when ``nested``), each dataset's dataset.json and
    the manifest; returns the manifest."""
    written: list[Case] = []
    steps = len(modalities) * cases
    for m_index, name in enumerate(modalities):
        dataset = out / name if nested else out
        for index in range(cases):
            step = m_index * cases + index
            phantom = generate_phantom(shape, name, seed + index, spacing,
                                       progress=progress.sub(step / steps, (step + 0.9) / steps))
            written.append(write_phantom_case(phantom, dataset, f"phantom_{name}_{index:03d}"))
            progress.update((step + 1) / steps, f"wrote phantom_{name}_{index:03d}")
        _write_dataset_json(dataset, name, cases)
    manifest = Manifest(written)
    manifest.write(out / "manifest.csv")
    return manifest


def _require_new_dataset(out: Path, datasets: list[Path]) -> None:
    """Before any work: ``out`` is (or can become) a writable folder that holds no dataset yet (writing phantoms
    into one would rewrite its dataset.json and manifest with other cases)."""
    if out.exists() and not out.is_dir():
        raise CerebroError(f"{out} is a file; give a folder for the phantom dataset")
    for folder in (out, *datasets):
        for name in ("dataset.json", "manifest.csv"):
            if (folder / name).exists():
                raise CerebroError(f"{folder} already holds a dataset ({name}); write the phantoms into a new "
                                   "folder, they would replace its dataset.json and manifest")
    require_writable(out / "manifest.csv", "phantom dataset")


def _write_dataset_json(dataset: Path, modality: str, cases: int) -> None:
    info = {
        "name": f"CerebroBench phantoms ({modality.upper()})",
        "description": "Synthetic cerebrovascular phantoms from cerebro.phantoms; label 1 = vessel.",
        "channel_names": {"0": CHANNEL_NAMES[modality]},
        "labels": {"background": 0, "vessel": 1},
        "numTraining": cases,
        "file_ending": ".nii.gz",
    }
    with atomic_path(dataset / "dataset.json") as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
