"""Plain nnU-Net results folders (old and new plans, folder and zip), nnU-Net preprocessing pieces, sliding
window and mirroring."""

import itertools
from fractions import Fraction

import numpy as np
import pytest
import torch
from dynamic_network_architectures.architectures.unet import PlainConvUNet
from nnunet_helpers import (
    DATASET,
    FEATURES,
    N_STAGES,
    new_style_configuration,
    old_style_configuration,
    plans_dict,
    vessel_phantom,
    write_results_folder,
    zip_folder,
)
from torch import nn

from cerebro.errors import CerebroError
from cerebro.segment.families.nnunet import load_nnunet_model
from cerebro.segment.families.nnunet.plans import NnUNetPlans
from cerebro.segment.families.nnunet.preprocess import new_shape_for_spacing, nonzero_bbox, normalize, resample
from cerebro.segment.families.nnunet.sliding_window import (
    gaussian_importance,
    sliding_window_logits,
    weight_sums,
    window_starts,
)
from cerebro.volume import Volume, same_geometry

torch.set_num_threads(1)


def _plain_net():
    torch.manual_seed(0)
    return PlainConvUNet(1, N_STAGES, FEATURES, nn.Conv3d, [[3, 3, 3]] * N_STAGES,
                         [[1, 1, 1]] + [[2, 2, 2]] * (N_STAGES - 1), [2] * N_STAGES, 2, [2] * (N_STAGES - 1),
                         conv_bias=True, norm_op=nn.InstanceNorm3d, norm_op_kwargs={"eps": 1e-5, "affine": True},
                         nonlin=nn.LeakyReLU, nonlin_kwargs={"inplace": True})


@pytest.mark.parametrize("style", ["old", "new"])
def test_plain_results_zip_loads_and_segments_phantom(tmp_path, style):
    cfg = old_style_configuration() if style == "old" else new_style_configuration()
    folder = write_results_folder(tmp_path / "src", "nnUNetTrainer", plans_dict(cfg), _plain_net())
    archive = zip_folder(folder, tmp_path / "model.zip")
    model = load_nnunet_model(archive, folds=(0,), device="cpu", unzip_to=tmp_path / "unzipped")
    assert model.info == {"trainer": "nnUNetTrainer", "configuration": "3d_fullres", "folds": [0],
                          "network": "PlainConvUNet"}
    assert model.mirror_axes == (0, 1, 2)
    volume = Volume(vessel_phantom(), spacing=(0.7, 0.7, 1.2), origin=(1.0, 2.0, 3.0))
    calls = []
    from cerebro.progress import Progress

    result = model.predict(volume, tta=(style == "old"), progress=Progress(lambda f, m: calls.append(f)),
                           return_probabilities=True)
    assert result.mask.dtype == np.uint8 and same_geometry(result.mask, volume) is None
    assert result.probabilities is not None and same_geometry(result.probabilities, volume) is None
    probs = result.probabilities.array
    assert probs.dtype == np.float32 and probs.min() >= 0 and probs.max() <= 1
    assert np.array_equal(result.mask.array == 1, probs > 0.5)
    assert calls[-1] == 1.0 and len(calls) > 8


def test_pipeline_equals_direct_network_call_when_nothing_is_resampled(tmp_path):
    cfg = old_style_configuration(patch=(32, 32, 32), spacing=(1.0, 0.8, 0.8), scheme="CTNormalization")
    net = _plain_net()
    folder = write_results_folder(tmp_path, "nnUNetTrainer", plans_dict(cfg), net)
    model = load_nnunet_model(folder, device="cpu")
    image = vessel_phantom((32, 32, 32))
    volume = Volume(image, spacing=(0.8, 0.8, 1.0))  # (k, j, i) spacing (1.0, 0.8, 0.8) = the plans' spacing
    mask = model.predict(volume, tta=False, precision="float32").mask.array
    x = (np.clip(image.astype(np.float32), -100, 800) - 300) / 200
    with torch.no_grad():
        expected = net.eval()(torch.from_numpy(x)[None, None]).argmax(1)[0].numpy()
    assert np.array_equal(mask, expected)


