"""nnU-Net sliding window: tiles one at a time (stock nnU-Net's way) against two per network call (ours), side by
side in one process on the shipped default model, with how many mask voxels differ.

Usage: python bench/bench_tile_batching.py [--sizes 96 128] [--repeats 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

import cerebro.segment.families.nnunet.sliding_window as sliding
from cerebro.phantoms import generate_phantom
from cerebro.segment.api import load_model


def main() -> int:
    """Alternate the two tile batchings on each phantom; print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 128], help="phantom cube sizes")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each batching per phantom")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model("cerebro-default-mra", device="cpu")
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, torch {torch.__version__}, {args.threads} threads")
    print("\n| phantom | tiles per call | wall s | CPU s | mask voxels differing |\n|---|---:|---:|---:|---:|")
    for size in args.sizes:
        for modality in ("cta", "mra"):
            volume = generate_phantom(size, modality, seed=900400 + size).image
            times: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
            masks = {}
            model.predict(volume, tta=False)  # warm-up
            for _ in range(args.repeats):
                for batch in (1, 2):
                    sliding.TILES_PER_BATCH = batch
                    wall, cpu = time.perf_counter(), time.process_time()
                    masks[batch] = model.predict(volume, tta=False).mask.array
                    times[batch].append((time.perf_counter() - wall, time.process_time() - cpu))
            differing = int(np.count_nonzero(masks[1] != masks[2]))
            for batch in (1, 2):
                wall = min(t[0] for t in times[batch])
                cpu = min(t[1] for t in times[batch])
                print(f"| {modality} {size}^3 | {batch} | {wall:.2f} | {cpu:.2f} | "
                      f"{differing if batch == 2 else '-'} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
