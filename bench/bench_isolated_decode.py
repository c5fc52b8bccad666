"""What decoding a .cbv file in a child process costs (cerebro/cbv/isolated.py) against decoding in-process.

Side by side in one run, the same files, alternating, best of N: prints a table of seconds and the ratio.

    python bench/bench_isolated_decode.py [--size 256] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from cerebro.cbv.compress import compress_volume, decompress
from cerebro.cbv.container import read_compressed, write_compressed
from cerebro.cbv.isolated import decompress_isolated
from cerebro.volume import Volume

CASES = (("zfp", "accuracy", {"tolerance": 5}), ("zstd", "lossless", {}), ("sz3", "abs", {"tolerance": 5}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="cube edge of the int16 volume (default 256)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per variant, best kept (default 3)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.normal(0, 3, (args.size,) * 3), axis=2).astype(np.int16)
    volume = Volume(smooth)
    print(f"| codec | {args.size}^3 int16 | in-process s | child process s | child / in-process |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for codec, mode, settings in CASES:
            path = write_compressed(compress_volume(volume, codec, mode, settings, workers=1),
                                    Path(folder) / f"{codec}.cbv")
            compressed = read_compressed(path)
            best = {"in": float("inf"), "child": float("inf")}
            for _ in range(args.repeat):
                for name, function in (("in", decompress), ("child", decompress_isolated)):
                    start = time.perf_counter()
                    function(compressed, workers=1)
                    best[name] = min(best[name], time.perf_counter() - start)
            print(f"| {codec} {mode} | {path.stat().st_size / 1e6:.1f} MB | {best['in']:.3f} | {best['child']:.3f} "
                  f"| {best['child'] / best['in']:.2f} |")


if __name__ == "__main__":
    main()
