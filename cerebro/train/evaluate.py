"""Dice and clDice of any segmentation model on evaluation cases, one row per case: the held-out families
(:mod:`cerebro.train.heldout`) and the held-out phantoms of our generator (seeds never used in training)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from cerebro.progress import Progress
from cerebro.train.heldout import HeldOutCase, make_case

EVAL_SEED_BASE = 900_000  # held-out phantoms: seeds EVAL_SEED_BASE + n (training phantoms use 10000 / 20000 + n)


def family_cases(families: list[str], cases: int) -> list[Callable[[], HeldOutCase]]:
    """Makers of ``cases`` cases of each held-out family (built when called, one at a time)."""
    return [lambda f=family, n=n: make_case(f, n) for family in families for n in range(cases)]


def phantom_cases(shape: int, cases: int) -> list[Callable[[], HeldOutCase]]:
    """Makers of the held-out phantoms: ``cases`` per modality, cubes of ``shape`` voxels at default spacing."""
    from cerebro.phantoms import generate_phantom

    def make(modality: str, n: int) -> HeldOutCase:
        phantom = generate_phantom(shape, modality, EVAL_SEED_BASE + n)
        return HeldOutCase(f"phantom-{modality}", EVAL_SEED_BASE + n, phantom.image, phantom.mask, modality)

    return [lambda m=modality, n=n: make(m, n) for modality in ("cta", "mra") for n in range(cases)]


def evaluate(model: Any, makers: list[Callable[[], HeldOutCase]], tta: bool = False,
             progress: Progress | None = None) -> Iterator[dict[str, Any]]:
    """Predict every case with ``model.predict``; yields rows of family, seed, shape, Dice, clDice, predicted and
    true voxels, the share of predicted voxels on bone (> 700 HU; CT cases only, else None), seconds (prediction
    only)."""
    from cerebro.metrics.overlap import dice
    from cerebro.metrics.topology import cldice
    from cerebro.modality import BONE_HU

    progress = progress or Progress()
    for index, make in enumerate(makers):
        part = progress.sub(index / len(makers), (index + 1) / len(makers))
        case = make()
        part.update(0.0, f"{case.family} seed {case.seed}")
        started = time.perf_counter()
        mask = model.predict(case.image, tta=tta, progress=part).mask
        seconds = time.perf_counter() - started
        predicted = np.count_nonzero(mask.array)
        on_bone = np.count_nonzero((mask.array > 0) & (case.image.array > BONE_HU))
        bone_share = on_bone / max(predicted, 1) if case.modality == "cta" else None
        yield {"family": case.family, "seed": case.seed, "shape": list(case.image.shape),
               "dice": dice(case.mask, mask), "cldice": cldice(case.mask, mask),
               "predicted_voxels": int(predicted), "bone_share": bone_share,
               "true_voxels": int(np.count_nonzero(case.mask.array)), "seconds": round(seconds, 1)}


def summarise(rows: list[dict[str, Any]], key: str = "family") -> list[dict[str, Any]]:
    """Mean and minimum Dice / clDice per ``key`` value and the largest bone share (None without CT cases), in
    first-seen order."""
    out = []
    for value in dict.fromkeys(r[key] for r in rows):
        group = [r for r in rows if r[key] == value]
        shares = [r["bone_share"] for r in group if r.get("bone_share") is not None]
        out.append({key: value, "cases": len(group),
                    "dice": float(np.mean([r["dice"] for r in group])), "dice_min": min(r["dice"] for r in group),
                    "cldice": float(np.mean([r["cldice"] for r in group])),
                    "cldice_min": min(r["cldice"] for r in group),
                    "bone_share_max": max(shares) if shares else None})
    return out
