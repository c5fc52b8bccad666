"""Dice and clDice of any segmentation model on the held-out families (:mod:`cerebro.train.heldout`) and on the
held-out phantoms of our generator, one row per case."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from cerebro.progress import Progress
from cerebro.train.heldout import make_case


def evaluate_families(model: Any, families: list[str], cases: int = 3, tta: bool = False,
                      progress: Progress | None = None) -> list[dict[str, Any]]:
    """Predict every case of ``families`` (``cases`` each) with ``model.predict``; rows of family, case, Dice,
    clDice, predicted and true voxels, seconds."""
    from cerebro.metrics.overlap import dice
    from cerebro.metrics.topology import cldice

    progress = progress or Progress()
    rows = []
    total = len(families) * cases
    for f, family in enumerate(families):
        for n in range(cases):
            index = f * cases + n
            part = progress.sub(index / total, (index + 1) / total)
            part.update(0.0, f"{family} case {n + 1}/{cases}")
            case = make_case(family, n)
            started = time.perf_counter()
            mask = model.predict(case.image, tta=tta, progress=part).mask
            seconds = time.perf_counter() - started
            rows.append({"family": family, "case": n, "seed": case.seed, "shape": list(case.image.shape),
                         "dice": dice(case.mask, mask), "cldice": cldice(case.mask, mask),
                         "predicted_voxels": int(np.count_nonzero(mask.array)),
                         "true_voxels": int(np.count_nonzero(case.mask.array)), "seconds": round(seconds, 1)})
    return rows


def summarise(rows: list[dict[str, Any]], key: str = "family") -> list[dict[str, Any]]:
    """Mean and minimum Dice / clDice per ``key`` value, in first-seen order."""
    out = []
    for value in dict.fromkeys(r[key] for r in rows):
        group = [r for r in rows if r[key] == value]
        out.append({key: value, "cases": len(group),
                    "dice": float(np.mean([r["dice"] for r in group])), "dice_min": min(r["dice"] for r in group),
                    "cldice": float(np.mean([r["cldice"] for r in group])),
                    "cldice_min": min(r["cldice"] for r in group)})
    return out
