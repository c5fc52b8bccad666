"""The GPU paths that CI cannot run, checked in one run on a CUDA machine; prints one table (bench/gpu_check.sh).

Rows: the shipped nnU-Net model under CUDA float16 autocast against CPU float32 (same masks within tolerance);
U-Mamba Bot the same way; the selective scan (mamba_ssm's kernel when installed, else our PyTorch scan on CUDA)
against the reference recurrence; the out-of-memory fallback (a GPU limited to a sliver of its memory must fall
back to the CPU and give the CPU's mask); hash-grid INR fitting speed on the GPU against the CPU; and
``cerebro benchmark run --device cuda`` (the local executor with one segmenting worker owning the GPU).

Without CUDA every row says so. ``--dry-run`` runs every check with the CPU standing in for the GPU on small inputs
(the script's own test where there is no GPU; the OOM check is skipped: it needs CUDA's memory limit).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROWS: list[tuple[str, str, str, str, str]] = []
GPU = "cuda"  # --dry-run: "cpu"
SIZE = 128  # phantom edge (--dry-run: 48)


def row(check: str, cuda: str, cpu: str, agreement: str, verdict: str) -> None:
    """Record and echo one result line (echoed at once so a timeout still leaves the finished rows)."""
    ROWS.append((check, cuda, cpu, agreement, verdict))
    print(f"# {check}: cuda {cuda}; cpu {cpu}; {agreement}; {verdict}", flush=True)


def timed(function, *args, **kwargs):
    """(result, seconds), synchronising CUDA around the call."""
    if GPU == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = function(*args, **kwargs)
    if GPU == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two label masks (foreground = non-zero)."""
    a, b = a > 0, b > 0
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * (a & b).sum() / total)


def check_nnunet(volume) -> None:
    """The shipped default model: CUDA float16 vs CPU float32 on a 128^3 CTA phantom."""
    from cerebro.segment.api import load_model

    cpu_mask, cpu_s = timed(lambda: load_model("cerebro-default-mra", device="cpu").predict(volume, tta=False).mask)
    model = load_model("cerebro-default-mra", device=GPU)
    model.predict(volume, tta=False)  # warm-up (cuDNN autotuning)
    cuda_mask, cuda_s = timed(lambda: model.predict(volume, tta=False).mask)
    d = dice(cuda_mask.array, cpu_mask.array)
    row(f"nnU-Net default, {SIZE}^3 CTA, float16 vs float32", f"{cuda_s:.2f} s", f"{cpu_s:.2f} s", f"Dice {d:.5f}",
        "ok" if d >= 0.999 else "MASKS DIFFER")


def check_umamba(volume) -> None:
    """U-Mamba Bot (random weights, a tiny plans file): CUDA vs CPU, voxel agreement of the masks."""
    from cerebro.segment.families.nnunet.results_folder import load_nnunet_model
    from cerebro.train.results import (
        build_training_network,
        checkpoint_extra,
        intensity_stats,
        make_dataset_json,
        make_plans,
        results_dir,
        write_json_files,
    )

    torch.manual_seed(0)
    plans = make_plans("Dataset999_GpuCheck", [0.6, 0.45, 0.45], (64, 64, 64), [SIZE] * 3, (16, 32, 64, 64),
                       intensity_stats(np.linspace(-1.0, 1.0, 101)))
    dataset = make_dataset_json("Dataset999_GpuCheck", 1, "GPU check: random weights")
    folder = results_dir(Path(tempfile.mkdtemp()), "Dataset999_GpuCheck", "umamba")
    write_json_files(folder, plans, dataset)
    network = build_training_network("umamba", plans, dataset)
    (folder / "fold_0").mkdir()
    torch.save({"network_weights": network.state_dict(), **checkpoint_extra("umamba")},
               folder / "fold_0" / "checkpoint_final.pth")
    cpu_mask, cpu_s = timed(lambda: load_nnunet_model(folder, device="cpu").predict(volume, tta=False).mask)
    model = load_nnunet_model(folder, device=GPU)
    model.predict(volume, tta=False)
    cuda_mask, cuda_s = timed(lambda: model.predict(volume, tta=False).mask)
    same = float(np.mean(cuda_mask.array == cpu_mask.array))
    row(f"U-Mamba Bot (random weights), {SIZE}^3, float16 vs float32", f"{cuda_s:.2f} s", f"{cpu_s:.2f} s",
        f"{100 * same:.3f} % voxels equal", "ok" if same >= 0.999 else "MASKS DIFFER")


def check_scan() -> None:
    """The selective scan on CUDA (mamba_ssm's kernel if it imports, else ours) against the reference."""
    from cerebro.segment.mamba.selective_scan import _mamba_ssm_kernel, selective_scan, selective_scan_reference

    torch.manual_seed(0)
    b, d, n, length = (2, 256, 16, 4096) if GPU == "cuda" else (1, 32, 8, 256)
    args = [torch.randn(b, d, length), torch.rand(b, d, length) * 0.1, -torch.rand(d, n),
            torch.randn(b, n, length), torch.randn(b, n, length), torch.randn(d), torch.randn(b, d, length)]
    reference, cpu_s = timed(selective_scan_reference, *args, delta_softplus=True)
    cuda_args = [a.to(GPU) for a in args]
    selective_scan(*cuda_args, delta_softplus=True)
    result, cuda_s = timed(selective_scan, *cuda_args, delta_softplus=True)
    error = float((result.cpu() - reference).abs().max())
    kernel = "mamba_ssm kernel" if _mamba_ssm_kernel() is not None else "our PyTorch scan (mamba_ssm not installed)"
    row(f"selective scan {b}x{d}x{length}, N={n}: {kernel}", f"{cuda_s * 1e3:.1f} ms",
        f"{cpu_s * 1e3:.0f} ms (reference)", f"max abs diff {error:.2e}", "ok" if error < 1e-3 else "SCAN DIFFERS")


