"""Two nnU-Net results folders side by side: CPU inference time of each on the same 128^3 phantoms, alternating
A, B, A, B so that machine load hits both alike; prints the median seconds and the ratio B / A.

    PYTHONPATH=. python bench/bench_model_speed.py OLD_FOLDER NEW_FOLDER [--shape 128] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from cerebro.phantoms import generate_phantom
from cerebro.segment.families.nnunet import load_nnunet_model


def main(argv: list[str] | None = None) -> int:
    """Time both folders and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="first results folder (the reference)")
    parser.add_argument("b", help="second results folder")
    parser.add_argument("--shape", type=int, default=128, help="phantom cube size")
    parser.add_argument("--rounds", type=int, default=3, help="predictions per folder and modality")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = {"a": load_nnunet_model(args.a, device="cpu"), "b": load_nnunet_model(args.b, device="cpu")}
    print(f"{'modality':8} {'A median s':>10} {'B median s':>10} {'B / A':>6}")
    for modality in ("cta", "mra"):
        image = generate_phantom(args.shape, modality, 900_000).image
        times: dict[str, list[float]] = {"a": [], "b": []}
        for _ in range(args.rounds):
            for name, model in models.items():
                started = time.perf_counter()
                model.predict(image, tta=False)
                times[name].append(time.perf_counter() - started)
        a, b = statistics.median(times["a"]), statistics.median(times["b"])
        print(f"{modality:8} {a:10.1f} {b:10.1f} {b / a:6.2f}")
    for name, path in (("A", args.a), ("B", args.b)):
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
