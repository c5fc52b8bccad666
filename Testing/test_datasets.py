"""Dataset loaders read each public layout, keep per-artery labels, and name the case whose grids disagree."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import SimpleITK as sitk

from cerebro.cli.main import main
from cerebro.datasets import (
    Case,
    Manifest,
    load_bids_pvs,
    load_label,
    load_nnunet_raw,
    load_paired_folders,
    load_rsna,
    load_topcow,
)
from cerebro.errors import CerebroError
from cerebro.io import write_volume
from cerebro.volume import Volume

SHAPE = (6, 7, 8)
SPACING = (0.45, 0.45, 0.6)
ORIGIN = (-20.0, 15.5, 3.0)


def _image(path, dtype=np.int16, **geometry):
    rng = np.random.default_rng(0)
    array = rng.integers(-100, 400, SHAPE).astype(dtype)
    grid = {"spacing": SPACING, "origin": ORIGIN, **geometry}
    return write_volume(Volume(array, grid.get("spacing"), grid.get("origin"), grid.get("direction", np.eye(3))),
                        path)


def _label(path, values=(0, 1), shape=SHAPE, **geometry):
    array = np.zeros(shape, dtype=np.uint8)
    array.flat[: len(values) * 5] = np.repeat(values, 5)
    grid = {"spacing": SPACING, "origin": ORIGIN, **geometry}
    return write_volume(Volume(array, grid["spacing"], grid["origin"], grid.get("direction", np.eye(3))), path)


def _nnunet(root, ending=".nii.gz"):
    (root / "dataset.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": "CT"}, "labels": {"background": 0, "vessel": 1}, "numTraining": 2,
        "file_ending": ending}))
    for case in ("vessel_001", "vessel_002"):
        _image(root / "imagesTr" / f"{case}_0000{ending}")
        _label(root / "labelsTr" / f"{case}{ending}")
    _image(root / "imagesTs" / f"vessel_101_0000{ending}")
    return root


def test_nnunet_raw_lists_training_and_test_cases(tmp_path):
    manifest = load_nnunet_raw(_nnunet(tmp_path / "Dataset801_Vessels"))
    assert [(c.case_id, c.modality, c.extra["split"]) for c in manifest] == [
        ("vessel_001", "cta", "train"), ("vessel_002", "cta", "train"), ("vessel_101", "cta", "test")]
    assert manifest.cases[2].label_path is None
    assert manifest.cases[0].label_path.name == "vessel_001.nii.gz"


def test_nnunet_raw_errors_name_the_problem(tmp_path):
    root = _nnunet(tmp_path / "ds")
    _label(root / "labelsTr" / "vessel_002.nii.gz", spacing=(1.0, 1.0, 1.0))
    with pytest.raises(CerebroError, match=r"^case vessel_002: label spacing \(1, 1, 1\) vs image "
                                           r"\(0\.45, 0\.45, 0\.6\) mm; resample the label onto the image grid$"):
        load_nnunet_raw(root)
    assert len(load_nnunet_raw(root, check=False)) == 3
    (root / "labelsTr" / "vessel_002.nii.gz").unlink()
    with pytest.raises(CerebroError, match="case vessel_002: no label labelsTr/vessel_002.nii.gz"):
        load_nnunet_raw(root)
    (root / "dataset.json").unlink()
    with pytest.raises(CerebroError, match="no dataset.json"):
        load_nnunet_raw(root)


def _topcow(root):
    for kind, n in (("ct", "001"), ("mr", "002")):
        _image(root / "imagesTr" / f"topcow_{kind}_{n}_0000.nii.gz")
        _label(root / "cow_seg_labelsTr" / f"topcow_{kind}_{n}.nii.gz", values=tuple(range(14)))
    return root


def test_topcow_keeps_per_artery_labels_and_collapses_to_binary(tmp_path):
    manifest = load_topcow(_topcow(tmp_path / "topcow"))
    assert [(c.case_id, c.modality) for c in manifest] == [("topcow_ct_001", "cta"), ("topcow_mr_002", "mra")]
    case = manifest.cases[0]
    assert case.extra["label_names"]["1"] == "BA" and case.extra["label_names"]["10"] == "Acom"
    multi = load_label(case, binary=False)
    assert set(np.unique(multi.array)) == set(range(14))
    binary = load_label(case)
    assert binary.dtype == np.uint8 and set(np.unique(binary.array)) == {0, 1}
    np.testing.assert_array_equal(binary.array, (multi.array > 0).astype(np.uint8))


def test_topcow_origin_mismatch_names_the_case(tmp_path):
    root = _topcow(tmp_path / "topcow")
    _label(root / "cow_seg_labelsTr" / "topcow_mr_002.nii.gz", origin=(0.0, 0.0, 0.0))
    with pytest.raises(CerebroError, match=r"^case topcow_mr_002: label origin \(0, 0, 0\) vs image "
                                           r"\(-20, 15\.5, 3\) mm; resample"):
        load_topcow(root)


def _rsna(root):
    nested, flat, dicom = "1.2.826.0.1.1", "1.2.826.0.1.2", "1.2.826.0.1.3"
    _image(root / "segmentations" / nested / f"{nested}.nii")
    _label(root / "segmentations" / nested / f"{nested}_cowseg.nii", values=tuple(range(14)))
    _image(root / "segmentations" / f"{flat}.nii")
    _label(root / "segmentations" / f"{flat}_cowseg.nii", values=(0, 5, 13))
    series = root / "series" / dicom
    series.mkdir(parents=True)
    image = sitk.GetImageFromArray(np.zeros(SHAPE, dtype=np.int16))
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(SHAPE[0]):
        plane = image[:, :, k]
        plane.SetMetaData("0020|0032", "\\".join(f"{v:.6f}" for v in image.TransformIndexToPhysicalPoint((0, 0, k))))
        plane.SetMetaData("0020|0037", "1\\0\\0\\0\\1\\0")
        plane.SetMetaData("0020|0013", str(k))
        plane.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.7")
        plane.SetMetaData("0008|0060", "CT")
        writer.SetFileName(str(series / f"{k:03d}.dcm"))
        writer.Execute(plane)
    _label(root / "segmentations" / dicom / f"{dicom}_cowseg.nii", values=(0, 3))
    (root / "train.csv").write_text(f"SeriesInstanceUID,Modality\n{nested},CTA\n{flat},MRA\n{dicom},CTA\n")
    return root, nested, flat, dicom


def test_rsna_reads_nifti_and_dicom_series_cases(tmp_path):
    root, nested, flat, dicom = _rsna(tmp_path / "rsna")
    manifest = load_rsna(root)
    by_id = {c.case_id: c for c in manifest}
    assert set(by_id) == {nested, flat, dicom}
    assert by_id[nested].modality == "cta" and by_id[flat].modality == "mra"
    assert by_id[dicom].image_path == root / "series" / dicom
    assert set(np.unique(load_label(by_id[nested], binary=False).array)) == set(range(14))
    assert set(np.unique(load_label(by_id[nested]).array)) == {0, 1}


def test_rsna_shape_mismatch_names_the_series(tmp_path):
    root, nested, _, _ = _rsna(tmp_path / "rsna")
    _label(root / "segmentations" / nested / f"{nested}_cowseg.nii", shape=(6, 7, 9))
    with pytest.raises(CerebroError, match=rf"^case {nested}: label shape \(6, 7, 9\) vs image \(6, 7, 8\)"):
        load_rsna(root)


def _bids(root):
    for subject, values in (("sub-01", (0, 1)), ("sub-02", (0,)), ("sub-03", None)):
        _image(root / subject / "anat" / f"{subject}_T2w.nii.gz", dtype=np.uint16)
        if values is not None:
            _label(root / "derivatives" / "mask" / subject / f"{subject}_desc-mask_PVS.nii.gz", values=values)
    return root


def test_bids_pvs_skips_empty_and_missing_masks_with_a_warning(tmp_path):
    root = _bids(tmp_path / "bids")
    with pytest.warns(UserWarning) as caught:
        manifest = load_bids_pvs(root)
    assert [(c.case_id, c.modality) for c in manifest] == [("sub-01", "t2w")]
    messages = " ".join(str(w.message) for w in caught)
    assert "sub-02" in messages and "empty" in messages and "sub-03" in messages


def test_bids_pvs_direction_mismatch_names_the_subject(tmp_path):
    root = _bids(tmp_path / "bids")
    flipped = np.diag([-1.0, -1.0, 1.0])
    _label(root / "derivatives" / "mask" / "sub-01" / "sub-01_desc-mask_PVS.nii.gz", direction=flipped,
           origin=ORIGIN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(CerebroError, match=r"^case sub-01: label and image direction matrices differ; resample"):
            load_bids_pvs(root)


def test_paired_folders_match_by_stem(tmp_path):
    _image(tmp_path / "img" / "a_0000.nii.gz")
    _image(tmp_path / "img" / "b.nrrd")
    _label(tmp_path / "lab" / "a.nii.gz")
    _label(tmp_path / "lab" / "b.nii.gz")
    manifest = load_paired_folders(tmp_path / "img", tmp_path / "lab", modality="mra")
    assert [(c.case_id, c.label_path.name, c.modality) for c in manifest] == [
        ("a", "a.nii.gz", "mra"), ("b", "b.nii.gz", "mra")]
    _label(tmp_path / "lab" / "b.nii.gz", spacing=(0.45, 0.45, 0.7))
    with pytest.raises(CerebroError, match=r"^case b: label spacing"):
        load_paired_folders(tmp_path / "img", tmp_path / "lab")
    (tmp_path / "lab" / "b.nii.gz").unlink()
    with pytest.raises(CerebroError, match="case b: no label named b"):
        load_paired_folders(tmp_path / "img", tmp_path / "lab")


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_manifest_round_trip_with_relative_paths(tmp_path, suffix):
    cases = [Case("c1", tmp_path / "imagesTr" / "c1_0000.nii.gz", tmp_path / "labelsTr" / "c1.nii.gz", "cta",
                  {"split": "train", "fraction_path": str(tmp_path / "fractionsTr" / "c1.nii.gz")}),
             Case("c2", tmp_path / "imagesTs" / "c2_0000.nii.gz", None, "mra", {})]
    path = Manifest(cases).write(tmp_path / f"manifest{suffix}")
    assert "imagesTr/c1_0000.nii.gz" in path.read_text() and str(tmp_path) not in path.read_text()
    back = Manifest.read(path)
    assert [(c.case_id, c.image_path, c.label_path, c.modality) for c in back] == [
        (c.case_id, c.image_path, c.label_path, c.modality) for c in cases]
    assert back.cases[0].extra == {"split": "train", "fraction_path": str(tmp_path / "fractionsTr" / "c1.nii.gz")}


def test_bad_manifest_and_unknown_format_are_one_line_errors(tmp_path):
    (tmp_path / "bad.csv").write_text("name,file\nx,y\n")
    with pytest.raises(CerebroError, match="not a valid manifest"):
        Manifest.read(tmp_path / "bad.csv")
    with pytest.raises(CerebroError, match="use a .csv or .json"):
        Manifest([]).write(tmp_path / "m.txt")


def test_cli_dataset_manifest(tmp_path, capsys):
    root = _topcow(tmp_path / "topcow")
    assert main(["dataset", "manifest", str(root), "--layout", "topcow", "-o", str(tmp_path / "m.csv")]) == 0
    assert [c.case_id for c in Manifest.read(tmp_path / "m.csv")] == ["topcow_ct_001", "topcow_mr_002"]
    _image(tmp_path / "img" / "a.nii.gz")
    _label(tmp_path / "lab" / "a.nii.gz", spacing=(1.0, 1.0, 1.0))
    assert main(["dataset", "manifest", str(tmp_path / "img"), "--layout", "paired", "--labels",
                 str(tmp_path / "lab"), "-o", str(tmp_path / "p.json")]) == 2
    assert capsys.readouterr().err.startswith("error: case a: label spacing (1, 1, 1)")
    assert main(["dataset", "manifest", str(tmp_path / "img"), "--layout", "paired", "-o", "x.csv"]) == 2
