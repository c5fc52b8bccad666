"""CerebroLib.benchmark_logic with a real MRML scene: scene input (with and without a reference segmentation) and
dataset input run as background `cerebro benchmark` processes; the store becomes table and chart nodes whose
values are the store's; a record is shown as its decoded volume with prediction / false-positive / false-negative
segments; search, cancel and resume."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from cerebro.benchmark.store import ResultStore
from cerebro.benchmark.summary import summarise
from cerebro.benchmark.sweep import UNCOMPRESSED, parse_setting_lines
from cerebro.datasets import Manifest
from cerebro.errors import Cancelled, CerebroError
from cerebro.phantoms import generate_phantom
from cerebro.phantoms.write import write_phantom_case
from CerebroLib import mrml
from CerebroLib.benchmark_logic import (
    PRESETS,
    RESULT_COLUMNS,
    CerebroBenchmarkLogic,
)
from CerebroLib.jobs import run_job

pytest.importorskip("torch")  # the shipped default model segments every case
SETTINGS = ["zfp:rate:rate=4", "sz3:abs:tolerance=50"]
OPTIONS = {"device": "cpu", "metrics": "overlap"}


@pytest.fixture(scope="module")
def phantom():
    return generate_phantom(32, "cta", seed=11, supersample=1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # Testing/conftest.py


def _scene_input(scene, phantom, name="angio"):
    node = mrml.volume_to_node(phantom.image, scene, name)
    reference = mrml.segmentation_node_from_masks({"vessel": (phantom.mask, (0.8, 0.1, 0.1))}, node, "truth")
    return node, reference


def test_scene_volume_with_reference_fills_tables_and_charts_with_the_store_values(scene, phantom, tmp_path):
    node, reference = _scene_input(scene, phantom)
    logic = CerebroBenchmarkLogic()
    store = tmp_path / "store"
    manifest = logic.scene_manifest(node, store, reference, "vessel")
    nodes = logic.run(manifest, store, SETTINGS, ["cerebro-default"], scene, **OPTIONS)
    rows = summarise(ResultStore(store).records())
    assert [r["setting"] for r in rows] == [UNCOMPRESSED, *SETTINGS]
    table = nodes.results_table.GetTable()
    assert table.GetNumberOfRows() == 3 and table.GetNumberOfColumns() == len(RESULT_COLUMNS)
    for key, column, unit in ((c.key, c.header, c.unit) for c in RESULT_COLUMNS):
        values = table.GetColumnByName(column)
        for index, row in enumerate(rows):
            cell = values.GetValue(index)
            if key in ("model", "setting"):
                assert cell == row[key]
            elif row[key] is None:
                assert math.isnan(cell)
            else:
                assert cell == pytest.approx(row[key], rel=1e-12)
        assert nodes.results_table.GetColumnUnitLabel(column) == unit
    assert "pooled" in nodes.results_table.GetColumnDescription("CR")
    assert rows[0]["dice_mean"] > 0.8  # scored against the reference segment, not against itself
    chart = nodes.dice_vs_ratio_chart
    names = sorted(scene.GetNodeByID(chart.GetNthPlotSeriesNodeID(i)).GetName()
                   for i in range(chart.GetNumberOfPlotSeriesNodes()))
    assert names == ["sz3", "zfp"] and chart.GetXAxisLogScale()  # one series per codec
    assert nodes.ratio_chart.GetNumberOfPlotSeriesNodes() == 2 and nodes.dice_chart.GetNumberOfPlotSeriesNodes() == 2
    limits = nodes.limits_table.GetTable()
    assert limits.GetNumberOfRows() == 2 and limits.GetColumnByName("codec").GetValue(0) in ("zfp", "sz3")

    tables_before = scene.GetNodesByClass("vtkMRMLTableNode").GetNumberOfItems()
    again = logic.load_results(store, scene)  # opening the store again replaces its nodes
    assert scene.GetNodesByClass("vtkMRMLTableNode").GetNumberOfItems() == tables_before
    assert again.results_table.GetTable().GetNumberOfRows() == 3

    model, setting = logic.row_identity(again.results_table, 2)
    assert (model, setting) == ("cerebro-default", "sz3:abs:tolerance=50")
    case_id = logic.store_cases(store)[0]
    job = logic.start_show(store, case_id, setting, model)
    run_job(job)
    shown = logic.finish_show(job, store, case_id, setting, model, scene)
    decoded = mrml.volume_from_node(shown.volume_node)
    assert decoded.shape == phantom.image.shape and 0 < np.abs(decoded.array - phantom.image.array).max() <= 50
    masks = mrml.masks_from_segmentation_node(shown.segmentation_node, shown.volume_node)
    assert set(masks) == {"prediction", "reference", "false positive", "false negative"}
    prediction, truth = masks["prediction"][0].array > 0, masks["reference"][0].array > 0
    assert np.array_equal(truth, phantom.mask.array > 0)
    assert np.array_equal(masks["false positive"][0].array > 0, prediction & ~truth)
    assert np.array_equal(masks["false negative"][0].array > 0, truth & ~prediction)
    assert logic.start_show(store, case_id, UNCOMPRESSED, model) is None  # the original needs no decoding
    original = logic.finish_show(None, store, case_id, UNCOMPRESSED, model, scene)
    assert np.array_equal(mrml.volume_from_node(original.volume_node).array, phantom.image.array)


def test_without_a_reference_scores_are_against_the_uncompressed_prediction(scene, phantom, tmp_path):
    node, _ = _scene_input(scene, phantom)
    logic = CerebroBenchmarkLogic()
    store = tmp_path / "store"
    nodes = logic.run(logic.scene_manifest(node, store), store, ["zfp:rate:rate=2"], ["cerebro-default"], scene,
                      **OPTIONS)
    records = ResultStore(store).records()
    assert {r["reference"] for r in records} == {"uncompressed prediction"}
    assert all(r["vs_truth"]["dice"] == r["vs_uncompressed"]["dice"] for r in records)
    assert nodes.results_table.GetTable().GetColumnByName("Dice mean").GetValue(0) == 1.0
    other = generate_phantom(32, "cta", seed=12, supersample=1)
    changed = mrml.volume_to_node(other.image, scene, "other")
    changed.SetName("angio")  # same name, other voxels
    with pytest.raises(CerebroError, match="already holds a different volume named angio"):
        logic.scene_manifest(changed, store)


def test_dataset_input_search_cancel_and_resume(scene, tmp_path):
    root = tmp_path / "data"
    cases = [write_phantom_case(generate_phantom(32, "mra", seed=seed, supersample=1), root, f"mra_{seed}")
             for seed in (21, 22)]
    manifest = Manifest(cases).write(root / "manifest.csv")
    logic = CerebroBenchmarkLogic()
    store = tmp_path / "store"
    job = logic.start(manifest, store, ["zfp:rate:rate=4"], ["cerebro-default"], **OPTIONS)
    deadline = time.monotonic() + 300
    while not ResultStore(store).records() and time.monotonic() < deadline:  # cancel after the first record
        job.poll()
        time.sleep(0.1)
    job.cancel()
    with pytest.raises(Cancelled):
        logic.finish(job, scene)
    done = len(ResultStore(store).records())
    assert 1 <= done < 4
    job = logic.start(manifest, store, ["zfp:rate:rate=4"], ["cerebro-default"], **OPTIONS)
    run_job(job)
    nodes, result = logic.finish(job, scene)
    assert result["added"] == 4 - done and nodes.results_table.GetTable().GetNumberOfRows() == 2  # resumed
    job = logic.start_search(manifest, store, "zfp", 0.01, "cerebro-default", mode="accuracy", max_trials=2,
                             **OPTIONS)
    run_job(job)
    nodes, result = logic.finish(job, scene)
    assert len(result["trials"]) == 2 and result["cases"] == 2
    assert nodes.results_table.GetTable().GetNumberOfRows() == 4  # uncompressed, rate 4 and the two trials


def test_settings_text_presets_and_bad_requests(tmp_path):
    assert [s.key for s in parse_setting_lines("zfp:rate:rate=4\n# a comment\n\nsz3:abs:tolerance=5  # error bound\n"
                                               "zfp:rate:rate=4.0\n")] == ["zfp:rate:rate=4", "sz3:abs:tolerance=5"]
    for preset in PRESETS.values():
        assert parse_setting_lines("\n".join(preset))
    with pytest.raises(CerebroError, match="setting line 2: "):
        parse_setting_lines("zfp:rate:rate=4\nzfp:warp")
    with pytest.raises(CerebroError, match="at least one compression setting"):
        parse_setting_lines("# nothing\n")
    logic = CerebroBenchmarkLogic()
    with pytest.raises(CerebroError, match="dataset not found"):
        logic.start(tmp_path / "missing", tmp_path / "s", ["zfp:rate:rate=4"], ["cerebro-default"])
    with pytest.raises(CerebroError, match="unknown device"):
        logic.start(tmp_path, tmp_path / "s", ["zfp:rate:rate=4"], ["cerebro-default"], device="tpu")
    with pytest.raises(CerebroError, match="holds no benchmark results"):
        logic.load_results(tmp_path, None)


def test_settings_beyond_six_digits_stay_apart_from_the_panel(scene, phantom, tmp_path):
    near = "zfp:accuracy:tolerance=1234567\nzfp:accuracy:tolerance=1234568"
    node, reference = _scene_input(scene, phantom)
    logic = CerebroBenchmarkLogic()
    store = tmp_path / "store"
    settings = parse_setting_lines(near)  # the panel's text box, parsed once
    job = logic.start(logic.scene_manifest(node, store, reference, "vessel"), store, settings, ["cerebro-default"],
                      **OPTIONS)
    assert [a for i, a in enumerate(job.command) if job.command[i - 1] == "--setting"] == near.splitlines()
    run_job(job)
    logic.finish(job, scene)
    used = {r["setting"]: r["compression"]["settings"]["tolerance"] for r in ResultStore(store).records()
            if r["setting"] != UNCOMPRESSED}
    assert used == {"zfp:accuracy:tolerance=1234567": 1234567.0, "zfp:accuracy:tolerance=1234568": 1234568.0}
