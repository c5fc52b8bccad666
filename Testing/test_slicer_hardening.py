"""Slicer hardening (issue 22): what Slicer's own sources (v5.6.2, v5.8.1, v5.12.3) say would break or misbehave.

One test (or more) per finding, named after it; each failed on 84485c9. The parameter-node code is Slicer's own
(v5.6.2, vendored in Testing/vendor with its licence) and runs for real on MRML nodes of the slicer-core wheel; Qt
widgets are the doubles of ``qt_doubles`` (see ``slicer_stubs``).
"""

from __future__ import annotations

import pathlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from slicer_stubs import VENDORED_SLICER, import_module_file, install_slicer_gui, ui_widgets

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("CerebroCompress", "CerebroSegment", "CerebroBenchmark")
PARAMETER_CLASSES = {"CerebroCompress": "CompressParameters", "CerebroSegment": "SegmentParameters",
                     "CerebroBenchmark": "BenchmarkParameters"}

# Widget classes that the GUI connectors of Slicer 5.6.2 -- the oldest supported release -- accept for each
# parameter type: the ``canRepresent`` tuples of Base/Python/slicer/parameterNodeWrapper/guiConnectors.py at v5.6.2
# (type(widget) is compared, so a subclass such as ctkDoubleSpinBox or ctkCheckBox is not accepted). 5.8 added
# ctkCheckBox, ctkComboBox, ctkDoubleSpinBox, ctkDoubleSlider, qMRMLSpinBox, QLabel and range widgets.
CONNECTORS_5_6_2: dict[object, set[str]] = {
    bool: {"QCheckBox", "QPushButton", "QComboBox"},
    int: {"QSlider", "QSpinBox", "QComboBox"},
    float: {"QDoubleSpinBox", "ctkSliderWidget", "qMRMLSliderWidget", "QComboBox"},
    str: {"QComboBox", "QLineEdit", "QTextEdit"},
    pathlib.Path: {"ctkPathLineEdit", "ctkDirectoryButton"},
    "node": {"qMRMLNodeComboBox"},
}


def _bound_widgets(module: str) -> list[tuple[str, str, str]]:
    """(widget class, widget name, parameter name) of every widget bound with SlicerParameterName in the .ui."""
    root = ET.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui").getroot()
    return [(w.get("class"), w.get("name"), p.find("string").text) for w in root.iter("widget")
            for p in w.findall("property") if p.get("name") == "SlicerParameterName"]


@pytest.fixture
def parameters(monkeypatch):
    """CerebroLib.parameters built by Slicer 5.6.2's parameterNodeWrapper."""
    install_slicer_gui(monkeypatch)
    from CerebroLib import parameters

    return parameters


def test_finding01_the_5_6_2_connector_table_is_the_vendored_source():
    """The table above is what the vendored 5.6.2 guiConnectors.py says (so the table cannot drift from it)."""
    source = (VENDORED_SLICER / "parameterNodeWrapper" / "guiConnectors.py").read_text(encoding="utf-8")
    accepted = set(re.findall(r"type\(widget\) (?:==|in \() ?\(?\s*((?:(?:qt|ctk|slicer)\.\w+,?\s*)+)", source))
    named = {name.split(".")[-1] for group in accepted for name in re.findall(r"(?:qt|ctk|slicer)\.\w+", group)}
    assert named - {"ctkRangeWidget"} == set().union(*CONNECTORS_5_6_2.values())
    assert "ctkDoubleSpinBox" not in named and "ctkCheckBox" not in named


