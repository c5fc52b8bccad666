"""The offline demo: the product's question answered on one synthetic angiogram, through the benchmark itself.

A CTA-like (or TOF-MRA-like) phantom with its exact vessel mask is written as a one-case dataset and swept by
:func:`cerebro.benchmark.runner.run_benchmark` over ZFP at growing error tolerances and rates: each decoded volume
is segmented with the shipped default model and scored (Dice and centreline Dice against the truth, Dice against
the prediction on the uncompressed volume) next to ratio, PSNR, SSIM and max error, in the benchmark's own table.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cerebro.benchmark.executors import make_executor
from cerebro.benchmark.runner import run_benchmark
from cerebro.benchmark.store import ResultStore
from cerebro.benchmark.summary import DEMO_COLUMNS, render, summarise
from cerebro.benchmark.sweep import UNCOMPRESSED, parse_setting
from cerebro.datasets.manifest import Manifest
from cerebro.phantoms import generate_phantom
from cerebro.phantoms.write import write_phantom_case
from cerebro.progress import Progress
from cerebro.segment.catalog import DEFAULT_MODEL_ID

# Swept by the demo: lossless first, then error-bounded and fixed-rate ZFP.
DEMO_SETTINGS: tuple[str, ...] = (
    "zfp:reversible", "zfp:accuracy:tolerance=10", "zfp:accuracy:tolerance=50", "zfp:accuracy:tolerance=150",
    "zfp:accuracy:tolerance=400", "zfp:rate:rate=4", "zfp:rate:rate=1",
)


@dataclass
class DemoResult:
    """The benchmark summary rows of the demo's case: the uncompressed baseline first, then one per setting."""

    modality: str
    shape: tuple[int, int, int]
    model_id: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    store: Path | None = None  # the result store, when kept (``out_dir``)
    routed_model: str = ""  # the model that ran, when ``model_id`` picks one per modality (cerebro-default)

    @property
    def baseline(self) -> dict[str, Any]:
        """The summary row of the uncompressed volume."""
        return next(row for row in self.rows if row["setting"] == UNCOMPRESSED)

    def to_text(self) -> str:
        """The results as the benchmark's fixed-width table (the demo's columns)."""
        model = self.model_id
        if self.routed_model and self.routed_model != self.model_id:
            model = f"{self.routed_model} ({self.model_id} for {self.modality})"
        head = (f"{self.modality.upper()} phantom {'x'.join(map(str, self.shape))}, model {model}; "
                f"uncompressed prediction vs truth: Dice {self.baseline['dice_mean']:.4f}, "
                f"clDice {self.baseline['cldice_mean']:.4f}")
        settings = [row for row in self.rows if row["setting"] != UNCOMPRESSED]
        return head + "\n\n" + render(settings, columns=DEMO_COLUMNS).rstrip("\n")


def run_demo(out_dir: str | Path | None = None, size: int = 96, modality: str = "cta", seed: int = 0,
             model_id: str = DEFAULT_MODEL_ID, device: str = "auto", workers: int | None = None,
             progress: Progress | None = None, precision: str = "auto") -> DemoResult:
    """Run the demo on a ``size``^3 phantom with the local executor (``workers``: None = all cores) and the
    network's ``precision`` (:func:`cerebro.segment.api.segment`); with ``out_dir``, keep the phantom case (image,
    truth) and the result store (masks, records) there."""
    progress = progress or Progress()
    progress.update(0.0, "generating phantom")
    phantom = generate_phantom(size, modality, seed=seed, progress=progress.sub(0.0, 0.1))
    folder = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="cerebro-demo-"))
    try:
        case = write_phantom_case(phantom, folder / "phantom", f"{modality}_{size}_seed{seed}")
        store = ResultStore(folder / "store")
        run_benchmark(Manifest([case]), [parse_setting(s) for s in DEMO_SETTINGS], [model_id], store, device=device,
                      precision=precision, progress=progress.sub(0.1, 1.0),
                      executor=make_executor("local", workers, device=device))
        records = [r for r in store.records() if r["case_id"] == case.case_id and r["model"] == model_id]
    finally:
        if out_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    progress.update(1.0, "done")
    routed = str(records[0].get("routed_model") or "") if records else ""
    return DemoResult(modality, phantom.image.shape, model_id, summarise(records),
                      store.folder if out_dir is not None else None, routed)
