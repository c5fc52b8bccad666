"""The network's number type: float32 on request (nnU-Net's CPU numbers exactly), bfloat16 under ``auto`` on CPUs
that compute it in hardware (masks checked against float32), float16 on CUDA; chosen at the edge (``--precision``)
and kept per benchmark store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cerebro.benchmark.runner import run_benchmark
from cerebro.benchmark.store import ResultStore
from cerebro.benchmark.sweep import parse_setting
from cerebro.cli.main import main
from cerebro.datasets import Manifest
from cerebro.errors import CerebroError
from cerebro.io import read_volume
from cerebro.phantoms import generate_phantom
from cerebro.phantoms.write import write_phantom_case

torch = pytest.importorskip("torch")

from cerebro.segment import device as device_module  # noqa: E402
from cerebro.segment.device import effective_precision  # noqa: E402

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize("hardware", [True, False])
def test_effective_precision_follows_the_request_the_family_and_the_hardware(monkeypatch, hardware):
    monkeypatch.setattr(device_module, "cpu_has_native_bfloat16", lambda: hardware)
    assert effective_precision(CPU, "auto", cpu_bfloat16=True) == ("bfloat16" if hardware else "float32")
    assert effective_precision(CPU, "auto", cpu_bfloat16=False) == "float32"  # families not checked on CPUs
    assert effective_precision(CPU, "float32", cpu_bfloat16=True) == "float32"
    assert effective_precision(CUDA, "auto") == "float16"
    assert effective_precision(CUDA, "float32") == "float32"
    assert effective_precision(CUDA, "auto", half_precision=False) == "float32"
    with pytest.raises(CerebroError, match="unknown precision 'bf16'; use one of auto, float32"):
        effective_precision(CPU, "bf16")


def test_bfloat16_masks_agree_with_float32_and_say_what_ran(monkeypatch):
    """On the shipped MRA model and a 64^3 phantom the bfloat16 mask differs from float32's in a handful of voxels
    (bench/RESULTS.md measures the held-out families); the mask's metadata names the number type."""
    from cerebro.segment.api import load_model

    if not device_module.cpu_has_native_bfloat16():
        monkeypatch.setattr(device_module, "cpu_has_native_bfloat16", lambda: True)  # emulated: slow, same numbers
    model = load_model("cerebro-default-mra", device="cpu")
    volume = generate_phantom(64, "mra", seed=3).image
    exact = model.predict(volume, tta=False, precision="float32").mask
    fast = model.predict(volume, tta=False, precision="auto").mask
    assert exact.metadata["segmentation_model"]["precision"] == "float32"
    assert fast.metadata["segmentation_model"]["precision"] == "bfloat16"
    a, b = exact.array > 0, fast.array > 0
    assert 2 * (a & b).sum() / (a.sum() + b.sum()) > 0.995
    assert (a != b).mean() < 0.001


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Manifest:
    root = tmp_path_factory.mktemp("phantoms")
    return Manifest([write_phantom_case(generate_phantom(32, "mra", seed=5), root, "mra_5")])


def test_a_store_keeps_one_precision_and_old_stores_ran_in_float32(manifest, tmp_path):
    store = ResultStore(tmp_path / "run")
    settings = [parse_setting("zfp:reversible")]
    assert run_benchmark(manifest, settings, ["cerebro-default"], store, device="cpu", precision="float32") == 2
    records = store.records()
    assert {r["network_dtype"] for r in records} == {"float32"}
    with pytest.raises(CerebroError, match="was run with precision=float32, not auto; use the same options"):
        run_benchmark(manifest, settings, ["cerebro-default"], store, device="cpu", precision="auto")
    options = json.loads((store.folder / "options.json").read_text())
    del options["precision"]  # a store written before the option was recorded
    (store.folder / "options.json").write_text(json.dumps(options))
    assert run_benchmark(manifest, settings, ["cerebro-default"], store, device="cpu", precision="float32") == 0
    with pytest.raises(CerebroError, match="precision=float32, not auto"):
        run_benchmark(manifest, settings, ["cerebro-default"], store, device="cpu", precision="auto")


def test_the_command_line_takes_the_precision_and_refuses_others(manifest, tmp_path, capsys):
    image = manifest.cases[0].image_path
    assert main(["segment", str(image), str(tmp_path / "m.nii.gz"), "--no-tta", "--precision", "float32",
                 "--quiet"]) == 0
    with pytest.raises(SystemExit) as exit_info:
        main(["segment", str(image), str(tmp_path / "n.nii.gz"), "--precision", "half"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'half'" in capsys.readouterr().err
    assert not (tmp_path / "n.nii.gz").exists()
    mask = read_volume(tmp_path / "m.nii.gz").array
    assert mask.dtype == np.uint8 and mask.any()
