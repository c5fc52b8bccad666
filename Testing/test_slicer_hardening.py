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

pytest.importorskip("slicer")  # the slicer-core wheel (MRML): none for Python 3.9 here
from slicer_stubs import VENDORED_SLICER, import_module_file, install_slicer_gui, ui_widgets  # noqa: E402

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


def test_finding01_the_benchmark_panel_builds_under_slicer_5_6_2(make_panel):
    panel = make_panel("CerebroBenchmark")
    panel.ui.maxDiceLossSpinBox.value = 0.005
    assert panel._parameterNode.maxDiceLoss == pytest.approx(0.005)


@pytest.fixture
def make_panel(monkeypatch, scene):
    """Build a module's panel as Slicer does: module file, logic, .ui, parameter node, connectGui (5.6.2's);
    ``make_panel(module, testing=True)``. The panels are cleaned up (scene observers removed) afterwards."""
    made = []

    def make(module: str, testing: bool = True):
        loaded = import_module_file(monkeypatch, ROOT / module / f"{module}.py")
        _fake_application(monkeypatch, testing)
        widget = getattr(loaded, f"{module}Widget")
        shell = widget.__new__(widget)
        shell.parent = type("ModuleParent", (), {"isEntered": True})()
        shell.resourcePath = lambda relative: str(ROOT / module / "Resources" / relative)
        made.append(shell.createPanel())
        return made[-1]

    yield make
    for panel in made:
        panel.cleanup()


def _fake_application(monkeypatch, testing: bool = True) -> list[str]:
    """``slicer.app`` and ``slicer.util``'s GUI calls (dialogs, .ui loading) as doubles; returns what dialogs showed."""
    import types

    import qt_doubles
    import slicer

    shown: list[str] = []
    app = types.SimpleNamespace(testingEnabled=lambda: testing, temporaryPath="/tmp", processEvents=lambda: None,
                                applicationLogic=lambda: None, layoutManager=lambda: None)
    monkeypatch.setattr(slicer, "app", app, raising=False)
    monkeypatch.setattr(slicer.util, "loadUI", qt_doubles.load_ui)
    monkeypatch.setattr(slicer.util, "childWidgetVariables", qt_doubles.child_widget_variables)
    monkeypatch.setattr(slicer.util, "errorDisplay", lambda text, *a, **k: shown.append(text))
    monkeypatch.setattr(slicer.util, "infoDisplay", lambda text, *a, **k: shown.append(text))
    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", lambda text, *a, **k: True)
    return shown


# --- finding 2: no multiprocessing inside Slicer's process -------------------------------------------------------

SLICER_SIDE_FILES = sorted((ROOT / "CerebroLib").glob("*.py")) + [ROOT / m / f"{m}.py" for m in MODULES]


def test_finding02_nothing_slicer_side_imports_process_pools_or_the_isolated_decoder():
    """CerebroLib and the module files start no ``multiprocessing`` child, directly or through the core's helpers
    (the conftest fixture ``no_multiprocessing_in_the_slicer_process`` refuses it at run time in their tests)."""
    import ast

    forbidden = ("multiprocessing", "concurrent.futures", "cerebro.cbv.isolated", "cerebro.parallel",
                 "cerebro.benchmark.executors")
    for path in SLICER_SIDE_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n.startswith(forbidden)], f"{path.name} imports {names}"


class _IOParent:
    """The qSlicerScriptedFileReader / Writer a reader or writer reports to: loaded/written nodes, user messages."""

    def __init__(self):
        self.messages: list[tuple[int, str]] = []

    def userMessages(self):
        return self

    def AddMessage(self, event, text):
        self.messages.append((event, text))


@pytest.fixture
def compress_module(monkeypatch):
    return import_module_file(monkeypatch, ROOT / "CerebroCompress" / "CerebroCompress.py")


