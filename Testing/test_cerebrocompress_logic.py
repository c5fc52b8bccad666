"""CerebroCompressLogic (the CerebroCompress module's logic) on a real MRML scene from the slicer-core wheel.

Covers everything the module's Slicer self-test exercises: compress/decompress a generated volume into new
nodes, the difference volume, the report, .cbv save/load, cancellation, the reader's file check and the
parameter-node settings helpers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import slicer
import vtk

from cerebro.codecs.setting import format_value
from cerebro.errors import Cancelled, CerebroError
from cerebro.progress import Progress
from cerebro.volume import same_geometry
from CerebroLib import compress_logic, mrml
from CerebroLib.compress_logic import CerebroCompressLogic


@pytest.fixture
def ct_node(scene, ct_volume):
    return mrml.volume_to_node(ct_volume, scene, "ct")


def _ijk_to_ras(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return slicer.util.arrayFromVTKMatrix(matrix)


def test_run_lossless_gives_identical_node_and_zero_difference(scene, ct_node, ct_volume):
    updates = []
    progress = Progress(on_update=lambda fraction, message: updates.append(fraction))
    output, difference, report = CerebroCompressLogic().run(
        ct_node, "zfp", "reversible", {}, make_difference=True, progress=progress
    )
    assert output.GetName() == "ct zfp-reversible" and output.GetScene() is scene
    np.testing.assert_allclose(_ijk_to_ras(output), _ijk_to_ras(ct_node), atol=1e-12)
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(output), ct_volume.array)
    assert slicer.util.arrayFromVolume(output).dtype == np.int16
    assert difference.GetName() == "ct zfp-reversible difference"
    assert not slicer.util.arrayFromVolume(difference).any()
    assert report.max_abs_error == 0 and np.isinf(report.psnr_db) and report.compression_ratio > 1
    assert "compression ratio" in report.to_text()
    assert updates and updates[-1] == 1.0 and updates == sorted(updates)


def test_run_lossy_respects_tolerance_and_difference_is_the_error(ct_node, ct_volume):
    output, difference, report = CerebroCompressLogic().run(ct_node, "zfp", "accuracy", {"tolerance": 8.0}, True)
    decoded = mrml.volume_from_node(output)
    assert same_geometry(decoded, ct_volume, atol_mm=1e-9, atol_direction=1e-9) is None
    error = decoded.array.astype(np.float32) - ct_volume.array.astype(np.float32)
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(difference), error)
    assert 0 < report.max_abs_error <= 8 and np.abs(error).max() == report.max_abs_error
    assert report.compression_ratio > 1.5 and report.psnr_db > 40
    no_difference = CerebroCompressLogic().run(ct_node, "zfp", "accuracy", {"tolerance": 8.0})[1]
    assert no_difference is None


def test_output_follows_the_input_transform(scene, ct_node):
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "move")
    ct_node.SetAndObserveTransformNodeID(transform.GetID())
    output, difference, _ = CerebroCompressLogic().run(ct_node, "zfp", "reversible", make_difference=True)
    assert output.GetTransformNodeID() == difference.GetTransformNodeID() == transform.GetID()


def test_save_and_load_compressed_file(scene, ct_node, ct_volume, tmp_path):
    logic = CerebroCompressLogic()
    path = tmp_path / "ct.cbv"
    summary = logic.save_compressed(ct_node, path, "zfp", "accuracy", {"tolerance": 2.0})
    assert path.stat().st_size == summary["file_nbytes"] < ct_volume.nbytes and summary["codec"] == "zfp"
    assert summary["settings"] == {"tolerance": 2.0}
    assert compress_logic.is_compressed_file(path)
    loaded = logic.load_compressed(path, scene)
    assert loaded.GetName() == "ct_1" and loaded.IsA("vtkMRMLScalarVolumeNode")
    volume = mrml.volume_from_node(loaded)
    assert same_geometry(volume, ct_volume, atol_mm=1e-9, atol_direction=1e-9) is None
    assert volume.dtype == np.int16
    assert np.abs(volume.array.astype(int) - ct_volume.array).max() <= 2
    np.testing.assert_allclose(_ijk_to_ras(loaded), _ijk_to_ras(ct_node), atol=1e-9)


def test_every_long_task_runs_in_the_job_runner_and_leaves_no_files(scene, ct_node, tmp_path):
    """Round trip, save and load are `cerebro compress|decompress` processes; their folders are removed."""
    logic = CerebroCompressLogic()
    jobs = [logic.start_round_trip(ct_node, "zfp", "reversible"),
            logic.start_save(ct_node, tmp_path / "a.cbv", "zfp", "rate", {"rate": 4.0})]
    for job, command in zip(jobs, ("compress", "compress")):
        assert job.command[1:4] == ["-m", "cerebro.cli.main", command] and job.command[-2:] == ["--progress-format",
                                                                                              "json"]
        assert job.wait(timeout=120).succeeded, job.state.error
    logic.finish_round_trip(jobs[0])
    assert logic.finish_save(jobs[1])["bits_per_voxel"] == pytest.approx(4.0, rel=0.2)
    load = logic.start_load(tmp_path / "a.cbv", scene)
    assert load.command[3] == "decompress" and load.wait(timeout=120).succeeded
    node = logic.finish_load(load)
    assert node.GetName() == "a" and all(job.workdir is None or not job.workdir.exists() for job in [*jobs, load])


def test_an_inr_codec_fits_in_the_background_process(ct_node, ct_volume):
    pytest.importorskip("torch")  # a Python without torch (the 3.12 run): nothing to run the model
    settings = {"width": 16, "depth": 2, "steps": 60, "batch_size": 2048, "device": "cpu"}
    output, _, report = CerebroCompressLogic().run(ct_node, "siren", "explicit", settings)
    decoded = mrml.volume_from_node(output)
    assert report.codec == "siren" and decoded.dtype == ct_volume.dtype and report.compression_ratio > 1
    assert same_geometry(decoded, ct_volume, atol_mm=1e-9, atol_direction=1e-9) is None


def test_a_failing_background_process_is_one_error_and_leaves_no_node(scene, ct_node, tmp_path):
    # jpegls is an 8/16-bit 2D codec: the float volume is refused inside the process, with its one error line.
    float_node = mrml.volume_to_node(mrml.volume_from_node(ct_node).with_array(
        slicer.util.arrayFromVolume(ct_node).astype(np.float32) / 7), scene, "float")
    nodes_before = scene.GetNumberOfNodes()
    with pytest.raises(CerebroError) as raised:
        CerebroCompressLogic().run(float_node, "jpegls", "lossless")
    assert "\n" not in str(raised.value) and "Traceback" not in str(raised.value)
    assert scene.GetNumberOfNodes() == nodes_before


def test_reader_check_rejects_other_files(tmp_path):
    other = tmp_path / "fake.cbv"
    other.write_bytes(b"not a zip")
    assert not compress_logic.is_compressed_file(other)
    assert not compress_logic.is_compressed_file(tmp_path / "missing.cbv")
    assert not compress_logic.is_compressed_file(tmp_path / "volume.nrrd")


def test_cancel_stops_the_run_and_adds_no_node(scene, ct_node):
    nodes_before = scene.GetNumberOfNodes()
    progress = Progress(is_cancelled=lambda: True)
    with pytest.raises(Cancelled):
        CerebroCompressLogic().run(ct_node, "zfp", "reversible", progress=progress)
    assert scene.GetNumberOfNodes() == nodes_before


def test_bad_input_and_settings_are_cerebro_errors(scene, ct_node, tmp_path):
    logic = CerebroCompressLogic()
    with pytest.raises(CerebroError, match="out of range"):
        logic.run(ct_node, "zfp", "accuracy", {"tolerance": -1})
    with pytest.raises(CerebroError, match="unknown codec"):
        logic.run(ct_node, "nope", "x")
    with pytest.raises(CerebroError, match="no voxels"):
        logic.run(scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty"), "zfp", "reversible")
    with pytest.raises(CerebroError, match=".cbv"):
        logic.save_compressed(ct_node, tmp_path / "ct.zip", "zfp", "reversible")


def test_settings_helpers_for_the_parameter_node():
    from cerebro.codecs import available_codecs

    modes = compress_logic.codec_modes()
    assert modes["zfp"] == ["rate", "accuracy", "precision", "reversible"]
    for codec, names in modes.items():
        for mode in names:
            settings = compress_logic.initial_settings(codec, mode)
            # every starting value is valid for the codec (resolve_settings checks the ranges)
            assert compress_logic.codec_setting_from({}, codec, mode).as_dict() == settings
    # The parameter node's typed pack has every setting of every codec, with the codec's type.
    for codec in available_codecs().values():
        for mode in codec.modes.values():
            for setting in mode.settings:
                assert compress_logic.SETTING_TYPES[setting.name] is setting.kind, (codec.name, setting.name)
    stored = {name: kind() for name, kind in compress_logic.SETTING_TYPES.items()} | {"tolerance": 4.0}
    assert compress_logic.codec_setting_from(stored, "zfp", "accuracy").text == "zfp:accuracy:tolerance=4"
    with pytest.raises(CerebroError, match="out of range"):
        compress_logic.codec_setting_from({"tolerance": 0.0}, "zfp", "accuracy")
    assert compress_logic.parse_setting_value("zfp", "precision", "precision", " 12 ") == 12
    assert compress_logic.parse_setting_value("jpeg2000", "lossless", "axis", "k") == "k"
    with pytest.raises(CerebroError, match="precision='1.5' is not an integer"):
        compress_logic.parse_setting_value("zfp", "precision", "precision", "1.5")
    with pytest.raises(CerebroError, match="tolerance='five' is not a number"):
        compress_logic.parse_setting_value("zfp", "accuracy", "tolerance", "five")
    with pytest.raises(CerebroError, match="no mode"):
        compress_logic.mode_settings("zfp", "nope")


def test_a_value_beyond_six_digits_reaches_the_file_exactly(ct_node):
    # what the panel's line edit shows is what it reads back, and what the background process gets
    stored = {"tolerance": compress_logic.parse_setting_value("zfp", "accuracy", "tolerance", "1234567")}
    setting = compress_logic.codec_setting_from(stored, "zfp", "accuracy")
    assert format_value(stored["tolerance"]) == "1234567" and setting.text == "zfp:accuracy:tolerance=1234567"
    arguments = CerebroCompressLogic().compress_arguments(Path("in.nrrd"), "out.cbv", setting)
    assert arguments[arguments.index("--setting") + 1] == "zfp:accuracy:tolerance=1234567"
    _, _, report = CerebroCompressLogic().run(ct_node, setting)
    assert report.settings == {"tolerance": 1234567.0}
