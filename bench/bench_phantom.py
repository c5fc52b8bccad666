"""Time and peak memory of CTA phantom generation (tree + voxelisation + appearance; no file writing).

Each size runs in its own process so that the peak resident memory (ru_maxrss) belongs to that size alone;
tracemalloc's peak counts the numpy allocations of the generation itself.

    python bench/bench_phantom.py            # 128^3, 256^3, 512 x 512 x 300
    python bench/bench_phantom.py --one 300 512 512
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

SHAPES = ((128, 128, 128), (256, 256, 256), (300, 512, 512))


def measure(shape: tuple[int, int, int], modality: str = "cta", seed: int = 0) -> dict:
    """Generate one phantom and return its timing, memory and vessel statistics."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from cerebro.phantoms import generate_phantom

    tracemalloc.start()
    start = time.perf_counter()
    cpu = time.process_time()
    phantom = generate_phantom(shape, modality, seed)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "shape": list(shape), "modality": modality, "seconds": seconds, "cpu_seconds": cpu_seconds,
        "tracemalloc_peak_mib": peak / 2**20,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "outputs_mib": sum(v.nbytes for v in (phantom.image, phantom.mask, phantom.centerline_mask,
                                              phantom.fraction)) / 2**20,
        **phantom.stats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--one", type=int, nargs=3, metavar=("Z", "Y", "X"))
    parser.add_argument("--modality", default="cta", choices=("cta", "mra"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(tuple(args.one), args.modality)))
        return
    print("| shape (z,y,x) | modality | wall s | CPU s | tracemalloc peak MiB | max RSS MiB | outputs MiB |"
          " segments | vessel % of brain | radius min-max mm |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for shape in SHAPES:
        out = subprocess.run([sys.executable, __file__, "--one", *map(str, shape), "--modality", args.modality],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {'x'.join(map(str, r['shape']))} | {r['modality']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} |"
              f" {r['tracemalloc_peak_mib']:.0f} | {r['maxrss_mib']:.0f} | {r['outputs_mib']:.0f} | {r['segments']} |"
              f" {100 * r['vessel_fraction_of_brain']:.2f} | {r['radius_min_mm']:.2f}-{r['radius_max_mm']:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