@pytest.mark.parametrize("module", MODULES)
def test_finding01_every_bound_widget_class_is_one_slicer_5_6_connects(module, parameters):
    import typing

    from slicer_stubs import ScriptedLoadableModuleLogic  # noqa: F401  (parameters are made on MRML nodes)

    node_class = getattr(parameters, PARAMETER_CLASSES[module])
    hints = typing.get_type_hints(node_class)
    bound = _bound_widgets(module)
    assert bound
    for widget_class, widget_name, parameter in bound:
        kind = typing.get_origin(hints[parameter]) and typing.get_args(hints[parameter])[0] or hints[parameter]
        key = "node" if isinstance(kind, type) and kind.__name__.startswith("vtkMRML") else kind
        assert widget_class in CONNECTORS_5_6_2[key], (
            f"{module}.ui binds {widget_name} ({widget_class}) to {parameter} ({kind}); Slicer 5.6 connects only "
            f"{sorted(CONNECTORS_5_6_2[key])}")


@pytest.mark.parametrize("module", MODULES)
def test_finding01_connect_gui_of_slicer_5_6_2_binds_every_panel(module, parameters, scene):
    """Slicer 5.6.2's own connectGui on the module's .ui (widget doubles of the .ui's classes): no RuntimeError,
    and a value set on the parameter node reaches the widget and back."""
    from slicer_stubs import ScriptedLoadableModuleLogic

    node_class = getattr(parameters, PARAMETER_CLASSES[module])
    logic = type(f"{module}Logic", (ScriptedLoadableModuleLogic,), {})()
    wrapped = node_class(logic.getParameterNode())
    ui = ui_widgets(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    tag = wrapped.connectGui(ui)
    for widget_class, widget_name, parameter in _bound_widgets(module):
        widget = getattr(ui, widget_name)
        if widget_class == "QDoubleSpinBox":
            wrapped.setValue(parameter, 0.01)
            assert widget.value == pytest.approx(0.01)
            widget.value = 0.02
            assert wrapped.getValue(parameter) == pytest.approx(0.02)
        elif widget_class == "QCheckBox":
            wrapped.setValue(parameter, True)
            assert widget.checked
            widget.checked = False
            assert wrapped.getValue(parameter) is False
    wrapped.disconnectGui(tag)


def test_finding01_the_benchmark_panel_builds_under_slicer_5_6_2(monkeypatch, scene):
    panel = _panel(monkeypatch, "CerebroBenchmark")
    panel.ui.maxDiceLossSpinBox.value = 0.005
    assert panel._parameterNode.maxDiceLoss == pytest.approx(0.005)


def _panel(monkeypatch, module: str, testing: bool = True):
    """The module's panel built as Slicer builds it: module file, logic, .ui, parameter node, connectGui (5.6.2)."""
    import slicer

    loaded = import_module_file(monkeypatch, ROOT / module / f"{module}.py")
    _fake_application(monkeypatch, testing)
    widget = getattr(loaded, f"{module}Widget")
    shell = widget.__new__(widget)
    shell.parent = type("ModuleParent", (), {"isEntered": True})()
    shell.resourcePath = lambda relative: str(ROOT / module / "Resources" / relative)
    panel = shell.createPanel()
    assert slicer.mrmlScene is not None
    return panel


def _fake_application(monkeypatch, testing: bool = True) -> list[str]:
    """``slicer.app`` and ``slicer.util``'s GUI calls (dialogs, .ui loading) as doubles; returns what dialogs showed."""
    import types

    import qt_doubles
    import slicer

    shown: list[str] = []
    app = types.SimpleNamespace(testingEnabled=lambda: testing, temporaryPath="/tmp",
                                applicationLogic=lambda: None, layoutManager=lambda: None)
    monkeypatch.setattr(slicer, "app", app, raising=False)
    monkeypatch.setattr(slicer.util, "loadUI", qt_doubles.load_ui)
    monkeypatch.setattr(slicer.util, "childWidgetVariables", qt_doubles.child_widget_variables)
    monkeypatch.setattr(slicer.util, "errorDisplay", lambda text, *a, **k: shown.append(text))
    monkeypatch.setattr(slicer.util, "infoDisplay", lambda text, *a, **k: shown.append(text))
    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", lambda text, *a, **k: True)
    return shown