def _cbv(tmp_path, volume) -> Path:
    from cerebro.cbv.compress import compress_volume
    from cerebro.cbv.container import write_compressed

    path = tmp_path / "ct.cbv"
    write_compressed(compress_volume(volume, "zfp", "reversible", {}), path)
    return path


def _ran_commands(monkeypatch) -> list[list[str]]:
    from CerebroLib import jobs

    commands: list[list[str]] = []
    original = jobs.CliJob.__init__

    def record(self, command, *args, **kwargs):
        commands.append(list(command))
        original(self, command, *args, **kwargs)

    monkeypatch.setattr(jobs.CliJob, "__init__", record)
    return commands


def test_finding02_the_cbv_reader_decodes_in_the_job_runner(compress_module, scene, ct_volume, tmp_path, monkeypatch):
    import numpy as np

    from CerebroLib import mrml

    commands = _ran_commands(monkeypatch)
    parent = _IOParent()
    reader = compress_module.CerebroCompressFileReader(parent)
    assert reader.load({"fileName": str(_cbv(tmp_path, ct_volume)), "name": "loaded"}), parent.messages
    assert [c[3] for c in commands] == ["decompress"] and commands[0][1:3] == ["-m", "cerebro.cli.main"]
    loaded = scene.GetNodeByID(parent.loadedNodes[0])
    np.testing.assert_array_equal(mrml.volume_from_node(loaded).array, ct_volume.array)


def test_finding02_the_cbv_writer_compresses_in_the_job_runner(compress_module, scene, ct_volume, tmp_path,
                                                              monkeypatch):
    from cerebro.cbv.container import read_header
    from CerebroLib import mrml

    commands = _ran_commands(monkeypatch)
    node = mrml.volume_to_node(ct_volume, scene, "ct")
    parameters = compress_module.CerebroCompressLogic().getParameterNode()
    parameters.codec, parameters.mode = "zfp", "reversible"  # what the panel has chosen
    parent = _IOParent()
    path = tmp_path / "saved.cbv"
    assert compress_module.CerebroCompressFileWriter(parent).write({"nodeID": node.GetID(), "fileName": str(path)})
    assert [c[3] for c in commands] == ["compress"] and read_header(path)["codec"] == "zfp"
    assert parent.writtenNodes == [node.GetID()] and not parent.messages


# --- finding 3: the ctest runs test_* methods with setUp, never runTest ------------------------------------------

@pytest.mark.parametrize("module", MODULES)
def test_finding03_self_tests_skip_in_setup_under_slicer_testing_run_unit_test(module, monkeypatch, scene):
    """``slicer.testing.runUnitTest`` loads the test case's ``test_*`` methods (unittest): with a package missing each
    is skipped with the reason, and nothing runs."""
    import unittest

    from CerebroLib import slicer_ui

    loaded = import_module_file(monkeypatch, ROOT / module / f"{module}.py")
    monkeypatch.setattr(slicer_ui, "missingForSelfTest", lambda requirements: "skipped: torch is not installed")
    ran: list[str] = []
    case_class = getattr(loaded, f"{module}Test")
    for name in unittest.TestLoader().getTestCaseNames(case_class):
        monkeypatch.setattr(case_class, name, lambda self, name=name: ran.append(name))
    result = unittest.TestResult()
    unittest.TestLoader().loadTestsFromTestCase(case_class).run(result)
    assert result.testsRun >= 2 and not ran and not result.errors and not result.failures
    assert {reason for _, reason in result.skipped} == {"skipped: torch is not installed"}


# --- finding 7: reader and writer report through the IO manager's user messages ----------------------------------

def test_finding07_reader_reports_a_corrupt_file_in_the_user_messages(compress_module, scene, tmp_path):
    import vtk

    bad = tmp_path / "bad.cbv"
    bad.write_bytes(b"PK\x03\x04 broken")
    parent = _IOParent()
    assert not compress_module.CerebroCompressFileReader(parent).load({"fileName": str(bad)})
    assert len(parent.messages) == 1 and parent.messages[0][0] == vtk.vtkCommand.ErrorEvent
    assert parent.messages[0][1].startswith(f"Failed to load {bad}: ")


