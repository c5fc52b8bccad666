"""What the Slicer modules pay for running every long task in a background process (CerebroLib.jobs).

The same ZFP round trip of a CTA phantom, side by side in one run: in Slicer's process (``cerebro.cbv.compress.
round_trip`` on the node's voxels, what CerebroCompress did before the job runner) against the job runner
(``CerebroCompressLogic.run``: the node written to NRRD, ``cerebro compress --decoded`` in a fresh Python, the
decoded volume read back into a new node). Also the bare start of a job (``cerebro --version``-like: the
interpreter and ``cerebro.cli`` imports). Needs the slicer-core wheel (real MRML). Prints one table.
Usage (from the repository root, so CerebroLib imports): PYTHONPATH=. python bench/bench_jobs.py [--sizes 64 128 256]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import slicer

from cerebro.cbv.roundtrip import round_trip
from cerebro.phantoms import generate_phantom
from CerebroLib.compress_logic import CerebroCompressLogic
from CerebroLib.jobs import CliJob
from CerebroLib.mrml import volume_from_node, volume_to_node

SETTINGS = ("zfp", "accuracy", {"tolerance": 10.0})


def _median_seconds(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    scene = slicer.vtkMRMLScene()
    logic = CerebroCompressLogic(workers=1)
    start_only = _median_seconds(lambda: CliJob([sys.executable, "-c", "import cerebro.cli.main"]).wait(), 3)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.2f}; Python {platform.python_version()}; median of {args.repeats}")
    print(f"start of a job (fresh Python importing cerebro.cli.main): {start_only:.2f} s\n")
    print(f"{'volume':>10} {'in process s':>13} {'job runner s':>13} {'overhead s':>11} {'ratio':>6}")
    for size in args.sizes:
        phantom = generate_phantom(size, "cta", seed=0, supersample=1)
        node = volume_to_node(phantom.image, scene, f"cta{size}")
        inside = _median_seconds(lambda n=node: round_trip(volume_from_node(n), *SETTINGS, workers=1), args.repeats)
        outside = _median_seconds(lambda n=node: logic.run(n, *SETTINGS), args.repeats)
        print(f"{size:>8}^3 {inside:>13.2f} {outside:>13.2f} {outside - inside:>11.2f} {outside / inside:>6.2f}")
        scene.Clear(0)


if __name__ == "__main__":
    main()
