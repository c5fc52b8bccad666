"""Save maximum intensity projections of one TOF-MRA-like phantom to docs/images/phantom_mip.png.

    python bench/make_phantom_mip.py [--size 256] [--seed 0] [-o docs/images/phantom_mip.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "images" / "phantom_mip.png"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from cerebro.phantoms import generate_phantom

    phantom = generate_phantom(args.size, "mra", args.seed)
    image = phantom.image.array.astype(np.float32)
    sx, sy, sz = phantom.image.spacing
    views = (
        ("axial MIP (superior view)", image.max(axis=0), sy / sx),
        ("coronal MIP", image.max(axis=1), sz / sx),
        ("sagittal MIP", image.max(axis=2), sz / sy),
    )
    vmax = float(image.max())
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 4.0), dpi=72)
    for ax, (title, mip, aspect) in zip(axes, views):
        ax.imshow(mip, cmap="gray", origin="lower", aspect=aspect, vmin=0, vmax=vmax, interpolation="antialiased")
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    stats = phantom.stats
    fig.suptitle(f"TOF-MRA-like phantom {args.size}^3, {sx}x{sy}x{sz} mm, seed {args.seed}: "
                 f"{100 * stats['vessel_fraction_of_brain']:.1f}% vessel voxels in brain, "
                 f"radii {stats['radius_min_mm']:.2f}-{stats['radius_max_mm']:.1f} mm", fontsize=10)
    fig.tight_layout()
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(f"{out} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