def check_oom_fallback(volume) -> None:
    """With the GPU limited to 0.1 % of its memory, segmentation must fall back to the CPU, say so, and agree."""
    from cerebro.segment.api import load_model

    model = load_model("cerebro-default-mra", device="cuda")
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(0.001)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mask, seconds = timed(lambda: model.predict(volume, tta=False).mask)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    announced = any("falling back to the CPU" in str(w.message) for w in caught)
    reference = load_model("cerebro-default-mra", device="cpu").predict(volume, tta=False).mask
    d = dice(mask.array, reference.array)
    row("out-of-memory fallback (GPU at 0.1 % memory)", f"{seconds:.2f} s incl. fallback", "-",
        f"announced: {announced}; Dice vs CPU {d:.5f}", "ok" if announced and d >= 0.9999 else "FALLBACK FAILED")


def check_inr(volume) -> None:
    """Hash-grid INR fitting: steps per second on the GPU and on the CPU (same network, same batch)."""
    from cerebro.inr.fit import FitConfig, coordinate_scale, fit_network
    from cerebro.inr.model import build_network

    arch = {"kind": "hashgrid", "levels": 16, "features": 2, "table_size": 2**18, "max_resolution": 128,
            "width": 64, "depth": 2}
    target = volume.array.astype(np.float32)
    target = 2 * (target - target.min()) / max(float(np.ptp(target)), 1.0) - 1
    scale = coordinate_scale(target.shape, volume.spacing[::-1])
    rates = {}
    steps_of = {"gpu": 2000, "cpu": 100} if GPU == "cuda" else {"gpu": 10, "cpu": 10}
    for side, device in (("gpu", GPU), ("cpu", "cpu")):
        steps = steps_of[side]
        config = FitConfig(steps=steps, batch_size=2**18, lr=1e-2, seed=0, quant_levels=0, device=device)
        _, seconds = timed(fit_network, build_network(arch, 0), target, scale, config)
        rates[side] = steps / seconds
    row(f"hash-grid INR fit, {SIZE}^3, batch 2^18 voxels", f"{rates['gpu']:.1f} steps/s", f"{rates['cpu']:.1f} steps/s",
        f"{rates['gpu'] / rates['cpu']:.0f}x", "ok")


def check_benchmark(folder: Path) -> None:
    """``cerebro benchmark run --device cuda`` on 4 phantoms of 96^3 x the paper preset: records per hour."""
    subprocess.run([sys.executable, "-m", "cerebro.cli.main", "phantom", str(folder / "data"), "--modality", "both",
                    "--size", "96" if GPU == "cuda" else "32", "--cases", "2" if GPU == "cuda" else "1", "--seed",
                    "900100"], check=True, stdout=subprocess.DEVNULL)
    command = [sys.executable, "-m", "cerebro.cli.main", "benchmark", "run", str(folder / "data" / "manifest.csv"),
               "--store", str(folder / "store"), "--preset", "paper", "--metrics", "overlap", "--quiet"]
    _, seconds = timed(subprocess.run, [*command, "--device", GPU], check=True, stdout=subprocess.DEVNULL)
    from cerebro.benchmark.store import ResultStore

    records = ResultStore(folder / "store").records()
    mean = float(np.mean([r["vs_truth"]["dice"] for r in records]))
    expected = 32 if GPU == "cuda" else 16
    row(f"benchmark run --device {GPU}, {len(records)} records", f"{len(records) / seconds * 3600:.0f} records/h "
        f"({seconds:.0f} s)", "-", f"mean Dice {mean:.4f}", "ok" if len(records) == expected else "RECORDS MISSING")


def main() -> int:
    """Run every check that applies, then print the table."""
    import argparse

    from cerebro.phantoms import generate_phantom

    global GPU, SIZE
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="the CPU in the GPU's place, small inputs")
    if parser.parse_args().dry_run:
        GPU, SIZE = "cpu", 48

    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device'}", flush=True)
    if GPU == "cuda" and not torch.cuda.is_available():
        row("all GPU checks", "no CUDA device", "-", "-", "not run")
    else:
        volume = generate_phantom(SIZE, "cta", seed=900300).image
        checks = (check_nnunet, check_umamba, check_oom_fallback, check_inr) if GPU == "cuda" else (
            check_nnunet, check_umamba, check_inr)
        for check in checks:
            try:
                check(volume)
            except Exception as exc:  # noqa: BLE001 - one failed check must not hide the others
                row(check.__doc__.split(":")[0].split(".")[0], "error", "-", f"{type(exc).__name__}: {exc}"[:120],
                    "FAILED")
        for check, args in ((check_scan, ()), (check_benchmark, (Path(tempfile.mkdtemp()),))):
            try:
                check(*args)
            except Exception as exc:  # noqa: BLE001
                row(check.__doc__.split(".")[0][:60], "error", "-", f"{type(exc).__name__}: {exc}"[:120], "FAILED")
    print("\n| check | CUDA | CPU | agreement | verdict |\n|---|---|---|---|---|")
    for values in ROWS:
        print("| " + " | ".join(values) + " |")
    return 0 if all(v[-1] in ("ok", "not run") for v in ROWS) else 1


if __name__ == "__main__":
    raise SystemExit(main())