def test_finding07_reader_and_writer_catch_every_exception(compress_module, scene, ct_volume, tmp_path, monkeypatch):
    from CerebroLib import compress_logic, mrml

    def broken(*args, **kwargs):
        raise RuntimeError("something unexpected")

    monkeypatch.setattr(compress_logic.CerebroCompressLogic, "load_compressed", broken)
    monkeypatch.setattr(compress_logic.CerebroCompressLogic, "save_compressed", broken)
    parent = _IOParent()
    assert not compress_module.CerebroCompressFileReader(parent).load({"fileName": str(tmp_path / "a.cbv")})
    parameters = compress_module.CerebroCompressLogic().getParameterNode()
    parameters.codec, parameters.mode = "zfp", "reversible"
    node = mrml.volume_to_node(ct_volume, scene, "ct")
    assert not compress_module.CerebroCompressFileWriter(parent).write({"nodeID": node.GetID(),
                                                                        "fileName": str(tmp_path / "b.cbv")})
    assert [text.split(":")[-1].strip() for _, text in parent.messages] == ["something unexpected"] * 2


# --- finding 4: the headless script always quits Slicer --------------------------------------------------------

def _fake_slicer_application(folder: Path) -> Path:
    """A ``slicer`` package that looks like Slicer's (``slicer.app``, ``slicer.util.exit``) and records the exit."""
    package = folder / "slicer"
    package.mkdir()
    (package / "__init__.py").write_text("app = object()\n", encoding="utf-8")
    (package / "util.py").write_text(
        "import os, sys\n"
        "def exit(status=0):\n"
        "    open(os.environ['EXIT_RECORD'], 'w').write(str(status))\n"
        "    sys.exit(status)\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("arguments, status", [(["--", "--volume", "x.nii", "--store", "s"], 1),
                                               (["--", "--store", "s"], 2), (["--", "--help"], 0)])
def test_finding04_slicer_benchmark_script_quits_slicer_whatever_main_does(tmp_path, arguments, status):
    """Inside Slicer (``slicer.app`` exists) the script reaches ``slicer.util.exit`` on every path: here main fails
    with an unexpected exception (this ``slicer`` has no MRML), with a usage error, and prints its help."""
    import os
    import subprocess
    import sys

    record = tmp_path / "exit.txt"
    env = dict(os.environ, PYTHONPATH=f"{_fake_slicer_application(tmp_path)}{os.pathsep}{ROOT}",
               EXIT_RECORD=str(record))
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "slicer_benchmark.py"), *arguments],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert record.is_file(), done.stderr[-2000:]  # slicer.util.exit was called: Slicer quits
    assert int(record.read_text()) == status == done.returncode
    if status == 1:
        assert "Traceback" in done.stderr


