"""The CerebroCompress module file outside Slicer: its .cbv reader/writer classes and its self-test's logic part.

The module file is imported with Slicer 5.6.2's own ``parameterNodeWrapper`` (vendored) and Qt widget doubles
(``slicer_stubs``, ``qt_doubles``), since the slicer-core wheel has no Qt; everything the
reader, the writer and the self-test touch beyond that is real (MRML scene, CerebroLib, cerebro core). The
real Slicer run of the self-test is ``slicer_add_python_unittest`` (see docs/slicer.md).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from slicer_stubs import import_module_file

from CerebroLib import mrml

MODULE_FILE = Path(__file__).resolve().parents[1] / "CerebroCompress" / "CerebroCompress.py"


def _pack(**values):
    """What the parameter node's typed CodecSettings pack holds: every setting, placeholders where unset."""
    from CerebroLib.compress_logic import SETTING_TYPES

    return {name: values.get(name, kind()) for name, kind in SETTING_TYPES.items()}


@pytest.fixture
def module(monkeypatch):
    """CerebroCompress.py imported with Slicer's parameter-node wrapper and the Qt doubles (slicer_stubs)."""
    return import_module_file(monkeypatch, MODULE_FILE)


def test_writer_then_reader_round_trip_a_volume(module, scene, ct_volume, tmp_path, monkeypatch):
    node = mrml.volume_to_node(ct_volume, scene, "ct")
    labelmap = mrml.volume_to_node(ct_volume.with_array((ct_volume.array > 0).astype(np.uint8)), scene, "l", None, True)
    panel = SimpleNamespace(codec="zfp", mode="accuracy", settings=SimpleNamespace(**_pack(tolerance=3.0)))
    monkeypatch.setattr(module.CerebroCompressLogic, "getParameterNode", lambda self: panel)

    writer = module.CerebroCompressFileWriter(SimpleNamespace())
    assert writer.canWriteObject(node) and not writer.canWriteObject(labelmap)
    assert writer.extensions(node) == ["CerebroBench compressed volume (*.cbv)"]
    path = tmp_path / "ct.cbv"
    assert writer.write({"nodeID": node.GetID(), "fileName": str(path)})
    assert writer.parent.writtenNodes == [node.GetID()]

    reader = module.CerebroCompressFileReader(SimpleNamespace())
    assert reader.fileType() == writer.fileType() == module.FILE_TYPE
    assert reader.canLoadFile(str(path)) and not reader.canLoadFile(str(tmp_path / "other.nrrd"))
    assert reader.load({"fileName": str(path), "name": "from file"})
    loaded = scene.GetNodeByID(reader.parent.loadedNodes[0])
    assert loaded.GetName() == "from file"
    volume = mrml.volume_from_node(loaded)
    assert np.abs(volume.array.astype(int) - ct_volume.array).max() <= 3


def test_reader_and_writer_report_failure_instead_of_raising(module, scene, ct_volume, tmp_path, monkeypatch):
    bad = tmp_path / "bad.cbv"
    bad.write_bytes(b"PK\x03\x04 broken")
    assert not module.CerebroCompressFileReader(SimpleNamespace()).load({"fileName": str(bad)})
    node = mrml.volume_to_node(ct_volume, scene, "ct")
    panel = SimpleNamespace(codec="zfp", mode="accuracy", settings=SimpleNamespace(**_pack(tolerance=-5.0)))
    monkeypatch.setattr(module.CerebroCompressLogic, "getParameterNode", lambda self: panel)
    writer = module.CerebroCompressFileWriter(SimpleNamespace())
    assert not writer.write({"nodeID": node.GetID(), "fileName": str(tmp_path / "x.cbv")})
    assert not (tmp_path / "x.cbv").exists()


def test_self_test_logic_part_passes(module, scene):
    case = module.CerebroCompressTest("test_LogicRoundTrip")
    case.test_LogicRoundTrip()


def test_panel_texts_for_settings_and_modes(module):
    from cerebro.codecs import get_codec
    from CerebroLib import compress_widget

    tolerance = get_codec("zfp").modes["accuracy"].settings[0]
    tip = compress_widget._settingToolTip(tolerance)
    assert tolerance.help in tip and f"{tolerance.minimum} to {tolerance.maximum} {tolerance.unit}" in tip
    assert compress_widget._modeHelp("zfp", "reversible").endswith("(lossless)")
    assert "install" in compress_widget._modeHelp("", "")


