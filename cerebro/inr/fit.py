"""Fit a coordinate network to one volume (Adam on random voxel mini-batches) and evaluate it on the full grid.

Intensities are normalised to [-1, 1] with the volume's min/max; coordinates to [-1, 1] along the
physically longest axis (shorter axes span proportionally less, so the network sees true aspect ratio).
With a step budget (the default) the same input, settings and torch build give the same weights on CPU;
a time budget makes the number of steps, and therefore the result, depend on machine speed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from cerebro.device import resolve_device
from cerebro.inr.quantize import fake_quantize
from cerebro.progress import Progress

EVAL_BATCH = 2**18
MIN_LR_FRACTION = 0.02
REPORTS = 50


@dataclass(frozen=True)
class FitConfig:
    """Training settings: step budget, batch size (voxels), peak learning rate, seed, QAT and device.

    ``quant_levels`` is the code magnitude of the quantisation trained against (0 = float16).
    """

    steps: int
    batch_size: int
    lr: float
    seed: int
    quant_levels: int
    qat_fraction: float = 0.1
    time_limit: float = 0.0
    device: str = "cpu"


@dataclass(frozen=True)
class FitResult:
    """Steps run, quantisation levels trained against, training PSNR (dB, last reporting interval), seconds."""

    steps_done: int
    quant_levels: int
    train_psnr_db: float
    seconds: float


def coordinate_scale(shape: tuple[int, int, int], spacing_zyx: tuple[float, float, float]) -> list[float]:
    """Half-extent of each array axis (z, y, x) in normalised units: physical extent / longest extent."""
    extents = [n * s for n, s in zip(shape, spacing_zyx)]
    longest = max(extents)
    return [e / longest for e in extents]


def grid_coordinates(flat_index: torch.Tensor, shape: tuple[int, int, int], scale: torch.Tensor) -> torch.Tensor:
    """Normalised (z, y, x) coordinates (N, 3) of voxel centres given by C-order flat indices (N,)."""
    nz, ny, nx = shape
    z = torch.div(flat_index, ny * nx, rounding_mode="floor")
    y = torch.div(flat_index, nx, rounding_mode="floor") % ny
    x = flat_index % nx
    index = torch.stack([z, y, x], dim=1).to(torch.float32)
    sizes = torch.tensor([nz, ny, nx], dtype=torch.float32, device=flat_index.device)
    return ((index + 0.5) / sizes * 2.0 - 1.0) * scale


def psnr_from_mse(mse: float) -> float:
    """PSNR (dB) of a mean squared error in normalised units, whose data range is 2."""
    return 10.0 * math.log10(4.0 / mse) if mse > 0 else float("inf")


def fit_network(model: nn.Module, target: np.ndarray, scale: list[float], config: FitConfig,
                progress: Progress | None = None,
                choose_levels: Callable[[nn.Module], int] | None = None) -> FitResult:
    """Train ``model`` (in place, returned on the CPU) to map voxel coordinates to ``target`` (float32 in [-1, 1]).

    The last ``qat_fraction`` of the steps train through :func:`fake_quantize`, so the stored (quantised)
    weights are the ones that were optimised. When QAT starts, ``choose_levels(model)`` (if given) may
    replace ``config.quant_levels`` (rate control). Progress messages carry the current PSNR.
    """
    device = resolve_device(config.device, mps=False)
    shape = tuple(int(n) for n in target.shape)
    values = torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32).reshape(-1)).to(device)
    scale_t = torch.tensor(scale, dtype=torch.float32, device=device)
    model.to(device).train()
    # the fused kernel is several times faster than the per-tensor loop on large hash tables (same maths)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=device.type in ("cpu", "cuda"))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(config.steps, 1),
                                                          eta_min=config.lr * MIN_LR_FRACTION)
    sampler = torch.Generator().manual_seed(int(config.seed) + 1)
    qat_start = config.steps - int(round(config.steps * config.qat_fraction))
    report_every = max(1, config.steps // REPORTS)
    started = time.perf_counter()
    interval_loss, interval_steps, psnr, step = 0.0, 0, float("nan"), 0
    levels, levels_chosen = config.quant_levels, False
    while step < config.steps:
        elapsed = time.perf_counter() - started
        if config.time_limit > 0 and step > 0:  # at least one step, so the result is always a trained network
            if elapsed >= config.time_limit:
                break
            if step < qat_start and elapsed >= config.time_limit * (1.0 - config.qat_fraction):
                qat_start = step
        index = torch.randint(0, values.numel(), (config.batch_size,), generator=sampler).to(device)
        coords = grid_coordinates(index, shape, scale_t)
        if step >= qat_start:
            if not levels_chosen and choose_levels is not None:
                levels = choose_levels(model)
            levels_chosen = True
            weights = {name: fake_quantize(p, levels) for name, p in model.named_parameters()}
            prediction = functional_call(model, weights, (coords,))
        else:
            prediction = model(coords)
        loss = torch.mean((prediction[:, 0] - values[index]) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        step += 1
        interval_loss += float(loss.detach())
        interval_steps += 1
        if step % report_every == 0 or step == config.steps:
            psnr = psnr_from_mse(interval_loss / interval_steps)
            interval_loss, interval_steps = 0.0, 0
            if progress is not None:
                phase = "quantisation-aware " if step > qat_start else ""
                progress.update(step / config.steps, f"{phase}training step {step}/{config.steps}, PSNR {psnr:.2f} dB")
    if interval_steps:
        psnr = psnr_from_mse(interval_loss / interval_steps)
    model.cpu().eval()
    if not levels_chosen and choose_levels is not None:
        levels = choose_levels(model)
    return FitResult(steps_done=step, quant_levels=levels, train_psnr_db=psnr, seconds=time.perf_counter() - started)


@torch.no_grad()
def evaluate_grid(model: nn.Module, shape: tuple[int, int, int], scale: list[float], device: str = "cpu",
                  batch: int = EVAL_BATCH, progress: Progress | None = None) -> np.ndarray:
    """Evaluate ``model`` at every voxel centre in batches of ``batch`` points; float32 array of ``shape``."""
    torch_device = resolve_device(device, mps=False)
    model.to(torch_device).eval()
    scale_t = torch.tensor(scale, dtype=torch.float32, device=torch_device)
    total = int(np.prod(shape))
    out = np.empty(total, dtype=np.float32)
    for start in range(0, total, batch):
        stop = min(start + batch, total)
        index = torch.arange(start, stop, device=torch_device)
        out[start:stop] = model(grid_coordinates(index, shape, scale_t))[:, 0].float().cpu().numpy()
        if progress is not None:
            progress.update(stop / total, f"evaluating the network: {stop}/{total} voxels")
    model.cpu()
    return out.reshape(shape)
