"""CerebroSegment: placeholder module of the CerebroBench extension.

Vessel segmentation of a (compressed) angiography volume with pretrained models
is not implemented yet; the panel says so and offers no controls. Only the module's loading is tested.
"""

import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)


class CerebroSegment(ScriptedLoadableModule):
    """Module description (title, category, help)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "CerebroSegment"
        self.parent.categories = ["Segmentation.CerebroBench"]
        self.parent.dependencies = []
        self.parent.contributors = ["CerebroBench developers"]
        self.parent.helpText = (
            "Not available yet: vessel segmentation of a (compressed) angiography volume with pretrained models "
            "comes in a later release of CerebroBench."
        )
        self.parent.acknowledgementText = "Part of the CerebroBench extension."


class CerebroSegmentWidget(ScriptedLoadableModuleWidget):
    """An information panel only: it states that the feature is not available yet."""

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CerebroSegment.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)


class CerebroSegmentTest(ScriptedLoadableModuleTest):
    """Checks only that the module is loaded (it has no functions yet)."""

    def runTest(self):
        slicer.mrmlScene.Clear()
        self.test_ModuleLoads()

    def test_ModuleLoads(self):
        self.assertTrue(hasattr(slicer.modules, "cerebrosegment"))
