"""The one conversion between MRML nodes (Slicer, RAS) and ``cerebro.Volume`` (ITK, LPS).

Slicer's world frame is RAS, ITK's (and ``cerebro.Volume``'s) is LPS: the same physical point has its
x and y negated. A volume node stores ``IJKToRAS``; a Volume stores the LPS index-to-physical matrix, so
``IJKToRAS = RAS_FROM_LPS @ index_to_lps`` with ``RAS_FROM_LPS = diag(-1, -1, 1, 1)`` (its own inverse).
Voxel arrays are ``[k, j, i]`` on both sides (``slicer.util.arrayFromVolume`` order).

Node geometry is read in the node's own (local) frame: a parent transform is not applied; callers that
create derived nodes put them under the same transform (see :func:`copy_parent_transform`).
Functions take the scene explicitly and never use ``slicer.app`` or ``slicer.modules``, so they run under
pytest with the ``slicer-core`` wheel as well as inside Slicer.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import slicer
import vtk

from cerebro.errors import CerebroError
from cerebro.volume import Volume, same_geometry

RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])

Color = tuple[float, float, float]


def lps_to_ras(point: Iterable[float]) -> np.ndarray:
    """Map an LPS point (mm) to RAS (mm): x and y change sign."""
    return (RAS_FROM_LPS @ np.append(np.asarray(point, dtype=np.float64), 1.0))[:3]


def ijk_to_ras_matrix(volume: Volume) -> np.ndarray:
    """4x4 matrix mapping homogeneous (i, j, k, 1) of ``volume`` to RAS millimetres (Slicer's IJKToRAS)."""
    return RAS_FROM_LPS @ volume.index_to_lps()


def volume_from_node(node: vtk.vtkObject) -> Volume:
    """Copy a scalar or labelmap volume node into a Volume (array [k, j, i], geometry converted RAS -> LPS)."""
    if node is None or not node.IsA("vtkMRMLScalarVolumeNode"):
        kind = node.GetClassName() if node is not None else "nothing"
        raise CerebroError(f"expected a scalar volume node, got {kind}; select a scalar (grayscale) volume")
    image = node.GetImageData()
    if image is None or image.GetNumberOfPoints() == 0:
        raise CerebroError(f"volume node '{node.GetName()}' has no voxels; load or compute the image first")
    if image.GetNumberOfScalarComponents() != 1:
        raise CerebroError(
            f"volume node '{node.GetName()}' has {image.GetNumberOfScalarComponents()} components per voxel; "
            "convert it to a single-channel scalar volume first"
        )
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    index_to_lps = RAS_FROM_LPS @ slicer.util.arrayFromVTKMatrix(matrix)
    spacing = np.asarray(node.GetSpacing(), dtype=np.float64)
    direction = index_to_lps[:3, :3] / spacing
    array = np.array(slicer.util.arrayFromVolume(node), copy=True)
    return Volume(
        array=array,
        spacing=tuple(spacing),
        origin=tuple(index_to_lps[:3, 3]),
        direction=direction,
        metadata={"source": node.GetName()},
    )


def volume_to_node(
    volume: Volume,
    scene: vtk.vtkObject,
    name: str,
    node: vtk.vtkObject | None = None,
    labelmap: bool = False,
) -> vtk.vtkObject:
    """Write ``volume`` into ``node`` (or a new scalar/labelmap volume node added to ``scene``) and return it.

    Voxels are deep-copied with their dtype; IJKToRAS is set from the Volume's LPS geometry.
    """
    class_name = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
    if node is None:
        node = scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName(name))
    elif not node.IsA(class_name):
        raise CerebroError(f"cannot write a volume into a {node.GetClassName()}; pass a {class_name} or none")
    _write_voxels_and_geometry(volume, node)
    node.CreateDefaultDisplayNodes()
    return node


def copy_parent_transform(source: vtk.vtkObject, target: vtk.vtkObject) -> None:
    """Put ``target`` under the same parent transform as ``source`` (so derived volumes overlay their input)."""
    target.SetAndObserveTransformNodeID(source.GetTransformNodeID())


def mask_from_labelmap_node(node: vtk.vtkObject, label: int | None = None) -> Volume:
    """A uint8 0/1 mask Volume from a labelmap (or scalar) node: voxels == ``label``, or != 0 when label is None."""
    volume = volume_from_node(node)
    selected = volume.array != 0 if label is None else volume.array == label
    return volume.with_array(selected.astype(np.uint8))