def test_gpu_out_of_memory_falls_back_to_the_cpu_with_the_same_mask(tmp_path, monkeypatch):
    """The nnU-Net path runs through the OOM fallback: a CUDA OOM on the first tile makes it announce the fallback
    and finish on the CPU (the 'GPU' is simulated: the network stays on the CPU and raises once)."""
    folder = write_results_folder(tmp_path, "nnUNetTrainer", plans_dict(old_style_configuration()), _plain_net())
    model = load_nnunet_model(folder, device="cpu")
    volume = Volume(vessel_phantom((40, 40, 40)), spacing=(0.8, 0.8, 1.0))
    expected = model.predict(volume, tta=False).mask.array
    forward, moved_to = model.network.forward, []

    def forward_oom_on_gpu(x):
        if moved_to[-1].type == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(x)

    monkeypatch.setattr(model.network, "forward", forward_oom_on_gpu)
    monkeypatch.setattr(model.network, "to", lambda device: moved_to.append(torch.device(device)) or model.network)
    model.device = torch.device("cuda")
    messages = []
    from cerebro.progress import Progress

    with pytest.warns(UserWarning) as caught:
        mask = model.predict(volume, tta=False, progress=Progress(lambda f, m: messages.append(m))).mask.array
    assert [d.type for d in moved_to] == ["cuda", "cpu"]
    assert any("falling back to the CPU" in str(w.message) for w in caught)
    assert any("falling back to the CPU" in m for m in messages)
    assert np.array_equal(mask, expected)


def test_unsafe_checkpoint_is_refused(tmp_path):
    folder = write_results_folder(tmp_path, "nnUNetTrainer", plans_dict(old_style_configuration()), _plain_net(),
                                  extra={"something": Fraction(1, 3)})
    with pytest.raises(CerebroError, match="pickled Python objects"):
        load_nnunet_model(folder, device="cpu")


def test_mismatching_weights_and_missing_configuration_are_clear_errors(tmp_path):
    cfg = old_style_configuration()
    cfg["UNet_base_num_features"] = 8  # plans say 8 base features, weights have 4
    folder = write_results_folder(tmp_path, "nnUNetTrainer", plans_dict(cfg), _plain_net())
    with pytest.raises(CerebroError, match="do not fit"):
        load_nnunet_model(folder, device="cpu")
    with pytest.raises(CerebroError, match="no '<Trainer>"):
        load_nnunet_model(tmp_path / "nnUNetTrainer__nnUNetPlans__3d_fullres" / "fold_0", device="cpu")


def test_plans_labels_and_inheritance():
    plans = plans_dict(old_style_configuration())
    plans["configurations"]["3d_lowres_child"] = {"inherits_from": "3d_fullres", "spacing": [2.0, 1.6, 1.6]}
    cfg = dict(plans["configurations"]["3d_fullres"], spacing=[2.0, 1.6, 1.6])
    p = NnUNetPlans(plans, DATASET, "3d_lowres_child", cfg)
    assert p.labels == {0: "background", 1: "vessel"} and p.num_segmentation_heads == 2
    assert p.architecture().features_per_stage == FEATURES
    assert p.data_resampling["order"] == 3 and p.probability_resampling["order"] == 1


def test_ct_normalization_clips_and_standardises():
    image = np.array([-500.0, -100.0, 300.0, 500.0, 2000.0], dtype=np.float32).reshape(1, 1, 5)
    props = {"percentile_00_5": -100.0, "percentile_99_5": 800.0, "mean": 300.0, "std": 200.0}
    out = normalize(image, "CTNormalization", props, False, None)
    np.testing.assert_allclose(out.ravel(), [-2.0, -2.0, 0.0, 1.0, 2.5])


