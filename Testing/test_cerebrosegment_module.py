"""The CerebroSegment module file outside Slicer: its self-test, and the shared panel helpers it uses.

The module file is imported with Slicer 5.6.2's own ``parameterNodeWrapper`` (vendored) and Qt widget doubles
(``slicer_stubs``, ``qt_doubles``), since the slicer-core wheel has no Qt; everything the
self-test touches beyond that is real (MRML scene, CerebroLib, the background ``cerebro segment`` process).
"""

from __future__ import annotations

import contextlib
import sys
import types
from pathlib import Path

import pytest
from slicer_stubs import import_module_file

from CerebroLib import dependencies, slicer_ui
from CerebroLib.jobs import CliJob

MODULE_FILE = Path(__file__).resolve().parents[1] / "CerebroSegment" / "CerebroSegment.py"


@pytest.fixture
def module(monkeypatch):
    """CerebroSegment.py imported with Slicer's parameter-node wrapper and the Qt doubles (slicer_stubs)."""
    return import_module_file(monkeypatch, MODULE_FILE)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # Testing/conftest.py


def test_self_test_passes(module, scene):
    """The module's self-test: segment a 64^3 phantom with cerebro-default (Dice > 0.8), then cancel a run."""
    case = module.CerebroSegmentTest("runTest")
    case.runTest()


def test_preferred_model_is_the_shipped_default_when_the_catalog_has_it(monkeypatch):
    from cerebro.segment.catalog import DEFAULT_MODEL_ID, load_catalog
    from CerebroLib import segment_logic

    expected = DEFAULT_MODEL_ID if DEFAULT_MODEL_ID in load_catalog() else segment_logic.FALLBACK_MODEL_ID
    assert segment_logic.preferred_model() == expected
    monkeypatch.setattr(segment_logic, "load_catalog", lambda: {})
    assert segment_logic.preferred_model() == "vesselness"


def test_panel_jobs_tick_on_a_timer_until_the_job_ends_and_cancel_resets(module):
    shown, errors = [], []
    jobs = slicer_ui.PanelJobs(shown.append, errors.append, intervalMs=10)
    code = "import json\nprint(json.dumps({'result': {'ok': True}}))"
    jobs.start("Segmentation", lambda: CliJob([sys.executable, "-c", code]), lambda job: "finished")
    assert jobs.busy and jobs._timer.isActive() and shown[-1].busy
    while jobs.busy:
        jobs._timer.timeout.emit()
    assert not jobs._timer.isActive() and shown[-1].text == "finished" and not shown[-1].busy and not errors
    jobs.start("Segmentation", lambda: CliJob([sys.executable, "-c", "import time; time.sleep(60)"]), str)
    jobs.cancel()
    assert not jobs.busy and not jobs._timer.isActive() and shown[-1].text == "Segmentation cancelled."
    ui = types.SimpleNamespace(progressBar=types.SimpleNamespace(), statusLabel=types.SimpleNamespace(),
                               cancelButton=types.SimpleNamespace())
    slicer_ui.showPanelStatus(ui, shown[-1])
    assert not ui.progressBar.visible and not ui.cancelButton.enabled and ui.statusLabel.text == shown[-1].text


def test_self_test_skips_with_its_reason_when_a_package_is_missing(module, scene, monkeypatch):
    monkeypatch.setattr(slicer_ui, "missingForSelfTest", lambda requirements: "skipped: torch is not installed")
    shown = []
    case = module.CerebroSegmentTest()
    monkeypatch.setattr(case, "delayDisplay", shown.append)
    case.runTest()  # returns at once: nothing segmented, nothing installed
    assert shown == ["skipped: torch is not installed"]
    assert scene.GetNodesByClass("vtkMRMLSegmentationNode").GetNumberOfItems() == 0


def test_self_tests_never_install_and_say_why_they_skip(module):
    assert slicer_ui.missingForSelfTest({"numpy": "numpy>=1.24"}) is None
    reason = slicer_ui.missingForSelfTest({"no_such_module_xyz": "no-such-module-xyz>=1"})
    assert reason.startswith("skipped:") and "no-such-module-xyz>=1" in reason
    for path in (MODULE_FILE, MODULE_FILE.parents[1] / "CerebroCompress" / "CerebroCompress.py"):
        assert "pip_install" not in path.read_text() and "Unattended" not in path.read_text()


