"""U-Mamba Bot/Enc: parameter names exactly as the U-Mamba repository's modules produce them, strict loading
from a results folder in the published layout, CPU segmentation of a small phantom."""

import math

import numpy as np
import pytest
import torch
from nnunet_helpers import FEATURES, N_STAGES, old_style_configuration, plans_dict, vessel_phantom, write_results_folder

from cerebro.segment.families.nnunet import load_nnunet_model
from cerebro.segment.families.nnunet.plans import NnUNetPlans
from cerebro.segment.families.nnunet.umamba import UMambaBot, UMambaEnc
from cerebro.volume import Volume, same_geometry

torch.set_num_threads(1)


# --- expected state_dict keys, enumerated from reading bowang-lab/U-Mamba umamba/nnunetv2/nets/UMamba{Bot,Enc}_3d.py
def _res_block(p):  # BasicResBlock(use_1x1conv=True): conv1 norm1 conv2 norm2 conv3, all with bias
    return {f"{p}.{m}.{w}" for m in ("conv1", "norm1", "conv2", "norm2", "conv3") for w in ("weight", "bias")}


def _block_d(p):  # dynamic_network_architectures BasicBlockD (same channels, stride 1: identity skip)
    keys = set()
    for conv in ("conv1", "conv2"):
        for sub in ("conv", "norm", "all_modules.0", "all_modules.1"):
            keys |= {f"{p}.{conv}.{sub}.weight", f"{p}.{conv}.{sub}.bias"}
    return keys


def _stage(p, n_blocks):
    keys = _res_block(f"{p}.0")
    for b in range(1, n_blocks):
        keys |= _block_d(f"{p}.{b}")
    return keys


def _mamba_layer(p):
    return {f"{p}.norm.weight", f"{p}.norm.bias"} | {
        f"{p}.mamba.{n}" for n in ("in_proj.weight", "conv1d.weight", "conv1d.bias", "x_proj.weight",
                                   "dt_proj.weight", "dt_proj.bias", "A_log", "D", "out_proj.weight")}


def _expected_keys(n_stages, n_conv_enc, n_conv_dec, enc_mamba):
    enc_blocks = [1 if s >= math.ceil(n_stages / 2) else n_conv_enc for s in range(n_stages)]
    dec_blocks = [1 if s >= math.ceil((n_stages - 1) / 2 + 0.5) else n_conv_dec for s in range(n_stages - 1)]
    encoder = _stage("stem", enc_blocks[0])
    for s in range(n_stages):
        encoder |= _stage(f"stages.{s}", enc_blocks[s])
        if enc_mamba:
            encoder |= _mamba_layer(f"mamba_layers.{s}")
    keys = {f"encoder.{k}" for k in encoder} | {f"decoder.encoder.{k}" for k in encoder}
    for s in range(n_stages - 1):
        keys |= {f"decoder.{k}" for k in _stage(f"stages.{s}", dec_blocks[s])}
        keys |= {f"decoder.upsample_layers.{s}.conv.weight", f"decoder.upsample_layers.{s}.conv.bias",
                 f"decoder.seg_layers.{s}.weight", f"decoder.seg_layers.{s}.bias"}
    if not enc_mamba:
        keys |= _mamba_layer("mamba_layer")
    return keys


def _plans(patch=(32, 32, 32), max_features=32):
    cfg = old_style_configuration(patch=patch, max_features=max_features)
    return NnUNetPlans(plans=plans_dict(cfg), dataset={"labels": {"background": 0, "vessel": 1}},
                       configuration_name="3d_fullres", configuration=cfg)


