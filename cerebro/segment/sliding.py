"""Sliding-window inference of a 3D network over a whole image (MONAI), with flip TTA, progress,
cancellation, half precision and the out-of-memory fallbacks of :mod:`cerebro.segment.device`."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cerebro.progress import Progress
from cerebro.segment.device import autocast_for, run_with_fallback


def count_windows(shape: Sequence[int], window: Sequence[int], overlap: Sequence[float]) -> int:
    """Number of windows MONAI's sliding_window_inference visits for an image of ``shape`` (after padding)."""
    total = 1
    for size, roi, ov in zip(shape, window, overlap):
        size = max(size, roi)
        step = max(int(roi * (1 - ov)), 1)
        total *= 1 if size == roi else math.ceil((size - roi) / step) + 1
    return total


def sliding_window_predict(network: Any, image: np.ndarray, window: Sequence[int], overlap: float | Sequence[float],
                           sw_batch_size: int, device: Any, activation: Callable[[Any], Any],
                           tta: bool = False, half_precision: bool = False,
                           patch_transform: Callable[[Any], Any] | None = None,
                           progress: Progress | None = None, precision: str = "auto") -> np.ndarray:
    """Run ``network`` over ``image`` (C, x, y, z) in windows; returns activated outputs (C_out, x, y, z) float32.

    ``activation`` (e.g. softmax over channels) is applied to each window's logits before the windows
    are averaged (MONAI ``mode="constant"``); ``patch_transform`` normalises each input window;
    ``tta`` averages over the 8 flips of the three spatial axes; ``half_precision`` and ``precision`` as
    :func:`cerebro.segment.device.effective_precision` (float16 on CUDA; these families stay float32 on CPUs).
    """
    import torch
    from monai.inferers import sliding_window_inference

    progress = progress or Progress()
    overlaps = [float(overlap)] * 3 if np.isscalar(overlap) else [float(o) for o in overlap]
    total = max(count_windows(image.shape[1:], window, overlaps), 1)
    flips = [tuple(a for a, f in zip((2, 3, 4), fs) if f) for fs in itertools.product((0, 1), repeat=3)]
    flips = flips if tta else [()]
    inputs = torch.from_numpy(np.ascontiguousarray(image[None], dtype=np.float32))

    def run(dev: Any, batch: int) -> Any:
        network.to(dev)
        done = [0]

        def predictor(patches: Any) -> Any:
            if patch_transform is not None:
                patches = patch_transform(patches)
            summed = None
            with autocast_for(dev, half_precision, precision):
                for axes in flips:
                    x = torch.flip(patches, axes) if axes else patches
                    y = activation(network(x).float())
                    y = torch.flip(y, axes) if axes else y
                    summed = y if summed is None else summed + y
            done[0] += patches.shape[0]
            progress.update(min(done[0] / total, 1.0), f"window {min(done[0], total)}/{total}")
            return summed / len(flips)

        with torch.inference_mode():
            return sliding_window_inference(inputs, roi_size=list(window), sw_batch_size=batch, predictor=predictor,
                                            overlap=overlaps, mode="constant", sw_device=dev, device="cpu")

    output = run_with_fallback(run, device, sw_batch_size, progress)
    return output[0].float().numpy()
