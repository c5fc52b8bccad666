"""Domain-randomised training cases and the held-out evaluation families: deterministic, labels consistent with
the images, every style and family reachable, and the held-out generators kept out of the training recipe."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")  # the training code (nnU-Net preprocessing, phantoms) is installed with the ml extra

from cerebro.train.heldout import FAMILIES, make_case
from cerebro.train.synthetic import STYLES, compose, draw_appearance, generate_case
from cerebro.train.tubes import tube_field

PLAN_SPACING = [0.55, 0.4, 0.4]  # the default model's (cerebro.train.default_model needs torch)


@pytest.mark.parametrize("source", ["tubes", "tree"])
def test_synthetic_case_is_deterministic_and_labelled(source):
    a, b = generate_case(11, PLAN_SPACING, source), generate_case(11, PLAN_SPACING, source)
    assert np.array_equal(a.label, b.label) and np.array_equal(a.channels, b.channels)
    assert a.channels.shape == (7, *a.label.shape) and a.label.any()
    assert all(0.25 <= s <= 1.0 for s in a.spacing)
    vessel = a.channels[0].astype(np.float32)
    assert vessel[a.label > 0].mean() > 0.5 > vessel[a.label == 0].mean()


@pytest.mark.parametrize("style", STYLES)
def test_every_appearance_makes_vessels_brighter_than_tissue(style):
    case = generate_case(12, PLAN_SPACING, "tubes")
    rng = np.random.default_rng(0)
    look = draw_appearance(rng, style)
    image = compose(case.channels, look, rng)
    vessel_core = case.channels[0] > 0.9
    tissue = (case.channels[0] < 0.01) & (case.channels[1] < 0.01) & (case.channels[2] < 0.01)
    assert np.median(image[vessel_core]) > np.median(image[tissue])
    look_b, mean, std = case.draw(np.random.default_rng(1))
    assert std > 0 and np.isfinite(mean)


def test_tube_field_has_tubes_of_the_stated_radii():
    tree = tube_field(np.array([40.0, 40.0, 40.0]), np.random.default_rng(3))
    assert tree.n_segments > 10
    assert 0.15 <= tree.radius_start.min() and tree.radius_start.max() <= 4.0


@pytest.mark.parametrize("family", FAMILIES)
def test_held_out_family_case(family):
    case = make_case(family, 0)
    assert case.mask.shape == case.image.shape and 0 < case.mask.array.mean() < 0.2
    again = make_case(family, 0)
    assert np.array_equal(case.image.array, again.image.array)
    assert not np.array_equal(case.image.array, make_case(family, 1).image.array)


def test_held_out_generators_are_not_used_by_the_training_recipe():
    code = ("import sys, cerebro.train.default_model, cerebro.train.run; "
            "print('cerebro.train.heldout' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_evaluation_rows_give_the_share_of_predictions_on_bone():
    from cerebro.segment.result import SegmentationResult
    from cerebro.train.evaluate import evaluate, family_cases, summarise

    class MarksBone:
        def predict(self, volume, tta=False, progress=None):
            return SegmentationResult(volume.with_array((volume.array > 700).astype(np.uint8)))

    rows = list(evaluate(MarksBone(), family_cases(["ct-calcified", "mr-tubes"], 1)))
    assert [r["family"] for r in rows] == ["ct-calcified", "mr-tubes"]
    assert rows[0]["bone_share"] == 1.0 and rows[0]["dice"] < 0.1
    assert rows[1]["bone_share"] is None
    assert [s["bone_share_max"] for s in summarise(rows)] == [1.0, None]


def test_whole_head_ct_case_has_skull_and_air_and_labels_no_bone():
    case = make_case("ct-head", 0)
    image, mask = case.image.array, case.mask.array > 0
    assert case.modality == "cta" and max(case.image.spacing) >= 0.8
    assert (image <= -900).mean() > 0.05 and (image > 700).mean() > 0.01  # air around the head, skull
    assert (image[mask] > 700).mean() < 0.01  # the label is the arteries' lumen, not bone


def test_whole_head_cta_windows_are_in_hounsfield_units_with_bone_as_hard_negatives():
    from cerebro.train.synthetic_ct import generate_ct_case

    case = generate_ct_case(300_000, PLAN_SPACING)
    again = generate_ct_case(300_000, PLAN_SPACING)
    assert np.array_equal(case.label, again.label) and np.array_equal(case.channels, again.channels)
    assert case.label.any() and len(case.bone) > 0
    rng = np.random.default_rng(0)
    look, _, _ = case.draw(rng)
    image = case.raw_patch((slice(None),) * 3, look, rng)
    assert image.shape == case.shape and 130 <= look.artery <= 600
    bone_voxels = image[tuple(case.bone.T)]
    assert np.median(bone_voxels) > 300  # hard-negative centres lie on bone
    assert np.median(image[case.label > 0]) > look.artery * 0.5
