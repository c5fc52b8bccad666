"""CerebroBenchmark: placeholder module of the CerebroBench extension.

The benchmark of segmentation quality versus compression ratio (the paper's Tables 1-4)
is not implemented yet; the panel says so and offers no controls. Only the module's loading is tested.
"""

import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)


class CerebroBenchmark(ScriptedLoadableModule):
    """Module description (title, category, help)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "CerebroBenchmark"
        self.parent.categories = ["Segmentation.CerebroBench"]
        self.parent.dependencies = []
        self.parent.contributors = ["CerebroBench developers"]
        self.parent.helpText = (
            "Not available yet: the benchmark of segmentation quality versus compression ratio "
            "(the paper's Tables 1-4) "
            "comes in a later release of CerebroBench."
        )
        self.parent.acknowledgementText = "Part of the CerebroBench extension."


class CerebroBenchmarkWidget(ScriptedLoadableModuleWidget):
    """An information panel only: it states that the feature is not available yet."""

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
