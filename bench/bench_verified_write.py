"""What verifying a written volume costs: ``cerebro.io.write_volume`` (write, read back, compare) against a bare
``SimpleITK.WriteImage`` of the same image, alternating so that machine load hits both alike; prints the median
seconds per write and the ratio.

    PYTHONPATH=. python bench/bench_verified_write.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from cerebro.io import volume_to_sitk, write_volume
from cerebro.volume import Volume

SHAPES = {"128^3": (128, 128, 128), "150x512x512": (150, 512, 512)}
FORMATS = (".nii.gz", ".nii", ".nrrd")


def _volume(shape: tuple[int, int, int]) -> Volume:
    """A CT-like int16 volume: smooth structure plus noise (compresses like a scan, not like zeros)."""
    rng = np.random.default_rng(0)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    smooth = 400 * np.sin(x / 23.0) * np.cos(y / 31.0) + 300 * np.sin(z / 17.0)
    return Volume((smooth + rng.normal(0, 20, shape)).astype(np.int16), spacing=(0.45, 0.45, 0.8))


def main(argv: list[str] | None = None) -> int:
    """Time both writers for each size and format and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="writes per writer, size and format")
    args = parser.parse_args(argv)
    print(f"{'volume':<12} {'format':<8} {'bare s':>8} {'verified s':>11} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as folder:
        for label, shape in SHAPES.items():
            volume = _volume(shape)
            image = volume_to_sitk(volume)
            for suffix in FORMATS:
                bare, verified = [], []
                for _ in range(args.rounds):
                    start = time.perf_counter()
                    sitk.WriteImage(image, str(Path(folder) / f"bare{suffix}"), True)
                    bare.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    write_volume(volume, Path(folder) / f"verified{suffix}")
                    verified.append(time.perf_counter() - start)
                b, v = statistics.median(bare), statistics.median(verified)
                print(f"{label:<12} {suffix:<8} {b:>8.2f} {v:>11.2f} {v / b:>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