def test_zscore_normalization_with_and_without_mask():
    rng = np.random.default_rng(0)
    image = rng.normal(100, 20, (6, 6, 6)).astype(np.float32)
    image[:, :, :2] = 0
    out = normalize(image, "ZScoreNormalization", None, False, None)
    assert abs(out.mean()) < 1e-5 and abs(out.std() - 1) < 1e-4
    box, mask = nonzero_bbox(image[None])
    assert box == (slice(0, 6), slice(0, 6), slice(2, 6)) and mask.all()
    inside = image[:, :, 2:]
    full_mask = np.zeros(image.shape, bool)
    full_mask[:, :, 2:] = True
    out = normalize(image, "ZScoreNormalization", None, True, full_mask)
    np.testing.assert_allclose(out[full_mask], (inside.ravel() - inside.mean()) / inside.std(), atol=1e-5)
    assert np.all(out[~full_mask] == 0)


def test_resampling_shapes_and_anisotropic_path():
    data = np.random.default_rng(0).normal(size=(1, 10, 20, 20)).astype(np.float32)
    assert new_shape_for_spacing((10, 20, 20), (4.0, 1.0, 1.0), (1.0, 1.0, 1.0)) == [40, 20, 20]
    out = resample(data, (40, 20, 20), (4.0, 1.0, 1.0), (1.0, 1.0, 1.0), order=3, order_z=0)
    assert out.shape == (1, 40, 20, 20) and out.dtype == np.float32
    # separate-z with nearest across slices: every output slice is a copy of an input slice
    assert all(any(np.allclose(out[0, k], data[0, m], atol=1e-5) for m in range(10)) for k in range(40))
    iso = resample(data, (20, 40, 40), (2.0, 1.0, 1.0), (1.0, 0.5, 0.5), order=1)
    assert iso.shape == (1, 20, 40, 40)
    assert resample(data, (10, 20, 20), (1, 1, 1), (1, 1, 1)) is data


def test_window_starts_and_gaussian_like_nnunet():
    assert window_starts([110], [64]) == [[0, 23, 46]]
    assert window_starts([64, 65], [64, 64]) == [[0], [0, 1]]
    g = gaussian_importance((8, 8, 8))
    assert g.max() == pytest.approx(10.0) and g.min() > 0 and g[4, 4, 4] == g.max()


def test_sliding_window_covers_and_mirroring_is_consistent():
    torch.manual_seed(0)
    pointwise = nn.Conv3d(1, 2, 1)  # flip-equivariant: mirroring must change nothing
    data = torch.randn(1, 45, 20, 37)
    with torch.no_grad():
        direct = pointwise(data[None])[0]
    plain = sliding_window_logits(pointwise, data, (16, 32, 16), 2)
    mirrored = sliding_window_logits(pointwise, data, (16, 32, 16), 2, mirror_axes=(0, 1, 2))
    assert plain.shape == (2, 45, 20, 37) and plain.dtype == torch.float16  # nnU-Net's float16 sums
    torch.testing.assert_close(plain.float(), direct, atol=2e-3, rtol=2e-3)  # the border voxels included
    torch.testing.assert_close(mirrored, plain, atol=2e-3, rtol=2e-3)
    shifty = nn.Conv3d(1, 2, 3, padding=1)  # not flip-equivariant: mirroring averages something else
    with torch.no_grad():
        shifty.weight[:, :, 0] += 1.0
    assert not torch.allclose(sliding_window_logits(shifty, data, (16, 32, 16), 2, mirror_axes=(0,)),
                              sliding_window_logits(shifty, data, (16, 32, 16), 2), atol=1e-3)


