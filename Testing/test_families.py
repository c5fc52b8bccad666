"""Every family loads from its published checkpoint layout (offline, through the download path) and segments
a phantom on the CPU with the input's geometry. Networks are tiny versions of the published architectures
(random weights), so these tests prove loading and the inference recipe, not accuracy; the classical
baseline is checked for accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from segzoo_helpers import local_entry, tube_phantom, write_catalog
from volume_helpers import oblique_direction

from cerebro.errors import CerebroError
from cerebro.metrics.overlap import dice
from cerebro.segment.api import load_model, segment
from cerebro.segment.grid import back_to_input, network_grid, to_channel_first
from cerebro.volume import same_geometry


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _check_result(result, volume, labels=(0, 1)):
    assert same_geometry(result.mask, volume) is None and result.mask.dtype == np.uint8
    assert set(np.unique(result.mask.array)) <= set(labels)
    assert result.probabilities is not None and same_geometry(result.probabilities, volume) is None
    probs = result.probabilities.array
    assert probs.dtype == np.float32 and np.isfinite(probs).all() and probs.min() >= 0 and probs.max() <= 1


def test_network_grid_round_trip_keeps_geometry_and_values():
    volume, _ = tube_phantom(shape=(20, 24, 28), direction=oblique_direction())
    smooth = volume.with_array(np.fromfunction(lambda k, j, i: np.sin(i / 6) + np.cos(j / 7) + k / 20,
                                               volume.shape).astype(np.float32))
    grid = network_grid(smooth, "RAS", None)
    direction = np.array(grid.GetDirection()).reshape(3, 3)
    assert direction[0, 0] < 0 and direction[1, 1] < 0 and direction[2, 2] > 0  # x to Right, y to Anterior (LPS)
    back = back_to_input(to_channel_first(grid), grid, smooth, default=[0.0])[0]
    assert np.abs(back - smooth.array)[1:-1, 1:-1, 1:-1].max() < 1e-4
    coarse = network_grid(smooth, "RAS", [1.0, 1.0, 1.0])
    assert coarse.GetSpacing() == (1.0, 1.0, 1.0)
    again = back_to_input(to_channel_first(coarse), coarse, smooth, default=[0.0])[0]
    assert np.abs(again - smooth.array)[3:-3, 3:-3, 3:-3].max() < 0.1


def test_mambavesselnet_loads_training_checkpoint_and_segments(tmp_path, monkeypatch):
    from cerebro.segment.families.mambavesselnet import MvnNet

    torch.manual_seed(0)
    net = MvnNet(in_chans=1, out_chans=2, feature_dims=[4, 8, 8, 8, 16])
    cache = tmp_path / "cache"
    (cache / "mvn").mkdir(parents=True)
    checkpoint = {"model": net.state_dict(), "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4}]},
                  "scheduler": {"last_epoch": 5000}, "scaler": {"scale": 65536.0}}
    torch.save(checkpoint, cache / "mvn" / "best.ckpt")
    spec = {"spacing_mm": [1.0, 1.0, 1.0], "orientation": "RAS",
            "intensity": {"a_min": 0.0, "a_max": 1000.0, "b_min": 0.0, "b_max": 1.0, "clip": True}}
    opts = {"architecture": {"in_chans": 1, "out_chans": 2, "feature_dims": [4, 8, 8, 8, 16]},
            "window": [32, 32, 32], "overlap": 0.25, "sw_batch_size": 2, "crop_foreground": True}
    catalog = write_catalog(tmp_path / "c.json", [local_entry(cache, "mvn", "mambavesselnet", "best.ckpt", opts, spec)])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load_model("mvn", device="cpu", cache_dir=cache, catalog=catalog)
    for key, value in net.state_dict().items():
        assert torch.equal(model.network.state_dict()[key], value)
    volume, _ = tube_phantom(direction=oblique_direction())
    result = model.predict(volume, tta=False, return_probabilities=True)
    _check_result(result, volume)
    np.testing.assert_array_equal(result.mask.array, (result.probabilities.array > 0.5).astype(np.uint8))

    bad = dict(checkpoint, model={k: v for k, v in net.state_dict().items() if "A_b_log" not in k})
    torch.save(bad, cache / "mvn" / "best.ckpt")
    with pytest.raises(CerebroError, match="do not fit the MambaVesselNet.*missing.*A_b_log"):
        load_model("mvn", device="cpu", cache_dir=cache, weights=cache / "mvn" / "best.ckpt", catalog=catalog)


def test_spockmip_loads_prefixed_safetensors_without_remote_code(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    from cerebro.segment.families.spockmip import SpockUNet, max_normalise

    torch.manual_seed(0)
    net = SpockUNet(1, 1, init_features=4)
    keys = list(net.state_dict())
    assert keys[:3] == ["Conv1.conv.0.weight", "Conv1.conv.0.bias", "Conv1.conv.1.weight"]
    assert "Up5.up.1.weight" in keys and "Up_conv2.conv.4.running_var" in keys and keys[-1] == "Conv.bias"
    cache = tmp_path / "cache"
    (cache / "spock").mkdir(parents=True)
    save_file({f"model.{k}": v.contiguous() for k, v in net.state_dict().items()},
              cache / "spock" / "model.safetensors")
    opts = {"architecture": {"in_ch": 1, "out_ch": 1, "init_features": 4}, "key_prefix": "model.",
            "window": [32, 32, 32], "strides_ijk": [16, 16, 8], "sw_batch_size": 4}
    catalog = write_catalog(tmp_path / "c.json",
                            [local_entry(cache, "spock", "spockmip", "model.safetensors", opts)])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    volume, _ = tube_phantom(shape=(24, 32, 40))
    result = segment(volume, "spock", device="cpu", tta=False, return_probabilities=True, cache_dir=cache,
                     catalog=catalog)
    _check_result(result, volume)
    assert result.mask.metadata["segmentation_model"]["precision"] == "float32"  # bfloat16 on CPUs: nnU-Net only
    probs = result.probabilities.array
    assert result.mask.array.any() and not result.mask.array.all()  # Otsu split of the probability map
    # whole-volume check of the recipe: one window covering the volume equals the network on the
    # max-normalised, (k, i, j)-ordered volume
    small, _ = tube_phantom(shape=(32, 32, 32))
    whole = segment(small, "spock", device="cpu", tta=False, return_probabilities=True, cache_dir=cache,
                    catalog=catalog).probabilities.array
    with torch.no_grad():
        x = torch.from_numpy(small.array.transpose(0, 2, 1).copy())[None, None]
        direct = torch.sigmoid(net.eval()(max_normalise(x)))[0, 0].numpy().transpose(0, 2, 1)
    np.testing.assert_allclose(whole, direct, atol=1e-5)
    assert probs.shape == volume.shape


def test_unetpp_b7_layout_and_tiny_encoder_segments(tmp_path, monkeypatch):
    from cerebro.segment.families.unetpp import UnetPlusPlus3d

    with torch.device("meta"):
        b7 = UnetPlusPlus3d("efficientnet-b7", in_channels=1, classes=1)
    state = b7.state_dict()
    # numbers of segmentation_models_pytorch_3d 1.0.2 UnetPlusPlus("efficientnet-b7", in_channels=1, classes=1)
    assert len(state) == 1332 and len(b7.encoder._blocks) == 55
    assert tuple(state["encoder._conv_stem.weight"].shape) == (64, 1, 3, 3, 3)
    assert tuple(state["encoder._conv_head.weight"].shape) == (2560, 640, 1, 1, 1)
    assert tuple(state["decoder.blocks.x_0_0.conv1.0.weight"].shape) == (256, 640 + 224, 3, 3, 3)
    assert tuple(state["segmentation_head.0.weight"].shape) == (1, 16, 3, 3, 3)

    torch.manual_seed(0)
    net = UnetPlusPlus3d("efficientnet-b0", decoder_channels=(16, 8, 8, 8, 4))
    cache = tmp_path / "cache"
    (cache / "upp").mkdir(parents=True)
    torch.save(net.state_dict(), cache / "upp" / "best_model.pth")
    spec = {"spacing_mm": [1.5, 1.5, 1.5], "orientation": "RAS",
            "intensity": {"a_min": -1000.0, "a_max": 3000.0, "b_min": 0.0, "b_max": 1.0, "clip": True}}
    opts = {"architecture": {"encoder": "efficientnet-b0", "in_channels": 1, "classes": 1,
                             "decoder_channels": [16, 8, 8, 8, 4]}, "window": [32, 32, 32], "overlap": 0.5,
            "sw_batch_size": 1, "threshold": 0.5}
    catalog = write_catalog(tmp_path / "c.json", [local_entry(cache, "upp", "unetpp", "best_model.pth", opts, spec)])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    volume, _ = tube_phantom(shape=(24, 32, 40), direction=oblique_direction())
    result = segment(volume, "upp", device="cpu", tta=True, return_probabilities=True, cache_dir=cache,
                     catalog=catalog)
    _check_result(result, volume)
    np.testing.assert_array_equal(result.mask.array, (result.probabilities.array > 0.5).astype(np.uint8))


def test_vesselness_baseline_finds_the_tubes():
    volume, truth = tube_phantom(direction=oblique_direction())
    result = segment(volume, "vesselness", return_probabilities=True)
    _check_result(result, volume)
    assert dice(result.mask.array.astype(bool), truth) > 0.7


def test_nnunet_family_runs_from_a_cached_results_zip(tmp_path, monkeypatch):
    from nnunet_helpers import old_style_configuration, plans_dict, vessel_phantom, write_results_folder, zip_folder

    from cerebro.segment.families.nnunet.networks import build_network
    from cerebro.segment.families.nnunet.plans import NnUNetPlans
    from cerebro.volume import Volume

    torch.manual_seed(0)
    cfg = old_style_configuration(patch=(32, 32, 32), max_features=16)
    plans = NnUNetPlans(plans=plans_dict(cfg), dataset={"labels": {"background": 0, "vessel": 1}},
                        configuration_name="3d_fullres", configuration=cfg)
    net = build_network("nnUNetTrainer", plans)
    folder = write_results_folder(tmp_path / "stage", "nnUNetTrainer", plans.plans, net)
    cache = tmp_path / "cache"
    (cache / "nn").mkdir(parents=True)
    zip_folder(folder, cache / "nn" / "model.zip")
    opts = {"folds": [0], "checkpoint": "checkpoint_final.pth"}
    catalog = write_catalog(tmp_path / "c.json", [local_entry(cache, "nn", "nnunet", "model.zip", opts, archive="zip",
                                                              labels=None)])
    assert json.loads((tmp_path / "c.json").read_text())["models"][0]["labels"] is None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    volume = Volume(vessel_phantom(shape=(32, 32, 32)), spacing=(0.8, 0.8, 1.0))
    result = segment(volume, "nn", device="cpu", tta=False, cache_dir=cache, catalog=catalog)
    assert same_geometry(result.mask, volume) is None and result.labels == {0: "background", 1: "vessel"}
    # a local zip given explicitly is extracted into the cache, not next to the user's file
    local = zip_folder(folder, tmp_path / "mine.zip")
    again = segment(volume, "nn", device="cpu", tta=False, cache_dir=cache, weights=local, catalog=catalog)
    np.testing.assert_array_equal(again.mask.array, result.mask.array)
    assert any((cache / "nn").glob("local-*/nnUNetTrainer__nnUNetPlans__3d_fullres/plans.json"))


def test_cancellation_stops_a_running_segmentation():
    from cerebro.errors import Cancelled
    from cerebro.progress import Progress

    volume, _ = tube_phantom(shape=(16, 16, 16))
    progress = Progress(on_update=lambda fraction, message: progress.cancel() if fraction > 0 else None)
    with pytest.raises(Cancelled):
        segment(volume, "vesselness", progress=progress)


def test_every_family_is_registered_and_its_models_share_one_interface(tmp_path):
    from cerebro.segment.catalog import ModelEntry, family_names, load_catalog
    from cerebro.segment.registry import SegmentationModel, build_model, register_family

    catalog = load_catalog()
    assert set(family_names()) == {"nnunet", "mambavesselnet", "unetpp", "spockmip", "vesselness"}
    assert set(family_names()) >= {entry.family for entry in catalog.values() if not entry.routes}
    for family in ("vesselness", "spockmip", "mambavesselnet"):  # random weights: interface only
        entry = next(e for e in catalog.values() if e.family == family)
        if family == "mambavesselnet":
            entry = ModelEntry(**{**entry.as_dict(), "labels": entry.labels,
                                  "options": {**entry.options, "architecture": {"feature_dims": [4, 8, 8, 8, 16]}}})
        model = build_model(entry, None, torch.device("cpu"))
        assert isinstance(model, SegmentationModel)
        assert model.labels[0] == "background" and isinstance(model.input_recipe, dict)
    nnunet = load_model("cerebro-default", device="cpu", modality="mra")
    assert isinstance(nnunet, SegmentationModel) and nnunet.input_recipe["patch_size"] == [64, 64, 64]
    with pytest.raises(CerebroError, match="unknown family 'nope'"):
        build_model(ModelEntry(id="x", family="nope"), None, "cpu")
    with pytest.raises(ValueError, match="no module of cerebro.segment.families"):
        register_family("nope")


def test_vesselness_rules_scales_from_the_spacing_and_the_ct_window():
    from cerebro.vesselness import default_sigmas, threshold_response, window_for, windowed
    from cerebro.volume import Volume

    assert default_sigmas((0.4, 0.4, 0.6)) == pytest.approx(list(np.geomspace(0.4, 2.0, 4)))
    assert default_sigmas((1.0, 1.0, 1.0))[-1] == pytest.approx(3.0)  # at least three voxels
    ct = Volume(np.full((4, 4, 4), -1000, np.int16))
    mr = Volume(np.full((4, 4, 4), 10, np.uint16))
    assert window_for(ct) == (0.0, 600.0) and window_for(mr) is None and window_for(ct, None) is None
    row = [-1000, 30, 350, 400, 40, 900, 1500]  # 1 mm voxels
    head = Volume(np.array(row * 4, np.int16).reshape(4, 7, 1).repeat(4, axis=2))
    # bone and 2 mm around it (diploe, partial-volume rims) are no bright structure; 3 mm away a vessel stays
    assert windowed(head)[0, :, 0].tolist() == [0.0, 30.0, 350.0, 0.0, 0.0, 0.0, 0.0]
    assert windowed(head, (0.0, 600.0))[0, :, 0].tolist() == [0.0, 30.0, 350.0, 400.0, 40.0, 600.0, 600.0]
    response = np.r_[np.zeros(50), np.full(50, 0.1), np.full(10, 0.9)]
    assert 0.1 <= threshold_response(response) < 0.9 and threshold_response(response, 0.3) == 0.3
