"""Benchmark: our ZFP round trip (chunks + .cbv file write/read) against bare zfpy on the same array.

The volume is a 512 x 512 x 300 int16 CT-like phantom (smooth anatomy, bright vessels, noise; generated
here, seeded). Bare zfpy cannot take int16, so the baseline is what a user would write by hand:
``astype(float32)`` -> ``zfpy.compress_numpy`` and ``zfpy.decompress_numpy`` -> ``rint`` -> ``astype(int16)``,
in one thread, with exactly the zfpy parameters our codec chose. Ours: ``compress_volume`` + ``write_compressed``
(encode side) and ``read_compressed`` + ``decompress`` (decode side), with 1 worker and with 2 worker processes.
Throughput = native MB (10^6 bytes of int16) / round-trip wall seconds; best of ``--repeats``. "vs bare" is
bare zfpy's round-trip time divided by ours (> 1: we are faster). Because other jobs may share the cores,
the CPU seconds (this process + worker processes, from /proc) are also given: a load-independent measure
of our overhead; with 2 free cores the 2-worker wall time approaches half its CPU time.

Targets: ours with 1 worker >= 80% of bare zfpy's throughput; ours with 2 workers faster than bare zfpy.

    python bench/bench_zfp.py [--repeats 3] [--slices 300]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zfpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cerebro import parallel  # noqa: E402
from cerebro.cbv.compress import compress_volume, decompress  # noqa: E402
from cerebro.cbv.container import read_compressed, write_compressed  # noqa: E402
from cerebro.parallel import available_cores  # noqa: E402
from cerebro.volume import Volume  # noqa: E402

CASES = [("accuracy", {"tolerance": 10.0}), ("rate", {"rate": 8.0}), ("reversible", {})]


def ct_like_volume(slices: int, seed: int = 0) -> np.ndarray:
    """int16 (slices, 512, 512): smooth head-like intensities in HU, bright tubes, Gaussian noise (sd 15 HU)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[0:slices, 0:512, 0:512]
    zf, yf, xf = (z / slices).astype(np.float32), (y / 512).astype(np.float32), (x / 512).astype(np.float32)
    radius = np.sqrt((xf - 0.5) ** 2 + (yf - 0.5) ** 2 + 0.3 * (zf - 0.5) ** 2)
    volume = np.where(radius < 0.42, 40.0 + 30.0 * np.sin(9 * xf) * np.cos(7 * yf), -1000.0).astype(np.float32)
    volume += np.where((radius > 0.40) & (radius < 0.44), 1400.0, 0.0).astype(np.float32)  # skull
    volume += (np.abs(np.sin(23 * xf + 5 * zf) * np.cos(19 * yf)) > 0.985) * np.float32(300.0)  # vessels
    volume += rng.normal(0, 15, volume.shape).astype(np.float32)
    return np.clip(np.rint(volume), -1024, 3071).astype(np.int16)


def cpu_seconds() -> float:
    """CPU seconds of this process plus those of the live worker-pool processes (Linux /proc)."""
    total = time.process_time()
    ticks = os.sysconf("SC_CLK_TCK")
    for pool in parallel._POOLS.values():
        for pid in list(pool._processes or {}):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def best_of(repeats: int, function: Callable[[], object]) -> tuple[float, float]:
    """Best wall-clock seconds and best CPU seconds (this process + pool workers) over ``repeats``."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), cpu_seconds()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(cpu_seconds() - cpu)
    return min(walls), min(cpus)


def bare(array: np.ndarray, parameters: dict, work_dtype: str, repeats: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds to encode and to decode with zfpy alone (int16 <-> work dtype conversion included)."""
    blob = zfpy.compress_numpy(array.astype(work_dtype), **parameters)

    def decode() -> None:
        out = zfpy.decompress_numpy(blob)
        (np.rint(out) if out.dtype.kind == "f" else out).astype(array.dtype)

    return [best_of(repeats, lambda: zfpy.compress_numpy(array.astype(work_dtype), **parameters)),
            best_of(repeats, decode)]


def ours(volume: Volume, mode: str, settings: dict, workers: int, folder: Path, repeats: int
         ) -> list[tuple[float, float]]:
    """(wall, CPU) seconds for compress + write .cbv, and for read .cbv + decompress."""
    path = folder / f"bench-{mode}-{workers}.cbv"

    def encode() -> None:
        write_compressed(compress_volume(volume, "zfp", mode, settings, workers=workers), path)

    def decode() -> None:
        decompress(read_compressed(path), workers=workers)

    return [best_of(repeats, encode), best_of(repeats, decode)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slices", type=int, default=300)
    args = parser.parse_args()

    array = ct_like_volume(args.slices)
    volume = Volume(array, spacing=(0.45, 0.45, 0.6))
    megabytes = array.nbytes / 1e6
    print(f"# ZFP round trip vs bare zfpy: {array.shape} int16, {megabytes:.1f} MB native; zfpy {zfpy.__version__}; "
          f"{platform.processor() or platform.machine()}, {available_cores()} cores, load avg "
          f"{os.getloadavg()[0]:.2f}; best of {args.repeats}")
    start = time.perf_counter()
    compress_volume(Volume(array[:8]), "zfp", "reversible", workers=2)  # start the worker pool once
    print(f"# worker-pool start (once per process, not in the timings below): {time.perf_counter() - start:.2f} s")
    print("| mode | bits/voxel (file) | variant | encode s | decode s | round trip s | MB/s | vs bare (wall) "
          "| round-trip CPU s | vs bare (CPU) |\n|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for mode, settings in CASES:
            meta = compress_volume(volume, "zfp", mode, settings, workers=2)
            path = write_compressed(meta, Path(tmp) / "size.cbv")
            bits = 8 * path.stat().st_size / array.size
            rows = [("bare zfpy, 1 thread", *bare(array, meta.encoded.meta["zfp_parameters"],
                                                  meta.encoded.meta["work_dtype"], args.repeats))]
            for workers in (1, 2):
                rows.append((f"cerebro + .cbv file, {workers} worker{'s' if workers > 1 else ''}",
                             *ours(volume, mode, settings, workers, Path(tmp), args.repeats)))
            label = f"{mode} {' '.join(f'{k}={v:g}' for k, v in settings.items())}".strip()
            bare_wall = rows[0][1][0] + rows[0][2][0]
            bare_cpu = rows[0][1][1] + rows[0][2][1]
            for name, (enc, enc_cpu), (dec, dec_cpu) in rows:
                total, cpu = enc + dec, enc_cpu + dec_cpu
                cpu_cells = f"{cpu:.2f} | {bare_cpu / cpu:.2f}x"
                print(f"| {label} | {bits:.2f} | {name} | {enc:.2f} | {dec:.2f} | {total:.2f} | "
                      f"{megabytes / total:.0f} | {bare_wall / total:.2f}x | {cpu_cells} |")


if __name__ == "__main__":
    main()