class _VolumesWriter:
    """Slicer's Volumes writer as the IO manager sees it: no confidence method (0.5), NRRD/NIfTI/... formats."""

    def fileType(self):
        return "VolumeFile"

    def extensions(self, obj):
        return ["NRRD (.nrrd)", "NIfTI (.nii.gz)", "MetaImage (.mha)"]

    def canWriteObjectConfidence(self, obj):
        return 0.5 if obj.IsA("vtkMRMLVolumeNode") else 0.0


def _chosen_writer(writers, node, file_name=None):
    """The IO manager's choice (qSlicerCoreIOManager / vtkMRMLFileIOManager): among writers that can write the
    node, those whose formats cover the file name's extension first; then the highest confidence; on a tie the
    first registered. Without a file name (``saveNode``'s ``fileWriterFileType(node)``) confidence alone decides."""
    def covers(writer):
        suffixes = [ext.split("(")[-1].strip(" *.)") for ext in writer.extensions(node)]
        return file_name is not None and any(file_name.lower().endswith("." + s) for s in suffixes)

    able = [w for w in writers if w.canWriteObjectConfidence(node) > 0]
    best = [w for w in able if covers(w)] or able
    return max(best, key=lambda w: w.canWriteObjectConfidence(node)) if best else None  # max keeps the first


def test_cbv_writer_takes_over_nothing_from_the_volumes_writer(module, scene, ct_volume):
    """CerebroCompress registers before Volumes (modules load alphabetically); still every scalar volume saved
    without asking for .cbv goes to the Volumes writer, and .cbv file names to ours."""
    node = mrml.volume_to_node(ct_volume, scene, "ct")
    ours, volumes = module.CerebroCompressFileWriter(SimpleNamespace()), _VolumesWriter()
    registered = [ours, volumes]
    assert ours.canWriteObjectConfidence(node) == module.WRITER_CONFIDENCE < volumes.canWriteObjectConfidence(node)
    assert _chosen_writer(registered, node) is volumes  # slicer.util.saveNode(volume, "x.nrrd")
    assert _chosen_writer(registered, node, "x.nrrd") is volumes
    assert _chosen_writer(registered, node, "x.nii.gz") is volumes
    assert _chosen_writer(registered, node, "x.cbv") is ours
    labelmap = mrml.volume_to_node(ct_volume.with_array((ct_volume.array > 0).astype(np.uint8)), scene, "l", None,
                                   True)
    assert ours.canWriteObjectConfidence(labelmap) == 0.0
    assert ours.canWriteObjectConfidence(scene.AddNewNodeByClass("vtkMRMLModelNode")) == 0.0


def test_writer_refuses_a_file_name_that_is_not_cbv(module, scene, ct_volume, tmp_path, monkeypatch):
    node = mrml.volume_to_node(ct_volume, scene, "ct")
    panel = SimpleNamespace(codec="zfp", mode="reversible", settings=SimpleNamespace(**_pack()))
    monkeypatch.setattr(module.CerebroCompressLogic, "getParameterNode", lambda self: panel)
    assert not module.CerebroCompressFileWriter(SimpleNamespace()).write(
        {"nodeID": node.GetID(), "fileName": str(tmp_path / "ct.nrrd")})
    assert not (tmp_path / "ct.nrrd").exists()


def test_every_ui_parameter_name_is_a_field_of_the_module_parameter_node(module):
    import re

    from CerebroLib import parameters

    for name, node_class in (("CerebroCompress", parameters.CompressParameters),
                             ("CerebroSegment", parameters.SegmentParameters)):
        ui = (MODULE_FILE.parents[1] / name / "Resources" / "UI" / f"{name}.ui").read_text(encoding="utf-8")
        bound = re.findall(r'name="SlicerParameterName"[^>]*>\s*<string>(\w+)</string>', ui)
        assert bound and set(bound) <= set(node_class.__annotations__), (name, bound)
    assert set(parameters.CodecSettings.__annotations__) == set(parameters.SETTING_TYPES)
