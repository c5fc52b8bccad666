"""Throughput of the pure-PyTorch selective scan on CPU at U-Mamba's sizes, against the float64 reference.

Sizes come from a typical U-Mamba 3d_fullres plan: patch 128x128x128, features 32-64-128-256-320-320,
strides 1-2-2-2-2-2, Mamba d_state 16, expand 2:
- Bot bottleneck: 4x4x4 = 64 tokens, d_model 320 (d_inner 640);
- Enc stage 0: 128x128x128 = 2,097,152 tokens, d_model 32 (d_inner 64).
The float64 step-by-step reference is timed on a short prefix (it runs one Python step per token).
Usage: python bench/bench_scan.py [--threads N] [--enc-tokens L] [--ref-tokens L]
"""

from __future__ import annotations

import argparse
import time

import torch

from cerebro.segment.mamba.selective_scan import selective_scan, selective_scan_reference


def _inputs(d_inner: int, length: int, dstate: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        u=torch.randn(1, d_inner, length, generator=g), delta=torch.randn(1, d_inner, length, generator=g) * 0.5,
        A=-torch.exp(torch.log(torch.arange(1, dstate + 1, dtype=torch.float32)).repeat(d_inner, 1)),
        B=torch.randn(1, dstate, length, generator=g), C=torch.randn(1, dstate, length, generator=g),
        D=torch.ones(d_inner), z=torch.randn(1, d_inner, length, generator=g),
        delta_bias=torch.full((d_inner,), -3.0),
    )


def _time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--enc-tokens", type=int, default=128**3, help="Enc stage-0 sequence length (128^3)")
    parser.add_argument("--ref-tokens", type=int, default=2048, help="prefix length timed with the reference")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = [("Bot bottleneck 4^3, C=320", 640, 64), ("Enc stage 0 128^3, C=32", 64, args.enc_tokens)]
    print(f"threads={args.threads}  d_state=16  batch=1  times are best of runs")
    print(f"{'case':28s} {'d_inner':>7s} {'tokens':>9s} {'scan s':>8s} {'scan tok/s':>11s} "
          f"{'ref tok/s':>10s} {'speed-up':>8s} {'rel err':>9s}")
    for name, d_inner, length in cases:
        x = _inputs(d_inner, length)
        seconds = _time(lambda x=x: selective_scan(**x, delta_softplus=True), 3 if length < 10**5 else 1)
        ref_len = min(length, args.ref_tokens)
        prefix = {k: (v[..., :ref_len] if v.dim() == 3 else v) for k, v in x.items()}
        ref_seconds = _time(lambda p=prefix: selective_scan_reference(**p, delta_softplus=True), 1)
        y = selective_scan(**prefix, delta_softplus=True)
        ref = selective_scan_reference(**prefix, delta_softplus=True)
        rel = ((y.double() - ref).norm() / ref.norm()).item()
        scan_tps, ref_tps = length / seconds, ref_len / ref_seconds
        print(f"{name:28s} {d_inner:7d} {length:9d} {seconds:8.3f} {scan_tps:11.3g} {ref_tps:10.3g} "
              f"{scan_tps / ref_tps:8.1f} {rel:9.2e}")


if __name__ == "__main__":
    main()
