"""The offline demo: the product's question answered on one synthetic angiogram.

A CTA-like phantom with its exact vessel mask is compressed with ZFP at growing error tolerances; each
decoded volume is segmented with the shipped default model, and the Dice and centreline Dice (clDice) against the
ground truth and the Dice against the prediction on the uncompressed volume are reported next to ratio, PSNR,
SSIM and max error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cerebro.io import write_volume
from cerebro.metrics.overlap import dice
from cerebro.metrics.topology import cldice
from cerebro.phantoms import generate_phantom
from cerebro.progress import Progress
from cerebro.roundtrip import RoundTripReport, round_trip
from cerebro.segment.api import load_model
from cerebro.segment.catalog import DEFAULT_MODEL_ID

# (mode, settings) swept by the demo: lossless first, then error-bounded and fixed-rate ZFP.
DEMO_SETTINGS: tuple[tuple[str, dict[str, float]], ...] = (
    ("reversible", {}),
    ("accuracy", {"tolerance": 10}),
    ("accuracy", {"tolerance": 50}),
    ("accuracy", {"tolerance": 150}),
    ("accuracy", {"tolerance": 400}),
    ("rate", {"rate": 4}),
    ("rate", {"rate": 1}),
)


@dataclass
class DemoRow:
    """One compression setting: its round-trip report and the segmentation's agreement on the decoded volume."""

    label: str
    report: RoundTripReport
    dice_vs_truth: float
    cldice_vs_truth: float
    dice_vs_uncompressed: float


@dataclass
class DemoResult:
    """Baseline Dice on the uncompressed phantom and one row per compression setting."""

    modality: str
    shape: tuple[int, int, int]
    model_id: str
    baseline_dice: float
    baseline_cldice: float
    rows: list[DemoRow]

    def to_text(self) -> str:
        """The results as a fixed-width table."""
        head = (f"{self.modality.upper()} phantom {'x'.join(map(str, self.shape))}, model {self.model_id}; "
                f"uncompressed prediction vs truth: Dice {self.baseline_dice:.4f}, clDice {self.baseline_cldice:.4f}")
        columns = f"{'ZFP setting':<22}{'ratio':>8}{'bits/vx':>9}{'PSNR dB':>9}{'SSIM':>8}{'max err':>9}" \
                  f"{'Dice/truth':>12}{'clDice/truth':>14}{'Dice/uncomp.':>14}"
        lines = [head, "", columns, "-" * len(columns)]
        for row in self.rows:
            r = row.report
            psnr_text = "inf" if r.psnr_db == float("inf") else f"{r.psnr_db:.1f}"
            lines.append(f"{row.label:<22}{r.compression_ratio:>8.1f}{r.bits_per_voxel:>9.2f}{psnr_text:>9}"
                         f"{r.ssim:>8.4f}{r.max_abs_error:>9.0f}{row.dice_vs_truth:>12.4f}"
                         f"{row.cldice_vs_truth:>14.4f}{row.dice_vs_uncompressed:>14.4f}")
        return "\n".join(lines)


def run_demo(out_dir: str | Path | None = None, size: int = 96, modality: str = "cta", seed: int = 0,
             model_id: str = DEFAULT_MODEL_ID, device: str = "auto", progress: Progress | None = None) -> DemoResult:
    """Run the demo on a ``size``^3 phantom; with ``out_dir``, also write the phantom, its mask and the .cbv files."""
    progress = progress or Progress()
    progress.update(0.0, "generating phantom")
    phantom = generate_phantom(size, modality, seed=seed, progress=progress.sub(0.0, 0.15))
    model = load_model(model_id, device=device, progress=progress.sub(0.15, 0.2))
    baseline = model.predict(phantom.image, tta=False, progress=progress.sub(0.2, 0.3)).mask
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        write_volume(phantom.image, out / f"{modality}_phantom.nii.gz")
        write_volume(phantom.mask, out / f"{modality}_truth.nii.gz")
        write_volume(baseline, out / f"{modality}_prediction_uncompressed.nii.gz")
    rows = []
    step = 0.7 / len(DEMO_SETTINGS)
    for index, (mode, settings) in enumerate(DEMO_SETTINGS):
        start = 0.3 + index * step
        label = f"{mode} " + " ".join(f"{k}={v:g}" for k, v in settings.items())
        path = out / f"{modality}_{mode}_{'_'.join(f'{v:g}' for v in settings.values())}.cbv".replace("__", "_") \
            if out is not None else None
        decoded, report, _ = round_trip(phantom.image, "zfp", mode, settings, progress.sub(start, start + step / 2),
                                        path=path)
        mask = model.predict(decoded, tta=False, progress=progress.sub(start + step / 2, start + step)).mask
        rows.append(DemoRow(label.strip(), report, dice(phantom.mask, mask), cldice(phantom.mask, mask),
                            dice(baseline, mask)))
    progress.update(1.0, "done")
    return DemoResult(modality, phantom.image.shape, model_id, dice(phantom.mask, baseline),
                      cldice(phantom.mask, baseline), rows)
