"""What the ``roi`` codec does to a volume, as a picture: docs/images/roi_example.png.

One held-out CTA-like phantom coded with ``roi`` (the settings the search recommends) and with ZFP at a similar
compression ratio: an axial slice of the original, of each decoded volume with the region's outline, and the
absolute error of each, plus the default model's masks (MIP) against the truth.

    python bench/make_roi_figure.py [--size 96] [--seed 925000] [--tolerance 86.9] [--zfp-rate 0.5]
                                    [-o docs/images/roi_example.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Code the phantom both ways, segment, draw."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=925000)
    parser.add_argument("--tolerance", type=float, default=86.9)
    parser.add_argument("--zfp-rate", type=float, default=0.5)
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "images" / "roi_example.png"))
    args = parser.parse_args()
    from cerebro.benchmark.plot import pyplot, save_figure
    from cerebro.cbv.compress import compress_volume, decompress
    from cerebro.cbv.container import container_bytes
    from cerebro.codecs import get_codec
    from cerebro.metrics.overlap import dice
    from cerebro.phantoms import generate_phantom
    from cerebro.segment.api import load_model

    phantom = generate_phantom(args.size, "cta", args.seed)
    volume, truth = phantom.image, phantom.mask.array > 0
    model = load_model("cerebro-default-mra", device="cpu")
    roi = compress_volume(volume, "roi", "vesselness", {"tolerance": args.tolerance}, workers=1)
    zfp = compress_volume(volume, "zfp", "rate", {"rate": args.zfp_rate}, workers=1)
    region = get_codec("roi").region(roi.encoded, volume.shape)
    rows = []
    for name, compressed in (("original", None), ("roi", roi), ("zfp", zfp)):
        decoded = volume if compressed is None else decompress(compressed)
        mask = model.predict(decoded, tta=False).mask.array > 0
        ratio = 1.0 if compressed is None else volume.nbytes / len(container_bytes(compressed))
        rows.append((name, decoded.array, mask, ratio, dice(truth, mask)))
    plt = pyplot()
    k = int(np.argmax(truth.sum(axis=(1, 2))))
    low, high = np.percentile(volume.array, (1, 99.9))
    figure, axes = plt.subplots(3, 3, figsize=(11, 11))
    for column, (name, array, mask, ratio, score) in enumerate(rows):
        title = name if name == "original" else f"{name} {ratio:.1f}:1"
        axes[0, column].imshow(array[k], cmap="gray", vmin=low, vmax=high)
        if name == "roi":
            axes[0, column].contour(region[k], levels=[0.5], colors="gold", linewidths=0.6)
        axes[0, column].set_title(f"{title} (slice {k})")
        if name != "original":
            error = np.abs(array[k].astype(np.float64) - volume.array[k])
            shown = axes[1, column].imshow(error, cmap="magma", vmin=0, vmax=args.tolerance)
            axes[1, column].set_title(f"|error| (max {error.max():.0f})")
            figure.colorbar(shown, ax=axes[1, column], fraction=0.046)
        axes[2, column].imshow(mask.max(axis=0), cmap="gray")
        axes[2, column].set_title(f"model's mask, MIP: Dice {score:.4f}")
    axes[1, 0].imshow(region[k], cmap="gray")
    axes[1, 0].set_title(f"region ({region.mean():.1%} of the voxels)")
    for axis in axes.ravel():
        axis.set_axis_off()
    figure.suptitle(f"held-out CTA phantom {args.size}^3 (seed {args.seed}): roi:vesselness:tolerance="
                    f"{args.tolerance:g} against ZFP rate {args.zfp_rate:g}")
    figure.tight_layout()
    print(save_figure(figure, args.output, dpi=110))


if __name__ == "__main__":
    main()
