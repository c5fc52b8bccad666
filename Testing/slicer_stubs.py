"""Import a Slicer module file outside Slicer: minimal stand-ins for the Qt-based parts of Slicer's Python.

The slicer-core wheel has MRML but not ``qt``, ``slicer.ScriptedLoadableModule`` or ``slicer.parameterNodeWrapper``;
these stand-ins exist only so the module file imports. Everything else the tests touch is real.
"""

from __future__ import annotations

import importlib.util
import sys
import types
import unittest
from pathlib import Path
from typing import Any

import pytest


class ScriptedLoadableModuleLogic:
    def __init__(self, parent=None):
        self.parent = parent


class ScriptedLoadableModuleTest(unittest.TestCase):
    def delayDisplay(self, message, msec=None):
        pass


def import_module_file(monkeypatch: pytest.MonkeyPatch, path: Path, qt_names: dict[str, Any] | None = None):
    """Import the scripted module file at ``path`` with stand-ins (``qt_names`` are added to the fake ``qt``)."""
    scripted = types.ModuleType("slicer.ScriptedLoadableModule")
    scripted.ScriptedLoadableModule = type("ScriptedLoadableModule", (), {})
    scripted.ScriptedLoadableModuleWidget = type("ScriptedLoadableModuleWidget", (), {})
    scripted.ScriptedLoadableModuleLogic = ScriptedLoadableModuleLogic
    scripted.ScriptedLoadableModuleTest = ScriptedLoadableModuleTest
    wrapper = types.ModuleType("slicer.parameterNodeWrapper")
    wrapper.parameterNodeWrapper = wrapper.parameterPack = lambda cls: cls
    wrapper.Choice = wrapper.WithinRange = lambda *args: args
    qt = types.ModuleType("qt")
    for name, value in (qt_names or {}).items():
        setattr(qt, name, value)
    monkeypatch.setitem(sys.modules, "qt", qt)
    monkeypatch.setitem(sys.modules, "slicer.ScriptedLoadableModule", scripted)
    monkeypatch.setitem(sys.modules, "slicer.parameterNodeWrapper", wrapper)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded
