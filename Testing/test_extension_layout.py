"""The Slicer extension's CMake files install everything the modules import (checked without building)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("CerebroCompress", "CerebroSegment", "CerebroBenchmark")


def test_every_cerebrolib_file_is_installed():
    cmake = (ROOT / "CerebroLib" / "CMakeLists.txt").read_text(encoding="utf-8")
    listed = set(re.findall(r"CerebroLib/\w+\.py", cmake))
    present = {f"CerebroLib/{p.name}" for p in (ROOT / "CerebroLib").glob("*.py")}
    assert present == listed, f"add to / remove from CerebroLib/CMakeLists.txt: {present ^ listed}"
    assert "add_subdirectory(CerebroLib)" in (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("module", MODULES)
def test_module_layout_and_self_test_registration(module):
    folder = ROOT / module
    cmake = (folder / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "WITH_GENERIC_TESTS" in cmake and "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in cmake
    for resource in (f"{module}.py", f"Resources/Icons/{module}.png", f"Resources/UI/{module}.ui"):
        assert (folder / resource).is_file(), resource
    source = (folder / f"{module}.py").read_text(encoding="utf-8")
    assert re.search(rf"class {module}Test\((\w+, )*ScriptedLoadableModuleTest\)", source)
    assert f"add_subdirectory({module})" in (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")


# The widget class a name's suffix promises (the module code calls that class's API on it).
UI_CLASS_BY_SUFFIX = {
    "ComboBox": {"QComboBox"}, "Selector": {"qMRMLNodeComboBox"}, "CheckBox": {"QCheckBox"},
    "Button": {"QPushButton", "ctkCollapsibleButton"}, "Label": {"QLabel"}, "ProgressBar": {"QProgressBar"},
    "TextEdit": {"QPlainTextEdit"}, "ListWidget": {"QListWidget"}, "Widget": {"QWidget"},
    "LineEdit": {"ctkPathLineEdit"}, "SpinBox": {"QSpinBox", "QDoubleSpinBox"}, "TableView": {"qMRMLTableView"},
}
# Names that the shared panel helpers (CerebroLib/slicer_ui.py) use on a module's ``ui``: a panel class built on
# ``Panel`` (the job runner's progress bar, status line and Cancel), and the missing-packages label.
HELPER_UI_NAMES = {
    "(Panel):": {"progressBar", "statusLabel", "cancelButton"},
    "showPanelStatus(": {"progressBar", "statusLabel", "cancelButton"},
    "showMissingDependencies(": {"dependenciesLabel", "installDependenciesButton"},
}


def _ui_widgets(module: str) -> dict[str, str]:
    import xml.etree.ElementTree as ElementTree

    tree = ElementTree.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    return {w.get("name"): w.get("class") for w in tree.iter("widget")}


# The files that drive each module's .ui: the module file and its panel in CerebroLib.
PANEL_FILES = {"CerebroCompress": ["CerebroLib/compress_widget.py"], "CerebroSegment": ["CerebroLib/segment_widget.py"],
               "CerebroBenchmark": ["CerebroLib/benchmark_widget.py"]}


@pytest.mark.parametrize("module", MODULES)
def test_every_ui_name_a_module_uses_exists_with_the_expected_widget_class(module):
    paths = [f"{module}/{module}.py", *PANEL_FILES[module]]
    source = "\n".join((ROOT / path).read_text(encoding="utf-8") for path in paths)
    used = set(re.findall(r"\bui\.(\w+)", source))  # self.ui.name and ui.name (ui = self.ui)
    used |= set().union(*(names for helper, names in HELPER_UI_NAMES.items() if helper in source))
    widgets = _ui_widgets(module)
    missing = sorted(used - set(widgets))
    assert not missing, f"{module}.ui lacks {missing}"
    for name in used:
        suffix = next((s for s in UI_CLASS_BY_SUFFIX if name.lower().endswith(s.lower())), None)
        assert suffix is not None, f"{name}: add its suffix to UI_CLASS_BY_SUFFIX"
        assert widgets[name] in UI_CLASS_BY_SUFFIX[suffix], f"{module}.ui: {name} is a {widgets[name]}"


def test_modules_share_one_library_and_import_no_other_module():
    for module in MODULES:
        source = (ROOT / module / f"{module}.py").read_text(encoding="utf-8")
        imported = set(re.findall(r"^\s*(?:from|import)\s+(\w+)", source, re.M))
        assert not imported & (set(MODULES) - {module}), f"{module} imports another module's folder"
        assert "CerebroLib" in imported, f"{module} does not use the shared library"
        assert not list((ROOT / module).glob("*/__init__.py")), f"{module} holds a library of its own"
    assert (ROOT / "CerebroLib" / "__init__.py").is_file()


def test_cerebrolib_reload_order_is_its_import_order():
    pytest.importorskip("slicer")  # slicer_ui imports MRML
    from CerebroLib.slicer_ui import CEREBROLIB_IMPORT_ORDER

    files = {p.stem for p in (ROOT / "CerebroLib").glob("*.py")} - {"__init__"}
    assert set(CEREBROLIB_IMPORT_ORDER) == files
    for position, name in enumerate(CEREBROLIB_IMPORT_ORDER):
        source = (ROOT / "CerebroLib" / f"{name}.py").read_text(encoding="utf-8")
        imported = set(re.findall(r"^from CerebroLib(?:\.(\w+))? import (\w+)", source, re.M))
        names = {sub or what for sub, what in imported}
        assert names <= set(CEREBROLIB_IMPORT_ORDER[:position]), f"{name} imports {names}"


def test_extensions_index_entry_matches_the_cmake_metadata():
    import json

    cmake = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")

    def setting(name):
        return re.search(rf'set\({name} "([^"]*)"\)', cmake).group(1)

    entry = json.loads((ROOT / "CerebroBench.json").read_text(encoding="utf-8"))
    allowed = {"$schema", "build_dependencies", "build_subdirectory", "category", "scm_revision", "scm_type",
               "scm_url", "tier"}  # the catalog entry schema v1.0.1 admits no other property
    assert {"$schema", "category", "scm_url"} <= set(entry) <= allowed
    assert "slicer-extension-catalog-entry-schema-v1.0.1.json" in entry["$schema"]
    assert entry["category"] == setting("EXTENSION_CATEGORY")
    assert entry["build_dependencies"] == setting("EXTENSION_DEPENDS").split()
    assert entry["scm_url"] == setting("EXTENSION_HOMEPAGE")
    assert "BSD 3-Clause" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    icon = setting("EXTENSION_ICONURL").split("/main/", 1)[1]
    assert (ROOT / icon).is_file()


def test_training_code_is_left_out_of_the_slicer_install_and_nothing_installed_needs_it():
    cmake = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    match = re.search(r'list\(FILTER CEREBRO_CORE_PYTHON_SCRIPTS EXCLUDE REGEX "([^"]+)"\)', cmake)
    left_out = re.compile(match.group(1).replace("\\\\", "\\"))
    files = [p.relative_to(ROOT).as_posix() for p in (ROOT / "cerebro").rglob("*.py")]
    assert left_out.search("cerebro/train/trainer.py") and left_out.search("cerebro/cli/train.py")
    installed = [ROOT / f for f in files if not left_out.search(f)]
    assert ROOT / "cerebro/cli/segment.py" in installed
    for path in [*installed, *(ROOT / "CerebroLib").glob("*.py"), *(ROOT / m / f"{m}.py" for m in MODULES)]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bcerebro\.train\b|from cerebro import train\b", text), path