def test_bot_and_enc_parameter_names_match_upstream():
    plans = _plans()
    bot = UMambaBot(plans.architecture(), 1, 2)
    enc = UMambaEnc(plans.architecture(), 1, 2, plans.patch_size)
    assert set(bot.state_dict()) == _expected_keys(N_STAGES, 2, 2, enc_mamba=False)
    assert set(enc.state_dict()) == _expected_keys(N_STAGES, 2, 2, enc_mamba=True)
    sd = bot.state_dict()
    assert sd["mamba_layer.mamba.in_proj.weight"].shape == (4 * FEATURES[-1], FEATURES[-1])
    assert sd["encoder.stages.1.0.conv3.weight"].shape == (8, 4, 1, 1, 1)
    assert sd["decoder.upsample_layers.0.conv.weight"].shape == (16, 32, 1, 1, 1)
    assert sd["decoder.stages.0.0.conv1.weight"].shape == (16, 32, 3, 3, 3)
    assert sd["decoder.seg_layers.2.weight"].shape == (2, 4, 1, 1, 1)


def test_enc_uses_channel_tokens_where_the_feature_map_is_small():
    plans = _plans(patch=(16, 16, 16))  # stage 3 is 2x2x2 = 8 voxels <= 32 channels -> tokens are channels
    enc = UMambaEnc(plans.architecture(), 1, 2, plans.patch_size)
    layers = enc.encoder.mamba_layers
    assert [m.channel_token for m in layers] == [False, False, False, True]
    assert layers[3].dim == 8 and layers[2].dim == 16
    with torch.no_grad():
        out = enc(torch.randn(1, 1, 16, 16, 16))
    assert out.shape == (1, 2, 16, 16, 16) and torch.isfinite(out).all()


@pytest.mark.parametrize("trainer,cls", [("nnUNetTrainerUMambaBot", UMambaBot), ("nnUNetTrainerUMambaEnc", UMambaEnc)])
def test_umamba_results_folder_loads_strictly_and_segments(tmp_path, trainer, cls):
    torch.manual_seed(0)
    plans = _plans()
    net = cls(plans.architecture(), 1, 2) if cls is UMambaBot else cls(plans.architecture(), 1, 2, plans.patch_size)
    folder = write_results_folder(tmp_path, trainer, plans.plans, net)
    model = load_nnunet_model(folder, device="cpu")
    assert type(model.network) is cls and model.info["network"] == ("umamba_bot" if cls is UMambaBot else "umamba_enc")
    for key, value in net.state_dict().items():
        assert torch.equal(model.network.state_dict()[key], value)
    volume = Volume(vessel_phantom(), spacing=(0.8, 0.8, 1.0), origin=(3.0, -2.0, 5.0))
    result = model.predict(volume, tta=False)
    assert result.mask.dtype == np.uint8 and same_geometry(result.mask, volume) is None
    assert set(np.unique(result.mask.array)) <= {0, 1} and result.labels == {0: "background", 1: "vessel"}


def test_mamba_layer_runs_in_float32_under_autocast():
    """U-Mamba's layer disables autocast (its forward is @autocast(enabled=False)); under the float16 autocast of
    nnU-Net's GPU inference it must not run its projections in half precision. CPU bfloat16 autocast stands in."""
    from cerebro.segment.mamba.layer import MambaLayer

    torch.manual_seed(0)
    layer = MambaLayer(8).eval()
    x = torch.randn(1, 8, 4, 4, 4)
    with torch.no_grad():
        reference, rounded = layer(x), layer(x.bfloat16().float())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = layer(x.bfloat16())
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, rounded, rtol=1e-6, atol=1e-6)
    assert (mixed - reference).abs().max() < 0.05  # only the bfloat16 rounding of the input differs


def test_selective_scan_gradients_match_the_reference():
    """Training U-Mamba on the CPU: the chunked scan differentiates like the step-by-step reference."""
    from cerebro.segment.mamba.selective_scan import selective_scan, selective_scan_reference

    torch.manual_seed(0)
    batch, dim, length, state = 2, 4, 37, 3
    inputs = [torch.randn(batch, dim, length), torch.rand(batch, dim, length), -torch.rand(dim, state),
              torch.randn(batch, state, length), torch.randn(batch, state, length)]
    grads = []
    for scan in (lambda *a: selective_scan(*a, chunk=8, use_kernel=False), selective_scan_reference):
        leaves = [t.clone().requires_grad_(True) for t in inputs]
        scan(*leaves).square().sum().backward()
        grads.append([leaf.grad for leaf in leaves])
    for ours, reference in zip(*grads):
        torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)
