"""``cerebro train``: every recipe flag on a tiny phantom dataset, the results folder loading in ``cerebro segment``,
exact resume after a kill, validation / best checkpoint / CSV log / plot, and refusals of bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from cerebro.cli.main import main
from cerebro.errors import Cancelled, CerebroError
from cerebro.io import read_volume, write_volume
from cerebro.phantoms import generate_phantom
from cerebro.progress import Progress
from cerebro.segment.families.nnunet import load_nnunet_model
from cerebro.train.losses import LOSSES, make_loss, tubed_skeleton
from cerebro.train.run import TrainOptions, train
from cerebro.train.sampling import PatchSampler, centreline_centres

TINY = dict(iterations=3, patch_size=(16, 16, 16), inference_patch_size=(16, 16, 16), features=(4, 8),
            validate_every=2, checkpoint_every=2, batch_size=2)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """An nnU-Net raw dataset of three 24^3 phantoms (two CTA, one TOF-MRA)."""
    root = tmp_path_factory.mktemp("raw") / "Dataset910_Tiny"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for n, modality in enumerate(("cta", "mra", "cta")):
        phantom = generate_phantom(24, modality, seed=40 + n)
        write_volume(phantom.image, root / "imagesTr" / f"case{n}_0000.nii.gz")
        write_volume(phantom.mask, root / "labelsTr" / f"case{n}.nii.gz")
    (root / "dataset.json").write_text(json.dumps({"channel_names": {"0": "CT"}, "labels": {"background": 0,
                                                  "vessel": 1}, "numTraining": 3, "file_ending": ".nii.gz"}))
    return root


def _cases(dataset):
    from cerebro.datasets import load_nnunet_raw

    return list(load_nnunet_raw(dataset))


def test_cli_trains_and_the_folder_segments(dataset, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["train", str(dataset), "--out", str(out), "--iterations", "4", "--patch-size", "16", "16", "16",
                 "--inference-patch-size", "16", "16", "16", "--features", "4", "8", "--validate-every", "2",
                 "--quiet"]) == 0
    folder = out / "Dataset901_Vessels" / "nnUNetTrainer__nnUNetPlans__3d_fullres"
    assert f"wrote {folder}" in capsys.readouterr().out
    files = sorted(p.name for p in (folder / "fold_0").iterdir())
    assert files == ["checkpoint_best.pth", "checkpoint_final.pth", "checkpoint_latest.pth", "progress.png",
                     "training_log.csv"]
    plans = json.loads((folder / "plans.json").read_text())
    assert plans["configurations"]["3d_fullres"]["patch_size"] == [16, 16, 16]
    checkpoint = torch.load(folder / "fold_0" / "checkpoint_final.pth", weights_only=True)
    assert checkpoint["trainer_name"] == "nnUNetTrainer" and checkpoint["init_args"]["configuration"] == "3d_fullres"
    rows = list(csv.DictReader((folder / "fold_0" / "training_log.csv").open()))
    assert [int(r["iteration"]) for r in rows] == [2, 4] and all(r["val_dice"] for r in rows)
    image = dataset / "imagesTr" / "case2_0000.nii.gz"
    assert main(["segment", str(image), str(tmp_path / "mask.nii.gz"), "--weights", str(folder), "--quiet",
                 "--no-tta"]) == 0
    assert read_volume(tmp_path / "mask.nii.gz").shape == read_volume(image).shape


def test_loss_goes_down(dataset, tmp_path):
    options = TrainOptions(**{**TINY, "iterations": 40, "validate_every": 40, "checkpoint_every": 40,
                              "learning_rate": 3e-3})
    folder = train(_cases(dataset), tmp_path, options)
    rows = list(csv.DictReader((folder / "fold_0" / "training_log.csv").open()))
    losses = [float(r["loss"]) for r in rows]
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.9 * losses[0], losses


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains(dataset, tmp_path, loss):
    folder = train(_cases(dataset)[:2], tmp_path, TrainOptions(**TINY, loss=loss))
    assert load_nnunet_model(folder, device="cpu").labels == {0: "background", 1: "vessel"}


@pytest.mark.parametrize("sampling", ["uniform", "centreline"])
def test_sampling_modes_train(dataset, tmp_path, sampling):
    assert train(_cases(dataset)[:2], tmp_path, TrainOptions(**TINY, sampling=sampling)).is_dir()


def test_centreline_channel_trains_and_predicts(dataset, tmp_path):
    folder = train(_cases(dataset)[:2], tmp_path, TrainOptions(**TINY, centreline_channel=True))
    dataset_json = json.loads((folder / "dataset.json").read_text())
    assert dataset_json["channel_names"] == {"0": "angio", "1": "centreline_prior"}
    model = load_nnunet_model(folder, device="cpu")
    image = read_volume(dataset / "imagesTr" / "case0_0000.nii.gz")
    assert model.predict(image, tta=False).mask.shape == image.shape


def test_compression_aware_training_round_trips_patches(dataset, tmp_path):
    folder = train(_cases(dataset)[:2], tmp_path, TrainOptions(**TINY, compression_probability=1.0))
    rows = list(csv.DictReader((folder / "fold_0" / "training_log.csv").open()))
    assert int(rows[-1]["compressed_patches"]) >= 3  # most of the 6 patches (an unreachable ratio is skipped)


def test_umamba_family_trains(dataset, tmp_path):
    folder = train(_cases(dataset)[:2], tmp_path, TrainOptions(**{**TINY, "iterations": 2}, family="umamba"))
    assert load_nnunet_model(folder, device="cpu").info["network"].startswith("umamba")


def test_init_fine_tunes_from_a_folder(dataset, tmp_path):
    first = train(_cases(dataset)[:2], tmp_path / "a", TrainOptions(**TINY))
    second = train(_cases(dataset)[:2], tmp_path / "b", TrainOptions(**{**TINY, "iterations": 1, "learning_rate":
                                                                          1e-9}, init=str(first)))
    a = torch.load(first / "fold_0" / "checkpoint_final.pth", weights_only=True)["network_weights"]
    b = torch.load(second / "fold_0" / "checkpoint_final.pth", weights_only=True)["network_weights"]
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    with pytest.raises(CerebroError, match="does not match"):
        train(_cases(dataset)[:2], tmp_path / "c", TrainOptions(**{**TINY, "features": (4, 16)}, init=str(first)))


def test_resume_after_a_kill_continues_exactly(dataset, tmp_path):
    options = TrainOptions(**{**TINY, "iterations": 6, "validate_every": 3})
    straight = train(_cases(dataset), tmp_path / "straight", options)

    def kill_at_iteration_4(fraction: float, message: str) -> None:
        if message.startswith("iteration 4/"):
            raise Cancelled("killed")

    with pytest.raises(Cancelled):
        train(_cases(dataset), tmp_path / "killed", options, progress=Progress(on_update=kill_at_iteration_4))
    with pytest.raises(CerebroError, match="--resume"):
        train(_cases(dataset), tmp_path / "killed", options)
    resumed = train(_cases(dataset), tmp_path / "killed", options, resume=True)
    a = torch.load(straight / "fold_0" / "checkpoint_final.pth", weights_only=True)["network_weights"]
    b = torch.load(resumed / "fold_0" / "checkpoint_final.pth", weights_only=True)["network_weights"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(CerebroError, match="other options"):
        train(_cases(dataset), tmp_path / "killed", TrainOptions(**{**TINY, "iterations": 7}), resume=True)


@pytest.mark.parametrize("args, message", [
    (["--loss", "focal"], "invalid choice"),
    (["--iterations", "0"], "--iterations must be at least 1"),
    (["--patch-size", "15", "16", "16"], "multiples of 2"),
    (["--compression-probability", "2"], "between 0 and 1"),
    (["--compression-ratios", "0.5", "4"], "above 1:1"),
    (["--dataset-name", "Mine"], "Dataset901_Name"),
    (["--init", "/nonexistent/folder"], "not a folder"),
])
def test_bad_settings_get_one_line(dataset, tmp_path, capsys, args, message):
    argv = ["train", str(dataset), "--out", str(tmp_path / "o"), "--features", "4", "8", "--quiet", *args]
    if message == "invalid choice":
        with pytest.raises(SystemExit):
            main(argv)
        assert message in capsys.readouterr().err
        return
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and __import__("re").search(message, err[0]), err


def test_output_inside_the_dataset_is_refused(dataset, capsys):
    assert main(["train", str(dataset), "--out", str(dataset / "results"), "--quiet"]) == 2
    assert "inside the input" in capsys.readouterr().err


def test_missing_dataset_and_unlabelled_cases(tmp_path, capsys):
    assert main(["train", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "dataset not found" in capsys.readouterr().err


def test_centreline_centres_follow_the_skeleton():
    label = np.zeros((20, 20, 40), np.uint8)
    label[9:12, 9:12, 2:38] = 1
    centres = centreline_centres(label, clusters=4)
    assert len(centres) == 4 and np.all(np.abs(centres[:, 0] - 10) <= 1) and np.ptp(centres[:, 2]) > 15
    sampler = PatchSampler([type("C", (), {"shape": label.shape, "label": label, "foreground": np.argwhere(label),
                                           "bone": np.zeros((0, 3), int)})()], (8, 8, 8), "centreline")
    _, box = sampler.draw(np.random.default_rng(0))
    assert all(b.stop - b.start == 8 for b in box)


def test_losses_are_low_for_the_right_answer():
    target = torch.zeros(1, 12, 12, 12, dtype=torch.long)
    target[0, 5:7, 5:7, 1:11] = 1
    right = torch.stack([(target == 0).float(), (target == 1).float()], 1) * 20 - 10
    wrong = -right
    skeleton = torch.from_numpy(tubed_skeleton(target[0].numpy()))[None]
    for name in LOSSES:
        loss = make_loss(name)
        assert float(loss(right, target, skeleton)) < float(loss(wrong, target, skeleton)), name


def test_a_run_checkpointed_before_an_option_existed_still_resumes():
    from cerebro.train.options import TrainOptions

    stored = TrainOptions().as_dict()
    del stored["log_every"]  # an option added later takes its default
    assert TrainOptions().matches(stored) and not TrainOptions(iterations=5).matches(stored)
    assert not TrainOptions().matches({**stored, "unknown": 1}) and not TrainOptions().matches(None)
