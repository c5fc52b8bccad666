"""CPU seconds and peak memory to segment a 128^3 and a 256^3 volume with each model family.

Networks have the published architectures with RANDOM weights (no weights can be downloaded here; the
cost of inference does not depend on the weight values). Each case runs in its own process so that its
peak resident memory (ru_maxrss) is its own. Inputs are synthetic tube volumes given each family's
network spacing (MambaVesselNet++ 0.3542 mm, UNet++ 1.5 mm, others 0.5 mm) so that the network sees
N^3 voxels. TTA is off (the published recipes of these three networks have none).

    python bench/bench_segment.py [--sizes 128 256] [--families ...] [--threads 2] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

FAMILY_MODELS = {
    "vesselness": ("vesselness", 0.5),
    "spockmip": ("spockmip-unet3d-mip", 0.5),
    "unetpp": ("pvs-unetpp-effb7", 1.5),
    "mambavesselnet": ("mambavesselnet-mra", 0.3542),
}


def run_case(family: str, size: int, threads: int) -> dict:
    """Segment one synthetic size^3 volume in this process; returns timings and peak memory."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from cerebro.segment.api import build_model
    from cerebro.segment.catalog import get_model_entry
    from cerebro.volume import Volume

    model_id, spacing = FAMILY_MODELS[family]
    rng = np.random.default_rng(0)
    k, j, i = np.meshgrid(*[np.arange(size)] * 3, indexing="ij", sparse=True)
    tubes = ((j - size / 2) ** 2 + (k - size / 3) ** 2 < (size / 40) ** 2) | ((i - size / 3) ** 2 + (j - size / 4) ** 2
                                                                             < (size / 60) ** 2)
    array = (100 + 500 * tubes + rng.normal(0, 30, (size,) * 3)).astype(np.float32)
    volume = Volume(array, spacing=(spacing,) * 3)
    model = build_model(get_model_entry(model_id), None, torch.device("cpu"))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = model.predict(volume, tta=False)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"family": family, "model": model_id, "size": size, "cpu_s": cpu, "wall_s": wall,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "foreground_voxels": int(result.mask.array.sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--families", nargs="+", default=list(FAMILY_MODELS), choices=list(FAMILY_MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per case before it is reported as cut")
    parser.add_argument("--case", nargs=2, metavar=("FAMILY", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]), args.threads)))
        return
    print(f"{'family':<16}{'model':<22}{'size':>6}{'CPU s':>10}{'wall s':>10}{'peak MiB':>10}")
    for family in args.families:
        for size in args.sizes:
            cmd = [sys.executable, __file__, "--case", family, str(size), "--threads", str(args.threads)]
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=True).stdout
                row = json.loads(out.strip().splitlines()[-1])
                print(f"{family:<16}{row['model']:<22}{size:>6}{row['cpu_s']:>10.1f}{row['wall_s']:>10.1f}"
                      f"{row['peak_mib']:>10.0f}", flush=True)
            except subprocess.TimeoutExpired:
                cut = f"cut at {int(args.timeout)} s"
                print(f"{family:<16}{FAMILY_MODELS[family][0]:<22}{size:>6}{cut:>30}", flush=True)
            except subprocess.CalledProcessError as exc:
                print(f"{family:<16}{size:>6} failed: {exc.stderr.strip().splitlines()[-1]}", flush=True)


if __name__ == "__main__":
    main()