def test_torch_goes_through_slicer_pytorch_when_it_is_installed():
    missing = [dependencies.TORCH_REQUIREMENT, "monai>=1.3"]
    assert dependencies.split_torch(missing, pytorch_extension_available=True) == (True, ["monai>=1.3"])
    assert dependencies.split_torch(missing, pytorch_extension_available=False) == (False, missing)
    assert dependencies.split_torch(["monai>=1.3"], True) == (False, ["monai>=1.3"])
    assert set(dependencies.CORE_REQUIREMENTS) <= set(dependencies.SEGMENT_MODULE_REQUIREMENTS)
    assert {"torch", "monai", "safetensors", "huggingface_hub", "dynamic_network_architectures",
            "skimage"} <= set(dependencies.SEGMENT_MODULE_REQUIREMENTS)


def test_ask_install_dependencies_asks_then_installs(monkeypatch):
    calls = []
    util = types.SimpleNamespace(
        confirmOkCancelDisplay=lambda text: calls.append(("ask", text)) or answer[0],
        pip_install=lambda packages: calls.append(("pip", packages)),
        WaitCursor=contextlib.nullcontext,
    )
    monkeypatch.setattr(slicer_ui.slicer, "util", util, raising=False)
    requirements = {"numpy": "numpy>=1.24", "no_such_module_xyz": "no-such-module-xyz>=1"}
    answer = [False]
    assert not slicer_ui.askInstallDependencies(requirements)
    assert calls == [("ask", dependencies.install_prompt(["no-such-module-xyz>=1"]))]
    answer[0] = True
    assert slicer_ui.askInstallDependencies(requirements)
    assert calls[-1] == ("pip", ["--prefer-binary", "no-such-module-xyz>=1"])
    calls.clear()
    assert not slicer_ui.askInstallDependencies({"numpy": "numpy>=1.24"}) and calls == []


class _ParameterNode:
    """Stand-in for a parameterNodeWrapper node: records the GUI it is connected to, accepts VTK observers."""

    def __init__(self):
        self.inputVolume, self.model, self.gui = None, "", None

    def connectGui(self, ui):
        self.gui = ui
        return "tag"

    def disconnectGui(self, tag):
        assert tag == "tag"
        self.gui = None

    def AddObserver(self, event, method, priority):
        return 1

    def RemoveObserver(self, tag):
        pass


def test_parameter_node_widget_mixin_follows_enter_exit_and_scene_close(scene):
    from slicer.util import VTKObservationMixin

    class Widget(slicer_ui.ParameterNodeWidgetMixin, VTKObservationMixin):
        def __init__(self, node):
            VTKObservationMixin.__init__(self)
            self.logic = types.SimpleNamespace(getParameterNode=lambda: node)
            self.ui, self.parent, self.updates = object(), types.SimpleNamespace(isEntered=True), 0

        def updateGuiFromParameterNode(self, caller=None, event=None):
            self.updates += 1

        def setDefaultParameters(self):
            self._parameterNode.model = self._parameterNode.model or "default"

    volumeNode = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    node = _ParameterNode()
    widget = Widget(node)
    widget.observeSceneClose()
    widget.enter()
    assert node.gui is widget.ui and widget.updates == 1
    assert node.inputVolume is volumeNode and node.model == "default"
    widget.exit()
    assert node.gui is None and widget._parameterNode is None
    widget.enter()
    scene.Clear(0)  # StartCloseEvent drops the node, EndCloseEvent takes it again (the panel is entered)
    assert node.gui is widget.ui and widget.updates == 3 and len(widget.Observations) == 3
    widget.cleanup()
    assert widget.Observations == []


def test_show_missing_dependencies_fills_the_label_and_hides_both_when_none():
    ui = types.SimpleNamespace(dependenciesLabel=types.SimpleNamespace(),
                               installDependenciesButton=types.SimpleNamespace())
    missing = slicer_ui.showMissingDependencies(ui, {"no_such_module_xyz": "no-such-module-xyz>=1"}, "Missing: ")
    assert missing == ["no-such-module-xyz>=1"] and ui.dependenciesLabel.text == "Missing: no-such-module-xyz>=1"
    assert ui.dependenciesLabel.visible and ui.installDependenciesButton.visible
    assert slicer_ui.showMissingDependencies(ui, {"numpy": "numpy>=1.24"}, "Missing: ") == []
    assert not ui.dependenciesLabel.visible and not ui.installDependenciesButton.visible
