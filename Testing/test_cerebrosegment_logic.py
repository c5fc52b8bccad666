"""CerebroLib.segment_logic with a real MRML scene: background `cerebro segment` runs, cancel, downloads, statuses."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from cerebro.cli.main import main
from cerebro.errors import Cancelled, CerebroError
from cerebro.phantoms import generate_phantom
from cerebro.progress import Progress
from cerebro.segment.catalog import ModelEntry, get_model_entry
from cerebro.volume import Volume, same_geometry
from CerebroLib import mrml
from CerebroLib.jobs import cerebro_command
from CerebroLib.segment_logic import (
    PALETTE,
    STATUS_BUILT_IN,
    STATUS_CACHED,
    STATUS_NO_PUBLIC,
    STATUS_SHIPPED,
    STATUS_UNPINNED,
    VESSEL_COLOR,
    CerebroSegmentLogic,
    model_choices,
    segment_colors,
    weights_status,
)


@pytest.fixture(scope="module")
def phantom():
    return generate_phantom(48, "mra", seed=3, supersample=1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # Testing/conftest.py


def _oblique(phantom_volume: Volume) -> Volume:
    """The phantom on an oblique, anisotropic grid (so a geometry mix-up cannot go unnoticed)."""
    c, s = np.cos(0.3), np.sin(0.3)
    direction = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return Volume(phantom_volume.array, spacing=(0.35, 0.4, 0.5), origin=(12.0, -30.0, 7.5), direction=direction)


def test_background_run_gives_named_red_vessel_segment_on_the_input_grid(phantom, scene):
    pytest.importorskip("torch")  # a Python without torch (the 3.12 run): nothing to run the model
    volume = _oblique(phantom.image)
    node = mrml.volume_to_node(volume, scene, "angio")
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    node.SetAndObserveTransformNodeID(transform.GetID())
    updates = []
    output = CerebroSegmentLogic().run(node, "vesselness", device="cpu", probabilities=True,
                                       progress=Progress(on_update=lambda f, m: updates.append((f, m))))

    assert output.labels == {0: "background", 1: "vessel"}
    segmentation = output.segmentation_node
    assert segmentation.GetName() == "angio vesselness"
    assert segmentation.GetTransformNodeID() == transform.GetID()
    masks = mrml.masks_from_segmentation_node(segmentation, node)
    assert list(masks) == ["vessel"]
    mask, color = masks["vessel"]
    assert color == pytest.approx(VESSEL_COLOR)
    assert same_geometry(mask, volume) is None
    # The background process gives what the core gives in-process (same voxels, same grid).
    from cerebro.segment.api import segment

    expected = segment(volume, "vesselness", device="cpu", return_probabilities=True)
    np.testing.assert_array_equal(mask.array, expected.mask.array)
    probabilities = mrml.volume_from_node(output.probability_node)
    assert same_geometry(probabilities, volume) is None
    np.testing.assert_allclose(probabilities.array, expected.probabilities.array, atol=1e-6)
    assert output.probability_node.GetTransformNodeID() == transform.GetID()
    # Progress came from the process's JSON lines, rising to the end.
    fractions = [f for f, _ in updates]
    assert fractions == sorted(fractions) and 0.5 < fractions[-1] <= 1.0
    assert any("vesselness" in m for _, m in updates)
    assert mask.array.sum() > 0


def test_cancel_terminates_the_process_and_leaves_no_files_or_nodes(phantom, scene):
    node = mrml.volume_to_node(phantom.image, scene, "angio")
    logic = CerebroSegmentLogic()
    job = logic.start(node, "vesselness", device="cpu")
    assert job.process.poll() is None and (job.workdir / "input.nrrd").is_file()
    job.cancel()
    assert job.process.poll() is not None
    assert job.poll().cancelled and not job.poll().succeeded
    assert not job.workdir.exists()
    with pytest.raises(Cancelled):
        logic.finish(job)
    assert scene.GetNodesByClass("vtkMRMLSegmentationNode").GetNumberOfItems() == 0


def test_cancelling_progress_stops_a_blocking_run(phantom, scene):
    node = mrml.volume_to_node(phantom.image, scene, "angio")
    started = []
    progress = Progress(on_update=lambda f, m: started.append(f), is_cancelled=lambda: len(started) >= 1)
    with pytest.raises(Cancelled):
        CerebroSegmentLogic().run(node, "vesselness", device="cpu", progress=progress)
    assert scene.GetNodesByClass("vtkMRMLSegmentationNode").GetNumberOfItems() == 0


def test_failure_of_the_process_becomes_one_line_error(phantom, scene, tmp_path):
    pytest.importorskip("torch")  # a Python without torch (the 3.12 run): nothing to run the model
    node = mrml.volume_to_node(phantom.image, scene, "angio")
    logic = CerebroSegmentLogic(cache_dir=tmp_path)
    # A model without public weights and nothing in the cache: the process ends with the core's error line.
    job = logic.start(node, "pvs-unetpp-effb7", device="cpu", allow_unpinned=True)
    while not job.poll().finished:
        time.sleep(0.05)
    assert job.process.returncode == 2
    with pytest.raises(CerebroError, match="has no public weights; put your best_model.pth at"):
        logic.finish(job)
    assert not job.workdir.exists()


def test_bad_requests_fail_before_a_process_starts(phantom, scene):
    node = mrml.volume_to_node(phantom.image, scene, "angio")
    logic = CerebroSegmentLogic()
    with pytest.raises(CerebroError, match="unknown model 'nope'"):
        logic.start(node, "nope")
    with pytest.raises(CerebroError, match="unknown device 'tpu'"):
        logic.start(node, "vesselness", device="tpu")
    with pytest.raises(CerebroError, match="expected a scalar volume node"):
        logic.start(scene.AddNewNodeByClass("vtkMRMLSegmentationNode"), "vesselness")
    with pytest.raises(CerebroError, match="needs no weights"):
        logic.start_download("vesselness")


def test_command_line_carries_every_option(tmp_path):
    logic = CerebroSegmentLogic(cache_dir=tmp_path, python="/py")
    command = cerebro_command(logic.arguments(Path("in.nrrd"), Path("out.nrrd"), "m", "cuda", tta=False,
                                              probability_path=Path("p.nrrd"), allow_unpinned=True), logic.python)
    assert command[:4] == ["/py", "-m", "cerebro.cli.main", "segment"]
    assert command[command.index("--model") + 1] == "m" and command[command.index("--device") + 1] == "cuda"
    assert command[command.index("--progress-format") + 1] == "json"
    assert "--no-tta" in command and "--allow-unpinned" in command
    assert command[command.index("--probabilities") + 1] == "p.nrrd"
    assert command[command.index("--cache-dir") + 1] == str(tmp_path)
    assert "--no-tta" not in logic.arguments(Path("a"), Path("b"), "m")


def test_segment_cli_json_progress_lines(phantom, tmp_path, capsys):
    pytest.importorskip("torch")  # a Python without torch (the 3.12 run): nothing to run the model
    from cerebro.io import write_volume

    image = phantom.image
    small = Volume(image.array[:24, :24, :24].copy(), image.spacing, image.origin, image.direction)
    write_volume(small, tmp_path / "in.nrrd")
    assert main(["segment", str(tmp_path / "in.nrrd"), str(tmp_path / "out.nrrd"), "--model", "vesselness",
                 "--progress-format", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all("progress" in line for line in lines[:-1]) and lines[-2] == {"progress": 1.0, "message": "done"}
    result = lines[-1]["result"]
    assert result["labels"] == {"0": "background", "1": "vessel"} and result["mask"].endswith("out.nrrd")


def test_segment_colors_vessel_red_others_from_palette():
    colors = segment_colors({0: "background", 1: "vessel", 2: "Aneurysm", 3: "artery", 4: "vein"})
    assert colors == {1: ("vessel", VESSEL_COLOR), 2: ("Aneurysm", PALETTE[0]), 3: ("artery", VESSEL_COLOR),
                      4: ("vein", PALETTE[1])}


def test_weights_status_and_model_choices(tmp_path):
    assert weights_status(get_model_entry("vesselness"), tmp_path) == STATUS_BUILT_IN
    unpinned = get_model_entry("mambavesselnet-mra")
    assert weights_status(unpinned, tmp_path) == STATUS_UNPINNED
    no_public = get_model_entry("pvs-unetpp-effb7")
    assert weights_status(no_public, tmp_path) == STATUS_NO_PUBLIC
    (tmp_path / unpinned.id).mkdir()
    (tmp_path / unpinned.id / unpinned.file).write_bytes(b"weights")
    assert weights_status(unpinned, tmp_path) == STATUS_CACHED
    shipped = ModelEntry(id="shipped", family="nnunet", local="segment/models/x", sha256="0" * 64, pinned=True)
    assert weights_status(shipped, tmp_path) == STATUS_SHIPPED
    choices = {c.id: c for c in model_choices(tmp_path)}
    assert choices["vesselness"].status == STATUS_BUILT_IN and not choices["vesselness"].needs_download
    assert choices[unpinned.id].status == STATUS_CACHED and not choices[unpinned.id].needs_download
    assert choices["spockmip-unet3d-mip"].needs_download


def test_download_runs_cerebro_models_download_in_the_job_runner(tmp_path, monkeypatch):
    # A local (repo-less) entry whose file is already in the cache: the real fetch_model checks and returns it,
    # in the background process (which reads the user catalog from the inherited environment).
    entry = ModelEntry(id="local-weights", family="spockmip", file="w.bin", pinned=False)
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"schema": 1, "models": [entry.as_dict()]}))
    monkeypatch.setenv("CEREBRO_CATALOG", str(catalog))
    (tmp_path / "local-weights").mkdir()
    (tmp_path / "local-weights" / "w.bin").write_bytes(b"x" * 1000)
    logic = CerebroSegmentLogic(cache_dir=tmp_path)
    job = logic.start_download("local-weights", allow_unpinned=True)
    assert job.command[-5:] == ["--cache-dir", str(tmp_path), "--allow-unpinned", "--progress-format", "json"]
    state = job.wait(timeout=60)
    assert state.succeeded and state.fraction == 1.0 and any("unverified" in w for w in state.warnings)
    assert Path(job.checked_result()["path"]) == tmp_path / "local-weights" / "w.bin"
    with pytest.raises(CerebroError, match="not pinned"):
        logic.download("local-weights", allow_unpinned=False)
