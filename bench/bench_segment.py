"""CPU seconds and peak memory to segment a 128^3 and a 256^3 volume with each model family.

Networks have the published architectures with RANDOM weights (no weights can be downloaded here; the
cost of inference does not depend on the weight values), except the shipped default model (its own weights).
The published U-Mamba results folders cannot be inspected from here, so U-Mamba Bot/Enc and plain nnU-Net
run a typical nnU-Net 3d_fullres plan (patch 128^3, 6 stages of 32-320 features, 0.5 mm), written as a
results folder and loaded through the same loader as a download. Each case runs in its own process so that
its peak resident memory (ru_maxrss) is its own. Inputs are synthetic tube volumes given each family's
network spacing (MambaVesselNet++ 0.3542 mm, UNet++ 1.5 mm, the default model its plans' 0.4 x 0.4 x 0.55 mm,
others 0.5 mm) so that the network sees N^3 voxels. TTA is off (the published recipes of MambaVesselNet++,
UNet++ and SPOCKMIP have none; the seed's U-Mamba inference uses --disable_tta).

    python bench/bench_segment.py [--sizes 128 256] [--families ...] [--threads 2] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

FAMILY_MODELS = {
    "vesselness": ("vesselness", 0.5),
    "spockmip": ("spockmip-unet3d-mip", 0.5),
    "unetpp": ("pvs-unetpp-effb7", 1.5),
    "mambavesselnet": ("mambavesselnet-mra", 0.3542),
    "default": ("cerebro-default-mra", (0.4, 0.4, 0.55)),
    "nnunet-typical": ("nnUNetTrainer", 0.5),
    "umamba-bot": ("nnUNetTrainerUMambaBot", 0.5),
    "umamba-enc": ("nnUNetTrainerUMambaEnc", 0.5),
}
TYPICAL_FEATURES = [32, 64, 128, 256, 320, 320]  # nnU-Net 3d_fullres defaults for a ~128^3 patch
TYPICAL_PATCH = [128, 128, 128]


def typical_nnunet_model(trainer: str, root: str):
    """A random-weight ``trainer`` network on the typical plan, written as a results folder under ``root``
    (the shipped default model's plans.json with the patch, spacing and stages replaced) and loaded back."""
    import copy
    import json
    from pathlib import Path

    import torch

    import cerebro
    from cerebro.segment.catalog import get_model_entry
    from cerebro.segment.families.nnunet.networks import build_network
    from cerebro.segment.families.nnunet.plans import load_plans
    from cerebro.segment.families.nnunet.results_folder import load_nnunet_model

    shipped = Path(cerebro.__file__).parent / get_model_entry("cerebro-default-mra").local
    plans = json.loads((shipped / "plans.json").read_text())
    config = copy.deepcopy(plans["configurations"]["3d_fullres"])
    n = len(TYPICAL_FEATURES)
    config.update(patch_size=TYPICAL_PATCH, spacing=[0.5] * 3, median_image_size_in_voxels=[256] * 3)
    config["architecture"]["arch_kwargs"].update(
        n_stages=n, features_per_stage=TYPICAL_FEATURES, kernel_sizes=[[3, 3, 3]] * n,
        strides=[[1, 1, 1]] + [[2, 2, 2]] * (n - 1), n_conv_per_stage=[2] * n, n_conv_per_stage_decoder=[2] * (n - 1))
    plans["configurations"] = {"3d_fullres": config}
    folder = Path(root) / f"{trainer}__nnUNetPlans__3d_fullres"
    (folder / "fold_0").mkdir(parents=True)
    (folder / "plans.json").write_text(json.dumps(plans))
    (folder / "dataset.json").write_text((shipped / "dataset.json").read_text())
    network = build_network(trainer, load_plans(folder / "plans.json", folder / "dataset.json", "3d_fullres"))
    torch.save({"network_weights": network.state_dict(), "trainer_name": trainer,
                "init_args": {"configuration": "3d_fullres"}, "inference_allowed_mirroring_axes": [0, 1, 2]},
               folder / "fold_0" / "checkpoint_final.pth")
    return load_nnunet_model(folder, device="cpu")


def run_case(family: str, size: int, threads: int) -> dict:
    """Segment one synthetic size^3 volume in this process; returns timings and peak memory."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from cerebro.segment.api import load_model
    from cerebro.segment.catalog import get_model_entry
    from cerebro.segment.registry import build_model
    from cerebro.volume import Volume

    model_id, spacing = FAMILY_MODELS[family]
    spacing = spacing if isinstance(spacing, tuple) else (spacing,) * 3
    rng = np.random.default_rng(0)
    k, j, i = np.meshgrid(*[np.arange(size)] * 3, indexing="ij", sparse=True)
    tubes = ((j - size / 2) ** 2 + (k - size / 3) ** 2 < (size / 40) ** 2) | ((i - size / 3) ** 2 + (j - size / 4) ** 2
                                                                             < (size / 60) ** 2)
    array = (100 + 500 * tubes + rng.normal(0, 30, (size,) * 3)).astype(np.float32)
    volume = Volume(array, spacing=spacing)
    with tempfile.TemporaryDirectory() as root:
        if model_id.startswith("nnUNetTrainer"):
            model = typical_nnunet_model(model_id, root)
        elif get_model_entry(model_id).local is not None:
            model = load_model(model_id, device="cpu")
        else:
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
