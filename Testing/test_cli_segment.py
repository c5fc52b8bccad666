"""``cerebro segment`` and ``cerebro models`` end to end (in-process)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from segzoo_helpers import local_entry, tube_phantom
from volume_helpers import oblique_direction

from cerebro.cli.main import main
from cerebro.io import read_volume, write_volume
from cerebro.metrics.overlap import dice
from cerebro.volume import same_geometry


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_segment_with_the_classical_baseline_writes_mask_and_probabilities(tmp_path, capsys):
    volume, truth = tube_phantom(direction=oblique_direction())
    write_volume(volume, tmp_path / "in.nii.gz")
    code = main(["segment", str(tmp_path / "in.nii.gz"), str(tmp_path / "mask.nii.gz"), "--model", "vesselness",
                 "--probabilities", str(tmp_path / "prob.nrrd"), "--quiet", "--no-tta"])
    assert code == 0 and "vessel" in capsys.readouterr().out
    mask, prob = read_volume(tmp_path / "mask.nii.gz"), read_volume(tmp_path / "prob.nrrd")
    reference = read_volume(tmp_path / "in.nii.gz")
    assert same_geometry(mask, reference) is None and same_geometry(prob, reference) is None
    assert dice(mask.array > 0, truth) > 0.7


def test_segment_with_a_cached_network_model(tmp_path, monkeypatch, capsys):
    from safetensors.torch import save_file

    from cerebro.segment.families.spockmip import SpockUNet

    torch.manual_seed(0)
    cache = tmp_path / "cache"
    (cache / "spock").mkdir(parents=True)
    save_file({f"model.{k}": v.contiguous() for k, v in SpockUNet(1, 1, 4).state_dict().items()},
              cache / "spock" / "model.safetensors")
    opts = {"architecture": {"in_ch": 1, "out_ch": 1, "init_features": 4}, "window": [32, 32, 32],
            "strides_ijk": [16, 16, 16], "sw_batch_size": 2}
    (tmp_path / "cat.json").write_text(json.dumps(
        {"models": [local_entry(cache, "spock", "spockmip", "model.safetensors", opts)]}))
    monkeypatch.setenv("CEREBRO_CATALOG", str(tmp_path / "cat.json"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    volume, _ = tube_phantom(shape=(24, 32, 32))
    write_volume(volume, tmp_path / "in.nrrd")
    assert main(["segment", str(tmp_path / "in.nrrd"), str(tmp_path / "out.nrrd"), "--model", "spock",
                 "--device", "cpu", "--cache-dir", str(cache), "--quiet", "--no-tta"]) == 0
    out = read_volume(tmp_path / "out.nrrd")
    assert same_geometry(out, volume) is None and out.dtype == np.uint8
    assert main(["models", "list"]) == 0 and "spock" in capsys.readouterr().out


def test_user_errors_are_one_line(tmp_path, capsys):
    volume, _ = tube_phantom(shape=(8, 8, 8))
    write_volume(volume, tmp_path / "in.nii.gz")
    assert main(["segment", str(tmp_path / "in.nii.gz"), str(tmp_path / "o.nii.gz"), "--model", "nope",
                 "--quiet"]) == 2
    assert "error: unknown model 'nope'" in capsys.readouterr().err
    assert main(["segment", str(tmp_path / "in.nii.gz"), str(tmp_path / "in.nii.gz"), "--model", "vesselness"]) == 2
    assert "would overwrite the input file" in capsys.readouterr().err
    for outputs in (["o.txt"], ["o.nii.gz", "--probabilities", "p.png"]):  # refused before any work is done
        assert main(["segment", str(tmp_path / "in.nii.gz"), str(tmp_path / outputs[0]), *outputs[1:],
                     "--model", "nope", "--quiet"]) == 2
        assert "must end with one of: .nii, .nii.gz" in capsys.readouterr().err
    assert main(["segment", str(tmp_path / "missing.nii.gz"), str(tmp_path / "o.nii.gz"), "--model", "x"]) == 2
    assert main(["models", "download", "mambavesselnet-mra", "--cache-dir", str(tmp_path), "--quiet"]) == 2
    assert "--allow-unpinned" in capsys.readouterr().err
    assert main(["models", "download", "spockmip-unet3d-mip", "--cache-dir", str(tmp_path), "--allow-unpinned",
                 "--offline", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "put it at" in err and "spockmip-unet3d-mip/model.safetensors" in err
    assert main(["segment", str(tmp_path / "in.nii.gz"), str(tmp_path / "o.nii.gz"), "--model", "vesselness",
                 "--device", "tpu", "--quiet"]) == 2


def test_models_list_json_and_download_of_weightless_model(capsys):
    assert main(["models", "list", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert {e["family"] for e in entries} >= {"nnunet", "mambavesselnet", "unetpp", "spockmip", "vesselness"}
    assert main(["models", "download", "vesselness"]) == 0
    assert "needs no weights" in capsys.readouterr().out