def test_finding04_run_script_leaves_with_1_when_main_raises(monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("slicer_benchmark", ROOT / "scripts" / "slicer_benchmark.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    def failing(argv):
        raise KeyError("unexpected")

    monkeypatch.setattr(script, "main", failing)
    left: list[int] = []
    script.run_script([], left.append)
    assert left == [1]


# --- findings 5 and 8: installing packages from a panel --------------------------------------------------------

def _pip_fails(monkeypatch, missing=("no-such-package>=1",)) -> list[dict]:
    """pip fails (as offline); the packages stay missing. Returns the keyword arguments pip_install got."""
    import subprocess

    import slicer

    from CerebroLib import dependencies

    calls: list[dict] = []

    def pip_install(requirements, **kwargs):
        calls.append(kwargs)
        raise subprocess.CalledProcessError(1, ["pip", "install", *requirements])

    monkeypatch.setattr(slicer.util, "pip_install", pip_install)
    monkeypatch.setattr(dependencies, "missing_requirements", lambda requirements, *a: list(missing))
    return calls


def test_finding05_the_compress_panel_is_built_when_pip_fails_offline(make_panel, monkeypatch):
    """The panel asks to install missing packages when it is built (not in testing mode); pip raising there left
    Slicer without a CerebroCompress panel. Now the failure is one dialog and the panel is there."""
    _pip_fails(monkeypatch)
    panel = make_panel("CerebroCompress", testing=False)
    import slicer

    assert panel.ui.dependenciesLabel.visible and panel.ui.installDependenciesButton.visible
    assert slicer.util.errorDisplay is not None
    assert panel.ui.codecComboBox.count > 0  # the rest of the panel was set up


def test_finding05_a_failed_install_is_shown_once_before_slicer_5_12(make_panel, monkeypatch):
    import slicer

    shown: list[str] = []
    _pip_fails(monkeypatch)
    make_panel("CerebroCompress", testing=False)
    monkeypatch.setattr(slicer.util, "errorDisplay", lambda text, *a, **k: shown.append(text))
    from CerebroLib import dependencies, slicer_ui

    assert slicer_ui.ensureDependencies(_labels(), dependencies.SEGMENT_MODULE_REQUIREMENTS, "Segmentation") is False
    assert len(shown) == 1 and shown[0].startswith("installing no-such-package>=1 failed: Command '['pip', 'install'")


def _labels():
    import qt_doubles

    return type("Ui", (), {"dependenciesLabel": qt_doubles.QLabel(), "installDependenciesButton":
                           qt_doubles.QPushButton()})()


def test_finding08_slicer_5_12_shows_pip_errors_itself_so_no_second_dialog(make_panel, monkeypatch):
    """Slicer >= 5.12 (it has ``slicer.packaging``) shows pip's progress and error dialogs itself, naming the
    requester: the panel shows none of its own for that failure."""
    import sys
    import types
    from importlib.machinery import ModuleSpec

    import slicer

    from CerebroLib import dependencies, slicer_ui

    calls = _pip_fails(monkeypatch)
    packaging = types.ModuleType("slicer.packaging")
    packaging.__spec__ = ModuleSpec("slicer.packaging", None)
    monkeypatch.setitem(sys.modules, "slicer.packaging", packaging)
    make_panel("CerebroSegment", testing=False)
    shown: list[str] = []
    monkeypatch.setattr(slicer.util, "errorDisplay", lambda text, *a, **k: shown.append(text))
    assert slicer_ui.ensureDependencies(_labels(), dependencies.SEGMENT_MODULE_REQUIREMENTS, "Segmentation") is False
    assert shown == [] and calls[-1] == {"requester": "CerebroBench"}
    assert slicer_ui.offerDependencies(dependencies.COMPRESS_PANEL_REQUIREMENTS) is None and shown == []


# --- finding 6: a dataset folder or a manifest file, each with its own dialog ------------------------------------

def test_finding06_dataset_folder_and_manifest_are_separate_choices(make_panel):
    import qt_doubles

    Path_ = qt_doubles.ctkPathLineEdit
    panel = make_panel("CerebroBenchmark")
    ui = panel.ui
    titles = [ui.sourceComboBox.itemText(i) for i in range(ui.sourceComboBox.count)]
    assert titles == ["Scene volume", "Dataset folder", "Dataset manifest file"]
    ui.sourceComboBox.setCurrentIndex(titles.index("Dataset folder"))
    assert panel._parameterNode.source == "dataset"
    assert ui.datasetPathLineEdit.filters == Path_.Dirs  # a folder dialog: no Files
    assert ui.layoutComboBox.visible
    ui.sourceComboBox.setCurrentIndex(titles.index("Dataset manifest file"))
    assert panel._parameterNode.source == "manifest"
    assert ui.datasetPathLineEdit.filters & Path_.Files and not ui.datasetPathLineEdit.filters & Path_.Dirs
    assert ui.datasetPathLineEdit.nameFilters == ["Dataset manifest (*.csv *.json)"]
    assert not ui.layoutComboBox.visible  # a manifest lists its files
    ui.datasetPathLineEdit.currentPath = "/data/cases.csv"
    assert panel._sourcePath() == "/data/cases.csv"
    ui.sourceComboBox.setCurrentIndex(0)
    assert not ui.datasetPathLineEdit.visible


def test_finding06_no_path_field_is_given_files_and_folders_at_once():
    import ast

    source = (ROOT / "CerebroLib" / "benchmark_widget.py").read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            names = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            assert not {"Dirs", "Files"} <= names, ast.unparse(node)


# --- finding 9: translations are looked up once, not on every refresh ----------------------------------------

@pytest.fixture
def slicer_5_6_i18n(monkeypatch):
    """``slicer.i18n`` as in Slicer 5.6: ``tr`` inspects the stack on each call (counted); CerebroLib.i18n and the
    job runner reloaded on it, and reloaded back afterwards."""
    import importlib
    import sys
    import types

    from CerebroLib import i18n, jobs

    calls = {"tr": 0, "translate": 0}
    fake = types.ModuleType("slicer.i18n")

    def translate(context, text):
        calls["translate"] += 1
        return text

    def tr(text):
        import inspect

        calls["tr"] += 1
        inspect.stack()
        return translate(fake.getContext(inspect.stack()[1][1]), text)

    fake.translate, fake.tr, fake.getContext = translate, tr, lambda path: Path(path).stem
    monkeypatch.setitem(sys.modules, "slicer.i18n", fake)
    importlib.reload(i18n)
    monkeypatch.setattr(jobs, "tr", i18n.tr)
    yield calls
    monkeypatch.undo()
    importlib.reload(i18n)


def test_finding09_a_running_job_is_not_translated_on_every_tick(slicer_5_6_i18n):
    import sys

    from CerebroLib.jobs import CliJob, JobController

    shown: list = []
    controller = JobController(shown.append, shown.append)
    controller.start("Segmentation", lambda: CliJob([sys.executable, "-c", "import time; time.sleep(30)"]), str)
    try:
        for _ in range(50):
            controller.tick()
    finally:
        controller.cancel()
    assert slicer_5_6_i18n["tr"] == 0  # no stack inspection per call
    assert slicer_5_6_i18n["translate"] <= 3  # "{title}..." and "{title} cancelled.", each once


def test_finding09_translation_keeps_slicers_context_and_refuses_broken_placeholders(slicer_5_6_i18n, monkeypatch):
    import sys

    from CerebroLib import i18n

    seen: list[tuple[str, str]] = []
    fake = sys.modules["slicer.i18n"]
    monkeypatch.setattr(fake, "translate", lambda context, text: seen.append((context, text)) or
                        text.replace("{count}", "{compter}"))
    import importlib

    importlib.reload(i18n)
    assert i18n.tr("delete {count} files") == "delete {count} files"  # a broken translation is not used
    assert i18n.tr("Idle") == "Idle" and seen[-1] == ("test_slicer_hardening", "Idle")
    i18n.tr("Idle")
    assert len(seen) == 2


# --- finding 10: what sys.executable is inside Slicer ---------------------------------------------------------

def test_finding10_sys_executable_inside_slicer_is_python_slicer_or_empty():
    from cerebro.errors import CerebroError
    from CerebroLib import jobs

    doc = jobs.python_executable.__doc__
    assert "PythonSlicer" in doc and "is the Slicer application" not in doc
    assert jobs.python_executable("/opt/Slicer/bin/PythonSlicer", lambda name: None) == "/opt/Slicer/bin/PythonSlicer"
    with pytest.raises(CerebroError, match="PythonSlicer was not found on the PATH"):
        jobs.python_executable("", lambda name: None)  # Slicer sets "" when PythonSlicer is not on the PATH
