"""Phantoms: deterministic, exact labels on the image grid, loops, realistic radii/intensities, nnU-Net output."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import euler_number

from cerebro.cli.main import main
from cerebro.datasets import Manifest, load_nnunet_raw
from cerebro.errors import Cancelled, CerebroError
from cerebro.io import read_volume
from cerebro.phantoms import generate_phantom
from cerebro.phantoms.appearance import brain_region
from cerebro.phantoms.render import render_fraction
from cerebro.phantoms.tree import VesselTree
from cerebro.progress import Progress
from cerebro.volume import same_geometry


@pytest.fixture(scope="module")
def mra():
    return generate_phantom(64, "mra", seed=3)


@pytest.fixture(scope="module")
def cta():
    return generate_phantom(64, "cta", seed=3)


@pytest.fixture(scope="module")
def whole_head_cta():
    """A coarse grid (4.5 mm voxels) that holds the whole head: skull and air are in view."""
    return generate_phantom(48, "cta", seed=5, spacing=(4.5, 4.5, 4.5))


def test_same_seed_same_phantom_and_other_seed_differs(mra):
    again = generate_phantom(64, "mra", seed=3)
    for name in ("image", "mask", "centerline_mask", "fraction"):
        np.testing.assert_array_equal(getattr(again, name).array, getattr(mra, name).array)
    np.testing.assert_array_equal(again.centerline_points, mra.centerline_points)
    other = generate_phantom(64, "mra", seed=4)
    assert not np.array_equal(other.mask.array, mra.mask.array)


def test_both_modalities_show_the_same_tree(mra, cta):
    np.testing.assert_allclose(mra.tree.nodes - mra.tree.brain_center, cta.tree.nodes - cta.tree.brain_center)
    np.testing.assert_array_equal(mra.tree.edges, cta.tree.edges)


def test_every_output_shares_the_image_grid_with_a_realistic_origin(mra):
    assert mra.image.shape == (64, 64, 64)
    assert mra.image.spacing == (0.35, 0.35, 0.5)
    assert np.linalg.norm(mra.image.origin) > 10
    for volume in (mra.mask, mra.centerline_mask, mra.fraction):
        assert same_geometry(volume, mra.image, atol_mm=0, atol_direction=0) is None
    assert mra.mask.dtype == np.uint8 and mra.fraction.dtype == np.float32
    # centreline points (LPS) map back to indices inside the grid
    index = np.linalg.solve(mra.image.direction @ np.diag(mra.image.spacing),
                            (mra.centerline_points - mra.image.origin).T).T
    assert len(index) > 10 and np.all(index > -0.51) and np.all(index < np.array([64, 64, 64]) - 0.49)
    assert mra.radii.shape == (len(mra.centerline_points),) and np.all(mra.radii > 0)


def test_mask_is_the_half_voxel_partial_volume_and_centerlines_lie_in_vessels(mra):
    fraction = mra.fraction.array
    assert fraction.min() >= 0 and fraction.max() <= 1
    np.testing.assert_array_equal(mra.mask.array, (fraction >= 0.5).astype(np.uint8))
    assert np.count_nonzero((fraction > 0) & (fraction < 1)) > 1000  # partial volume at borders
    on_centerline = mra.centerline_mask.array.astype(bool)
    assert np.mean(fraction[on_centerline] > 0) > 0.95


def test_sub_voxel_sampling_matches_the_analytic_capsule_volume():
    radius, length, spacing = 1.3, 10.0, (0.35, 0.35, 0.5)
    a, b = np.array([5.0, 6.0, 5.5]), np.array([5.0 + length * 0.6, 6.0 + length * 0.8, 5.5])
    tree = VesselTree(nodes=np.stack([a, b]), edges=np.array([[0, 1]]), radius_start=np.array([radius]),
                      radius_end=np.array([radius]), node_radius=np.array([radius, radius]),
                      brain_center=np.zeros(3), brain_semi_axes=np.ones(3))
    fraction = render_fraction(tree, (40, 64, 64), spacing, supersample=4)
    expected = np.pi * radius**2 * length + 4 / 3 * np.pi * radius**3
    assert fraction.sum() * np.prod(spacing) == pytest.approx(expected, rel=0.01)


def test_the_tree_has_loops_and_so_has_the_mask():
    phantom = generate_phantom(64, "mra", seed=3, spacing=(0.6, 0.6, 0.6))  # ~38 mm: the whole ring in view
    assert phantom.tree.independent_cycles() >= 1
    mask = phantom.mask.array
    components = ndimage.label(mask, structure=np.ones((3, 3, 3)))[1]
    assert euler_number(mask, connectivity=3) < components  # tunnels (loops) present


def test_radii_follow_murray_from_carotid_size_to_sub_voxel(mra):
    tree = mra.tree
    assert 2.0 <= tree.radius_start.max() <= 3.0
    assert tree.radius_end.min() < 0.5 * min(mra.image.spacing)
    # at bifurcations (one parent edge in, two children out) r_parent^3 = r_1^3 + r_2^3
    starts = np.bincount(tree.edges[:, 0], minlength=len(tree.nodes))
    ends = np.bincount(tree.edges[:, 1], minlength=len(tree.nodes))
    tapered = tree.radius_end < tree.radius_start  # grown branches (trunks and the ring have a constant radius)
    grown_ends = np.bincount(tree.edges[tapered, 1], minlength=len(tree.nodes))
    branch_nodes = np.nonzero((starts == 2) & (ends == 1) & (grown_ends == 1))[0][:200]
    assert len(branch_nodes) > 50
    for node in branch_nodes:
        parent = tree.radius_end[tree.edges[:, 1] == node][0]
        children = tree.radius_start[tree.edges[:, 0] == node]
        assert parent**3 == pytest.approx((children**3).sum(), rel=1e-6)


def test_vessel_volume_fraction_is_realistic():
    phantom = generate_phantom(128, "mra", seed=0)
    assert 0.01 <= phantom.stats["vessel_fraction_of_brain"] <= 0.04


def test_cta_intensities_are_hounsfield_like(cta, whole_head_cta):
    image, fraction = cta.image.array, cta.fraction.array
    assert image.dtype == np.int16
    assert 200 <= image[fraction == 1].mean() <= 500
    brain = brain_region(cta.image.shape, cta.image.spacing, cta.tree) & (fraction == 0)
    assert 20 <= np.median(image[brain]) <= 40
    head = whole_head_cta.image.array
    assert head.max() >= 1000  # skull
    assert np.median(head[0]) == pytest.approx(-1000, abs=40)  # air below the head


def test_mra_intensities_are_tof_like(mra):
    image, fraction = mra.image.array, mra.fraction.array
    assert image.dtype == np.uint16
    brain = brain_region(mra.image.shape, mra.image.spacing, mra.tree) & (fraction == 0)
    assert 90 <= np.median(image[brain]) <= 200
    assert image[fraction == 1].mean() > 3 * np.median(image[brain])


def test_bad_requests_and_cancel_are_one_line_errors():
    with pytest.raises(CerebroError, match="modality"):
        generate_phantom(32, "pet", seed=0)
    with pytest.raises(CerebroError, match="shape"):
        generate_phantom((4, 32, 32), "cta", seed=0)
    with pytest.raises(Cancelled):
        generate_phantom(32, "cta", seed=0, progress=Progress(is_cancelled=lambda: True))


def test_cli_writes_an_nnunet_raw_dataset_with_manifest(tmp_path, capsys):
    out = tmp_path / "phantoms"
    assert main(["phantom", str(out), "--modality", "both", "--shape", "24", "32", "28", "--cases", "2",
                 "--seed", "7", "--spacing", "1.5", "1.5", "1.5", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["cases"][0]["case_id"] == "phantom_cta_000"
    info = json.loads((out / "cta" / "dataset.json").read_text())
    assert info["channel_names"] == {"0": "CT"} and info["labels"] == {"background": 0, "vessel": 1}
    assert info["numTraining"] == 2
    manifest = Manifest.read(out / "manifest.csv")
    assert [c.case_id for c in manifest] == ["phantom_cta_000", "phantom_cta_001", "phantom_mra_000",
                                             "phantom_mra_001"]
    case = manifest.cases[2]
    image, label = read_volume(case.image_path), read_volume(case.label_path)
    fraction = read_volume(case.extra["fraction_path"])
    assert image.shape == (24, 32, 28) and image.dtype == np.uint16 and image.spacing == (1.5, 1.5, 1.5)
    assert same_geometry(image, label) is None and same_geometry(image, fraction) is None
    expected = generate_phantom((24, 32, 28), "mra", seed=7, spacing=(1.5, 1.5, 1.5))
    np.testing.assert_array_equal(label.array, expected.mask.array)
    points = np.loadtxt(case.extra["centerline_points_path"], delimiter=",", skiprows=1)
    assert len(points) > 100
    np.testing.assert_allclose(points[:, :3], expected.centerline_points, atol=1e-3)
    np.testing.assert_allclose(points[:, 3], expected.radii, atol=1e-3)
    assert len(load_nnunet_raw(out / "mra")) == 2
