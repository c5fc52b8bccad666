"""Import a Slicer module file outside Slicer, with Slicer's own parameter-node wrapper.

The slicer-core wheel has MRML but not ``qt``, ``ctk``, ``slicer.ScriptedLoadableModule`` or
``slicer.parameterNodeWrapper``. Here:

- ``slicer.parameterNodeWrapper`` is **Slicer's own source** at the oldest supported release, v5.6.2, vendored in
  ``Testing/vendor/slicer-5.6.2`` with its licence: parameter nodes, parameter packs, serializers, validators and
  ``connectGui`` with the GUI connectors of 5.6.2 run for real on real MRML nodes;
- ``qt`` / ``ctk`` and the ``qMRML`` widget classes are the doubles of :mod:`qt_doubles` (Qt exists only inside the
  Slicer application);
- ``slicer.ScriptedLoadableModule`` is a few lines: the module, widget and test base classes as plain classes,
  and the logic's ``getParameterNode`` as Slicer's (the module's singleton ``vtkMRMLScriptedModuleNode``).
"""

from __future__ import annotations

import importlib.util
import sys
import types
import unittest
from pathlib import Path
from typing import Any

import pytest
import qt_doubles

VENDORED_SLICER = Path(__file__).resolve().parent / "vendor" / "slicer-5.6.2" / "slicer"
_wrapper: types.ModuleType | None = None


class ScriptedLoadableModuleLogic:
    """Slicer's logic base class: the module name from the class name, one parameter node per module in the scene."""

    def __init__(self, parent=None):
        self.parent = parent
        self.moduleName = type(self).__name__[:-len("Logic")] if type(self).__name__.endswith("Logic") \
            else type(self).__name__
        self.isSingletonParameterNode = True

    def getParameterNode(self):
        import slicer

        node = slicer.mrmlScene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
        if node:
            return node
        node = slicer.mrmlScene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
        node.UnRegister(None)
        node.SetSingletonTag(self.moduleName)
        node.SetAttribute("ModuleName", self.moduleName)
        node.SetName(slicer.mrmlScene.GenerateUniqueName(self.moduleName))
        return slicer.mrmlScene.AddNode(node)


class ScriptedLoadableModuleTest(unittest.TestCase):
    def delayDisplay(self, message, msec=None):
        pass


def install_slicer_gui(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Put the Qt doubles and Slicer's (vendored v5.6.2) ``slicer.parameterNodeWrapper`` in place; returns the
    wrapper package. The wrapper is loaded once per test session (it keeps the ``qt`` it imported)."""
    global _wrapper
    import slicer

    monkeypatch.setitem(sys.modules, "qt", qt_doubles.qt)
    monkeypatch.setitem(sys.modules, "ctk", qt_doubles.ctk)
    for klass in qt_doubles.SLICER_WIDGET_CLASSES:
        monkeypatch.setattr(slicer, klass.__name__, klass, raising=False)
    if _wrapper is None:
        name, folder = "slicer.parameterNodeWrapper", VENDORED_SLICER / "parameterNodeWrapper"
        spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _wrapper = module
    monkeypatch.setitem(sys.modules, "slicer.parameterNodeWrapper", _wrapper)
    monkeypatch.setattr(slicer, "parameterNodeWrapper", _wrapper, raising=False)
    return _wrapper


def import_module_file(monkeypatch: pytest.MonkeyPatch, path: Path) -> types.ModuleType:
    """Import the scripted module file at ``path`` (see the module docstring for what is real)."""
    install_slicer_gui(monkeypatch)
    scripted = types.ModuleType("slicer.ScriptedLoadableModule")
    scripted.ScriptedLoadableModule = type("ScriptedLoadableModule", (), {"__init__": lambda self, parent: None})
    scripted.ScriptedLoadableModuleWidget = type("ScriptedLoadableModuleWidget", (), {})
    scripted.ScriptedLoadableModuleLogic = ScriptedLoadableModuleLogic
    scripted.ScriptedLoadableModuleTest = ScriptedLoadableModuleTest
    monkeypatch.setitem(sys.modules, "slicer.ScriptedLoadableModule", scripted)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def ui_widgets(path: Path) -> Any:
    """The named widgets of the .ui file ``path`` (doubles), as ``slicer.util.childWidgetVariables`` gives them."""
    return qt_doubles.child_widget_variables(qt_doubles.load_ui(path))
