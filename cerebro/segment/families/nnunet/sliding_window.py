"""nnU-Net's sliding-window inference: tiles of the patch size at nnU-Net's step positions (half-patch
overlap), Gaussian importance weighting (sigma = patch / 8), optional mirroring test-time augmentation.

Tiles go through the network two at a time: on the CPU, PyTorch runs a 3D convolution of a single small input
(the deep, low-resolution stages) on its slow reference kernel and a batch on oneDNN, ~2x faster per tile
(bench/RESULTS.md); stock nnU-Net feeds one tile at a time. The logits agree to ~1e-5."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from cerebro.errors import CerebroError
from cerebro.progress import Progress

TILES_PER_BATCH = 2  # tiles per network call (an odd last tile is paired with a copy of itself)


def window_starts(image_size: Sequence[int], tile_size: Sequence[int], step_fraction: float = 0.5) -> list[list[int]]:
    """Tile start positions per axis: the fewest tiles at most ``step_fraction * tile`` apart, spread evenly."""
    starts = []
    for size, tile in zip(image_size, tile_size):
        n_steps = int(np.ceil((size - tile) / (tile * step_fraction))) + 1
        if n_steps > 1:
            step = (size - tile) / (n_steps - 1)
            starts.append([int(np.round(step * i)) for i in range(n_steps)])
        else:
            starts.append([0])
    return starts


@lru_cache(maxsize=4)
def gaussian_importance(tile_size: tuple[int, ...], sigma_scale: float = 1.0 / 8, peak: float = 10.0) -> np.ndarray:
    """Gaussian weight map of a tile (peak ``peak`` at the centre, no zeros), float32."""
    impulse = np.zeros(tile_size)
    impulse[tuple(n // 2 for n in tile_size)] = 1
    weights = gaussian_filter(impulse, [n * sigma_scale for n in tile_size], 0, mode="constant", cval=0)
    weights *= peak / weights.max()
    weights[weights == 0] = weights[weights > 0].min()
    return weights.astype(np.float32)


def mirrored_prediction(network: Callable[[torch.Tensor], torch.Tensor], tile: torch.Tensor,
                        mirror_axes: Sequence[int] | None) -> torch.Tensor:
    """Network output on ``tile`` (B, C, x, y, z), averaged over every flip combination of ``mirror_axes``
    (spatial axis indices 0..2) when given."""
    prediction = network(tile)
    if not mirror_axes:
        return prediction
    axes = [a + 2 for a in mirror_axes]
    combos = [c for r in range(1, len(axes) + 1) for c in itertools.combinations(axes, r)]
    for combo in combos:
        prediction = prediction + torch.flip(network(torch.flip(tile, combo)), combo)
    return prediction / (len(combos) + 1)


def weight_sums(padded: Sequence[int], patch: Sequence[int], starts: Sequence[Sequence[int]],
                weights: np.ndarray) -> list[np.ndarray]:
    """Per axis, the tiles' Gaussian profiles summed over that axis (float64); the weight a voxel gathers is the
    product of its three axes' sums. The importance map is separable, ``w(x, y, z) = p_x(x) p_y(y) p_z(z) / peak^2``
    with ``p`` its lines through the centre, and the tiles are every combination of the per-axis starts."""
    centre = tuple(n // 2 for n in patch)
    sums = []
    for axis, size in enumerate(padded):
        profile = weights[tuple(slice(None) if a == axis else c for a, c in enumerate(centre))].astype(np.float64)
        total = np.zeros(size)
        for start in starts[axis]:
            total[start:start + patch[axis]] += profile
        sums.append(total)
    sums[0] /= float(weights[centre]) ** 2
    return sums


def sliding_window_logits(network: Callable[[torch.Tensor], torch.Tensor], data: torch.Tensor,
                          patch_size: Sequence[int], num_classes: int, mirror_axes: Sequence[int] | None = None,
                          step_fraction: float = 0.5, progress: Progress | None = None) -> torch.Tensor:
    """Gaussian-weighted tiled prediction of ``data`` (C, x, y, z) -> logits (num_classes, x, y, z) float16 on
    the CPU: the weighted mean over the tiles, kept in float16 as nnU-Net keeps its sums (2 bytes per class and
    voxel). The weight a voxel gathers is known before any tile runs (:func:`weight_sums`), so each tile adds its
    share of the mean at once: no volume of weights, no final division, and no tile's contribution underflows
    float16 where its Gaussian is tiny (at the image's border, where nnU-Net's float16 sums lose the logits' digits).
    Images smaller than the patch are padded (centred) with each channel's median, not nnU-Net's zero (see the
    comment below), and cropped back."""
    device = next((p.device for p in getattr(network, "parameters", list)()), torch.device("cpu"))
    patch = [int(p) for p in patch_size]
    shape = list(data.shape[1:])
    padded = [max(s, p) for s, p in zip(shape, patch)]
    before = [(p - s) // 2 for s, p in zip(shape, padded)]
    if padded != shape:
        pad = []
        for s, p, b in reversed(list(zip(shape, padded, before))):
            pad += [b, p - s - b]
        # nnU-Net pads with 0, the mean of the training foreground: for a CT model that is contrast-filled vessel
        # (334 HU for ours), and a small crop framed by it is lost (Dice 0.12 on a 48^3 CTA phantom); the image's
        # own median (its background tissue) frames it as the rest of the head would (0.99).
        data = torch.stack([torch.nn.functional.pad(channel, pad, value=float(channel.median()))
                            for channel in data])
    weights = torch.from_numpy(gaussian_importance(tuple(patch)))
    logits = torch.zeros((num_classes, *padded), dtype=torch.float16)
    starts = window_starts(padded, patch, step_fraction)
    sum_x, sum_y, sum_z = (torch.from_numpy(w.astype(np.float32))
                           for w in weight_sums(padded, patch, starts, weights.numpy()))
    tiles = list(itertools.product(*starts))
    regions = [tuple(slice(s, s + p) for s, p in zip(start, patch)) for start in tiles]
    batches = [regions[n:n + TILES_PER_BATCH] for n in range(0, len(regions), TILES_PER_BATCH)]
    prefetched: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def copy_tiles() -> None:
        # nnU-Net's producer thread: contiguous copies of the next tiles while the network runs (measured ~1.5x
        # less CPU time on a 2-core machine than slicing views in the network's thread).
        for batch in batches:
            if stop.is_set():
                return
            tiles = [data[(slice(None), *region)] for region in batch]
            tiles += tiles[-1:] * (TILES_PER_BATCH - len(tiles))
            prefetched.put(torch.stack(tiles).contiguous())

    producer = threading.Thread(target=copy_tiles, daemon=True)
    producer.start()
    done = 0
    try:
        with torch.inference_mode():
            for batch in batches:
                predictions = mirrored_prediction(network, prefetched.get().to(device), mirror_axes).float().cpu()
                for region, prediction in zip(batch, predictions):
                    share = weights / (sum_x[region[0], None, None] * sum_y[None, region[1], None]
                                       * sum_z[None, None, region[2]])
                    logits[(slice(None), *region)] += prediction * share
                done += len(batch)
                if progress is not None:
                    progress.update(done / len(regions), f"window {done}/{len(regions)}")
    finally:
        stop.set()
        while producer.is_alive():
            try:
                prefetched.get_nowait()
            except queue.Empty:
                producer.join(0.01)
    if not torch.isfinite(logits).all():
        raise CerebroError("the network's summed logits overflowed float16 (as in nnU-Net, whose limit this is); "
                           "the model's logits are too large for this sliding window")
    crop = tuple(slice(b, b + s) for b, s in zip(before, shape))
    return logits[(slice(None), *crop)]
