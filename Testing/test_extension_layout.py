"""The Slicer extension's CMake files install everything the modules import (checked without building)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("CerebroCompress", "CerebroSegment", "CerebroBenchmark")


def test_every_cerebrolib_file_is_installed():
    listed = set(re.findall(r"CerebroLib/\w+\.py", (ROOT / "CerebroLib" / "CMakeLists.txt").read_text()))
    present = {f"CerebroLib/{p.name}" for p in (ROOT / "CerebroLib").glob("*.py")}
    assert present == listed, f"add to / remove from CerebroLib/CMakeLists.txt: {present ^ listed}"
    assert "add_subdirectory(CerebroLib)" in (ROOT / "CMakeLists.txt").read_text()


@pytest.mark.parametrize("module", MODULES)
def test_module_layout_and_self_test_registration(module):
    folder = ROOT / module
    cmake = (folder / "CMakeLists.txt").read_text()
    assert "WITH_GENERIC_TESTS" in cmake and "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in cmake
    for resource in (f"{module}.py", f"Resources/Icons/{module}.png", f"Resources/UI/{module}.ui"):
        assert (folder / resource).is_file(), resource
    assert f"class {module}Test(ScriptedLoadableModuleTest)" in (folder / f"{module}.py").read_text()
    assert f"add_subdirectory({module})" in (ROOT / "CMakeLists.txt").read_text()
