"""Plain SIREN vs the hash-grid INR at equal file size: PSNR against training steps/time on vessel phantoms.

Both codecs run in mode ``ratio`` with the same target, so their .cbv files have (nearly) the same on-disk
size; the table gives the real on-disk ratio of each. ZFP rows are the reference: fixed rate at the target's
bits per voxel (or ZFP's 0.25 bits/value minimum, its highest ratio) and fixed accuracy with the smallest tolerance
that reaches the target (its ratio moves in steps, so it usually overshoots). Usage:

    python bench/bench_siren.py [--size 64] [--ratios 20 130] [--steps 300 1000] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cerebro.cbv.compress import compress_volume, decompress
from cerebro.cbv.container import container_bytes
from cerebro.metrics.quality import psnr
from cerebro.phantoms import generate_phantom
from cerebro.volume import Volume


def _row(volume: Volume, codec: str, mode: str, settings: dict) -> dict:
    """Compress + decompress once; sizes from the serialised .cbv container, PSNR over the original's range."""
    start = time.perf_counter()
    compressed = compress_volume(volume, codec, mode, settings, workers=1)
    encode = time.perf_counter() - start
    start = time.perf_counter()
    decoded = decompress(compressed)
    decode = time.perf_counter() - start
    file_bytes = len(container_bytes(compressed))
    label = f"{codec} {mode}" if codec == "zfp" else codec
    return {"codec": label, "steps": settings.get("steps", "-"), "arch": _arch_text(compressed.encoded.meta),
            "file_bytes": file_bytes, "ratio": volume.nbytes / file_bytes,
            "psnr": psnr(volume.array, decoded.array), "encode_s": encode, "decode_s": decode}


def _arch_text(meta: dict) -> str:
    arch = meta.get("arch")
    if not arch:
        return "-"
    levels = f", q{meta['quant_levels']}"
    if arch["kind"] == "siren":
        return f"siren {arch['depth']}x{arch['width']}{levels}"
    return f"grid {arch['levels']}x{arch['features']}x{arch['table_size']} mlp {arch['depth']}x{arch['width']}{levels}"


def _zfp_at_ratio(volume: Volume, ratio: float) -> dict:
    """ZFP fixed-accuracy with the smallest tolerance whose .cbv file reaches ``ratio`` (log bisection)."""
    span = float(volume.array.max()) - float(volume.array.min())
    low, high = 1e-3 * span, 2.0 * span
    best = None
    for _ in range(24):
        middle = float(np.sqrt(low * high))
        row = _row(volume, "zfp", "accuracy", {"tolerance": middle})
        if row["ratio"] >= ratio:
            best, high = row, middle
        else:
            low = middle
    return best or _row(volume, "zfp", "accuracy", {"tolerance": high})


def _zfp_rate_at_ratio(volume: Volume, ratio: float) -> dict:
    """ZFP fixed-rate at the target's bits per voxel, or at ZFP's 0.25 bits/value minimum if that is higher."""
    return _row(volume, "zfp", "rate", {"rate": max(8 * volume.dtype.itemsize / ratio, 0.25)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="phantom edge length in voxels")
    parser.add_argument("--ratios", type=float, nargs="+", default=[20.0, 130.0])
    parser.add_argument("--steps", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--modalities", nargs="+", default=["mra", "cta"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"phantoms {args.size}^3, torch threads {args.threads}, device cpu\n")
    print("| modality | target | codec | steps | network | file B | on-disk ratio | PSNR dB | encode s | decode s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for modality in args.modalities:
        volume = generate_phantom(args.size, modality, seed=0).image
        for ratio in args.ratios:
            runs = [("zfp-rate", 0), ("zfp-accuracy", 0)] + [(c, s) for c in ("siren", "inr-hashgrid")
                                                                for s in args.steps]
            for codec, steps in runs:
                if codec == "zfp-rate":
                    r = _zfp_rate_at_ratio(volume, ratio)
                elif codec == "zfp-accuracy":
                    r = _zfp_at_ratio(volume, ratio)
                else:
                    r = _row(volume, codec, "ratio", {"ratio": ratio, "steps": steps, "device": "cpu"})
                print(f"| {modality} | {ratio:g}:1 | {r['codec']} | {r['steps']} | {r['arch']} | {r['file_bytes']} | "
                      f"{r['ratio']:.1f} | {r['psnr']:.2f} | {r['encode_s']:.1f} | {r['decode_s']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