def test_sliding_window_mean_equals_the_float32_weighted_mean_without_weight_volumes():
    """Each tile adds its share of the Gaussian-weighted mean (the weight sums are a product of three per-axis
    profiles): the result equals the float32 sum-then-divide of nnU-Net within float16 rounding, at the image's
    border too, where a tile's weights are ~1e-10 and would underflow a float16 sum."""
    torch.manual_seed(1)
    net = nn.Conv3d(1, 2, 3, padding=1)
    data = torch.randn(1, 70, 50, 40)
    patch = (32, 32, 32)
    weights = torch.from_numpy(gaussian_importance(patch))
    summed, gathered = torch.zeros((2, 70, 50, 40)), torch.zeros((70, 50, 40))
    with torch.no_grad():
        for start in itertools.product(*window_starts(data.shape[1:], patch)):
            region = tuple(slice(s, s + p) for s, p in zip(start, patch))
            summed[(slice(None), *region)] += net(data[(slice(None), *region)][None])[0] * weights
            gathered[region] += weights
    expected = summed / gathered
    logits = sliding_window_logits(net, data, patch, 2)
    assert logits.dtype == torch.float16
    torch.testing.assert_close(logits.float(), expected, atol=5e-3, rtol=2e-3)
    sums = weight_sums([70, 50, 40], patch, window_starts([70, 50, 40], patch), weights.numpy())
    product = sums[0][:, None, None] * sums[1][None, :, None] * sums[2][None, None, :]
    np.testing.assert_allclose(product, gathered.numpy(), rtol=1e-5)


@pytest.mark.parametrize("tiles_per_batch", [1, 3])
def test_sliding_window_batches_tiles_without_changing_logits(monkeypatch, tiles_per_batch):
    import cerebro.segment.families.nnunet.sliding_window as sliding

    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.InstanceNorm3d(4), nn.Conv3d(4, 2, 3, padding=1))
    data = torch.randn(1, 45, 20, 37)  # 3 x 1 x 3 = 9 tiles: an odd last batch
    batched = sliding_window_logits(network, data, (16, 32, 16), 2, mirror_axes=(0,))
    monkeypatch.setattr(sliding, "TILES_PER_BATCH", tiles_per_batch)
    other = sliding_window_logits(network, data, (16, 32, 16), 2, mirror_axes=(0,))
    torch.testing.assert_close(other, batched, atol=1e-3, rtol=1e-3)  # float16 sums: one rounding step


def test_a_ct_model_segments_the_head_not_the_air_around_it(tmp_path, monkeypatch):
    """A CT model (CTNormalization) runs its windows over the voxels above -500 HU and 4 voxels around them only;
    the air around the head stays background. A z-score model runs over the whole (nonzero) image, as nnU-Net."""
    import cerebro.segment.families.nnunet.predict as predict

    seen = []
    original = predict.sliding_window_logits
    monkeypatch.setattr(predict, "sliding_window_logits",
                        lambda network, data, *args, **kwargs: seen.append(tuple(data.shape[1:]))
                        or original(network, data, *args, **kwargs))
    image = np.full((60, 70, 80), -1000, dtype=np.int16)
    image[10:50, 15:55, 20:60] = vessel_phantom((40, 40, 40))
    volume = Volume(image, spacing=(0.8, 0.8, 1.0))  # the plans' spacing: nothing is resampled
    for scheme, expected in (("CTNormalization", (48, 48, 48)), ("ZScoreNormalization", (60, 70, 80))):
        folder = write_results_folder(tmp_path / scheme, "nnUNetTrainer",
                                      plans_dict(old_style_configuration(scheme=scheme)), _plain_net())
        mask = load_nnunet_model(folder, device="cpu").predict(volume, tta=False).mask.array
        assert seen[-1] == expected and mask.shape == image.shape
        if scheme == "CTNormalization":
            assert not mask[:6].any() and not mask[:, :11].any() and not mask[:, :, 64:].any()


def test_images_smaller_than_a_patch_are_framed_by_their_median_not_by_zero():
    """nnU-Net pads with 0 = the training foreground's mean, for a CT model bright contrast; the frame is each
    channel's median (test: a pointwise network sees the frame's value in the padded border)."""
    seen = []

    def network(tiles):
        seen.append(tiles.clone())
        return tiles.repeat(1, 2, 1, 1, 1)

    data = torch.full((1, 10, 12, 14), 3.0)
    data[0, :3] = -2.0  # 504 of the 1680 voxels: the median is 3.0
    sliding_window_logits(network, data, (16, 16, 16), 2)
    tile = seen[0][0, 0]
    assert tile.shape == (16, 16, 16) and float(tile[0, 0, 0]) == 3.0 and float(tile[-1, -1, -1]) == 3.0
