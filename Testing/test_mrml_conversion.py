"""MRML <-> Volume conversion (CerebroLib.mrml) against the real MRML library of the slicer-core wheel.

The RAS/LPS handling is checked against independent references: SimpleITK's index-to-physical mapping
(LPS) and Slicer's own file readers/writers (vtkMRMLVolumeArchetypeStorageNode).
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import slicer
import vtk

from cerebro.errors import CerebroError
from cerebro.io import read_volume, volume_to_sitk, write_volume
from cerebro.volume import Volume, same_geometry
from CerebroLib import mrml


def _ijk_to_ras(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return slicer.util.arrayFromVTKMatrix(matrix)


def _assert_identical(a: Volume, b: Volume, atol: float = 1e-9) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(a.spacing, b.spacing, atol=atol)
    np.testing.assert_allclose(a.origin, b.origin, atol=atol)
    np.testing.assert_allclose(a.direction, b.direction, atol=atol)


def _read_with_slicer(scene, path) -> object:
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "read")
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    assert storage.ReadData(node) == 1
    return node


def _write_with_slicer(scene, node, path) -> None:
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    assert storage.WriteData(node) == 1


def test_lps_point_maps_to_ras_with_x_and_y_negated(scene, ct_volume):
    node = mrml.volume_to_node(ct_volume, scene, "ct")
    image = volume_to_sitk(ct_volume)
    for index in [(0, 0, 0), (5, 7, 3), (31, 27, 23)]:
        lps = np.array(image.TransformIndexToPhysicalPoint(index))  # SimpleITK: LPS
        ras = (_ijk_to_ras(node) @ np.append(index, 1.0))[:3]
        np.testing.assert_allclose(ras, [-lps[0], -lps[1], lps[2]], atol=1e-9)
        np.testing.assert_allclose(mrml.lps_to_ras(lps), ras, atol=1e-9)
    # Array order [k, j, i] on both sides: voxel (i, j, k) = (5, 7, 3) is array[3, 7, 5].
    assert slicer.util.arrayFromVolume(node)[3, 7, 5] == ct_volume.array[3, 7, 5] == image[5, 7, 3]


def test_mrml_to_core_to_mrml_keeps_voxels_and_geometry(scene, ct_volume):
    assert not np.allclose(ct_volume.direction, np.eye(3)) and len(set(ct_volume.spacing)) == 3
    node = mrml.volume_to_node(ct_volume, scene, "ct")
    assert node.IsA("vtkMRMLScalarVolumeNode") and not node.IsA("vtkMRMLLabelMapVolumeNode")
    np.testing.assert_allclose(node.GetSpacing(), ct_volume.spacing, atol=1e-12)
    back = mrml.volume_from_node(node)
    _assert_identical(back, ct_volume)
    again = mrml.volume_to_node(back, scene, "ct again")
    np.testing.assert_allclose(_ijk_to_ras(again), _ijk_to_ras(node), atol=1e-12)
    assert back.metadata["source"] == "ct"


def test_volume_to_node_updates_an_existing_node(scene, ct_volume):
    node = mrml.volume_to_node(ct_volume, scene, "ct")
    smaller = Volume(np.ones((4, 5, 6), np.float32), spacing=(2, 3, 4), origin=(1, 2, 3))
    assert mrml.volume_to_node(smaller, scene, "unused", node=node) is node
    _assert_identical(mrml.volume_from_node(node), smaller)
    with pytest.raises(CerebroError, match="cannot write"):
        mrml.volume_to_node(smaller, scene, "x", node=node, labelmap=True)


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz"])
def test_file_to_mrml_to_file_keeps_geometry(scene, ct_volume, tmp_path, suffix):
    source = write_volume(ct_volume, tmp_path / f"ct{suffix}")
    reference = read_volume(source)  # what SimpleITK sees in the file (LPS)
    node = _read_with_slicer(scene, source)  # Slicer's own reader (RAS)
    from_slicer = mrml.volume_from_node(node)
    assert same_geometry(from_slicer, reference, atol_mm=1e-6, atol_direction=1e-6) is None
    np.testing.assert_array_equal(from_slicer.array, reference.array)

    written_by_slicer = tmp_path / f"slicer{suffix}"
    _write_with_slicer(scene, mrml.volume_to_node(from_slicer, scene, "copy"), written_by_slicer)
    written_by_core = write_volume(from_slicer, tmp_path / f"core{suffix}")
    for path in (written_by_slicer, written_by_core):
        reread = read_volume(path)
        assert same_geometry(reread, reference, atol_mm=1e-6, atol_direction=1e-6) is None
        np.testing.assert_array_equal(reread.array, reference.array)
    image = sitk.ReadImage(str(written_by_slicer))
    assert image.GetPixelID() == sitk.sitkInt16


def test_labelmap_node_and_mask(scene, ct_volume):
    labels = ct_volume.with_array((ct_volume.array > 200).astype(np.uint8) * 3)
    node = mrml.volume_to_node(labels, scene, "labels", labelmap=True)
    assert node.IsA("vtkMRMLLabelMapVolumeNode")
    mask = mrml.mask_from_labelmap_node(node, label=3)
    assert mask.dtype == np.uint8 and same_geometry(mask, ct_volume) is None
    np.testing.assert_array_equal(mask.array, ct_volume.array > 200)
    np.testing.assert_array_equal(mrml.mask_from_labelmap_node(node, label=1).array, 0)


def test_segmentation_round_trip_keeps_masks_names_colors(scene, ct_volume):
    reference = mrml.volume_to_node(ct_volume, scene, "ct")
    vessel = ct_volume.with_array((ct_volume.array > 300).astype(np.uint8))
    bone = ct_volume.with_array((ct_volume.array < -300).astype(np.uint8))
    masks = {"vessel": (vessel, (1.0, 0.0, 0.0)), "bone": (bone, (0.9, 0.9, 0.7))}
    nodes_before = scene.GetNumberOfNodes()
    segmentation = mrml.segmentation_node_from_masks(masks, reference, name="result")
    assert segmentation.GetSegmentation().GetNumberOfSegments() == 2
    back = mrml.masks_from_segmentation_node(segmentation, reference)
    assert list(back) == ["vessel", "bone"]
    for name, (mask, color) in masks.items():
        got, got_color = back[name]
        assert same_geometry(got, ct_volume, atol_mm=1e-9, atol_direction=1e-9) is None
        np.testing.assert_array_equal(got.array, mask.array)
        np.testing.assert_allclose(got_color, color, atol=1e-6)
    added = {scene.GetNthNode(i).GetClassName() for i in range(nodes_before, scene.GetNumberOfNodes())}
    # No temporary labelmap or colour table is left behind (the subject hierarchy is a scene singleton).
    assert added <= {"vtkMRMLSegmentationNode", "vtkMRMLSegmentationDisplayNode", "vtkMRMLSubjectHierarchyNode"}


def test_conversion_errors_are_one_line_cerebro_errors(scene, ct_volume):
    with pytest.raises(CerebroError, match="expected a scalar volume node"):
        mrml.volume_from_node(None)
    with pytest.raises(CerebroError, match="has no voxels"):
        mrml.volume_from_node(scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty"))
    vector = scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "rgb")
    slicer.util.updateVolumeFromArray(vector, np.zeros((2, 3, 4, 3), np.uint8))
    with pytest.raises(CerebroError, match="3 components"):
        mrml.volume_from_node(vector)
    reference = mrml.volume_to_node(ct_volume, scene, "ct")
    shifted = Volume(np.zeros(ct_volume.shape, np.uint8), spacing=ct_volume.spacing, origin=(0, 0, 0))
    with pytest.raises(CerebroError, match="not on the grid"):
        mrml.segmentation_node_from_masks({"m": (shifted, (1, 0, 0))}, reference)


def test_derived_nodes_follow_the_parent_transform(scene, ct_volume):
    source = mrml.volume_to_node(ct_volume, scene, "ct")
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "move")
    source.SetAndObserveTransformNodeID(transform.GetID())
    derived = mrml.volume_to_node(ct_volume, scene, "derived")
    mrml.copy_parent_transform(source, derived)
    assert derived.GetTransformNodeID() == transform.GetID()