def segmentation_node_from_masks(
    masks: dict[str, tuple[Volume, Color]],
    reference_volume_node: vtk.vtkObject,
    name: str = "Segmentation",
) -> vtk.vtkObject:
    """A new segmentation node (in the reference node's scene) with one segment per named mask.

    ``masks`` maps segment name -> (mask Volume, RGB colour in 0..1); each mask must lie on the reference
    volume's grid. The segmentation's geometry is the reference volume's.
    """
    scene = reference_volume_node.GetScene()
    reference = volume_from_node(reference_volume_node)
    for segment_name, (mask, _color) in masks.items():
        mismatch = same_geometry(mask, reference)
        if mismatch:
            raise CerebroError(
                f"mask '{segment_name}' is not on the grid of '{reference_volume_node.GetName()}' ({mismatch}); "
                "resample it to the reference volume first"
            )
    _ensure_segmentation_converters()
    segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(name))
    segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume_node)
    segmentation_node.CreateDefaultDisplayNodes()
    copy_parent_transform(reference_volume_node, segmentation_node)
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    for segment_name, (mask, color) in masks.items():
        segment_id = segmentation_node.GetSegmentation().AddEmptySegment("", segment_name, list(color))
        binary = mask.with_array((mask.array != 0).astype(np.uint8))
        colors_before = _color_node_ids(scene)
        labelmap_node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__cerebro_temp__")
        try:
            _write_voxels_and_geometry(binary, labelmap_node)
            segment_ids = _string_array([segment_id])
            if not logic.ImportLabelmapToSegmentationNode(labelmap_node, segmentation_node, segment_ids):
                raise CerebroError(f"Slicer could not import the mask '{segment_name}' into the segmentation")
        finally:
            _remove_temporary_node(scene, labelmap_node, colors_before)
    return segmentation_node


def masks_from_segmentation_node(
    segmentation_node: vtk.vtkObject, reference_volume_node: vtk.vtkObject
) -> dict[str, tuple[Volume, Color]]:
    """Each segment as (uint8 0/1 mask Volume on the reference volume's grid, RGB colour), keyed by segment name."""
    scene = segmentation_node.GetScene()
    segmentation = segmentation_node.GetSegmentation()
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    masks: dict[str, tuple[Volume, Color]] = {}
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        segment = segmentation.GetSegment(segment_id)
        colors_before = _color_node_ids(scene)
        labelmap_node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__cerebro_temp__")
        try:
            if not logic.ExportSegmentsToLabelmapNode(
                segmentation_node, _string_array([segment_id]), labelmap_node, reference_volume_node
            ):
                raise CerebroError(f"Slicer could not export segment '{segment.GetName()}' to a labelmap")
            mask = mask_from_labelmap_node(labelmap_node)
        finally:
            _remove_temporary_node(scene, labelmap_node, colors_before)
        if segment.GetName() in masks:
            raise CerebroError(f"two segments are named '{segment.GetName()}'; rename one of them first")
        mask.metadata = {"source": segmentation_node.GetName(), "segment": segment.GetName()}
        masks[segment.GetName()] = (mask, tuple(float(c) for c in segment.GetColor()))
    return masks


def _ensure_segmentation_converters() -> None:
    """Register the labelmap <-> surface converter rules if nobody did.

    Slicer's Segmentations module registers them at start-up; a bare MRML library (the ``slicer-core``
    wheel) has none, and a segmentation cannot then hold a binary labelmap.
    """
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    if len(factory.GetConverterRules()) == 0:
        factory.RegisterConverterRule(slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule())
        factory.RegisterConverterRule(slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule())


def _string_array(values: list[str]) -> vtk.vtkStringArray:
    array = vtk.vtkStringArray()
    for value in values:
        array.InsertNextValue(value)
    return array


def _write_voxels_and_geometry(volume: Volume, node: vtk.vtkObject) -> None:
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(volume.array))
    node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(ijk_to_ras_matrix(volume)))


def _color_node_ids(scene: vtk.vtkObject) -> set[str]:
    nodes = scene.GetNodesByClass("vtkMRMLColorNode")
    return {nodes.GetItemAsObject(i).GetID() for i in range(nodes.GetNumberOfItems())}


def _remove_temporary_node(scene: vtk.vtkObject, node: vtk.vtkObject, colors_before: set[str]) -> None:
    """Remove a temporary labelmap node, its display node and any colour table created for it."""
    display = node.GetDisplayNode()
    if display is not None:
        scene.RemoveNode(display)
    for color_id in _color_node_ids(scene) - colors_before:
        scene.RemoveNode(scene.GetNodeByID(color_id))
    scene.RemoveNode(node)
