"""CerebroBenchmark: information panel of the CerebroBench extension.

The benchmark of segmentation quality versus compression ratio (the paper's Tables 1-4) runs from the command
line (``cerebro benchmark run|table|plot``) and the Python console (``cerebro.benchmark``); this panel has no
controls yet and says so. Only the module's loading is tested.
"""

import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)

from CerebroLib.i18n import tr as _
from CerebroLib.i18n import translate


class CerebroBenchmark(ScriptedLoadableModule):
    """Module description (title, category, help)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("CerebroBenchmark")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation") + ".CerebroBench"]
        self.parent.dependencies = []
        self.parent.contributors = ["CerebroBench developers"]
        self.parent.helpText = _(
            "The benchmark of segmentation quality versus compression ratio (the paper's Tables 1-4) runs from "
            "the command line (cerebro benchmark run | table | plot) and the Python console (cerebro.benchmark). "
            "This panel has no controls yet; they come in a later release of CerebroBench."
        )
        self.parent.acknowledgementText = _("Part of the CerebroBench extension.")


class CerebroBenchmarkWidget(ScriptedLoadableModuleWidget):
    """An information panel only: it says where the benchmark runs today."""

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CerebroBenchmark.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)


class CerebroBenchmarkTest(ScriptedLoadableModuleTest):
    """Checks only that the module is loaded (it has no functions yet)."""

    def runTest(self):
        slicer.mrmlScene.Clear()
        self.test_ModuleLoads()

    def test_ModuleLoads(self):
        self.assertTrue(hasattr(slicer.modules, "cerebrobenchmark"))
