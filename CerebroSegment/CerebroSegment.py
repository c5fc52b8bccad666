"""CerebroSegment: segment the vessels of an angiography volume with a model of the CerebroBench catalog.

A thin Slicer shell (module description, widget, logic, self-test). The panel is
``CerebroLib.segment_widget.SegmentPanel``, which takes this module's logic as an argument; the logic is
``CerebroLib.segment_logic.CerebroSegmentLogic`` (Qt-free, tested under pytest with the slicer-core wheel) plus the
parameter node. It runs ``cerebro segment`` through the one job runner (``CerebroLib.jobs``: a background process;
Slicer stays responsive; Cancel terminates it) and turns the mask into a segmentation node with one named,
coloured segment per label of the model.
"""

import numpy as np
import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
)

from cerebro.errors import Cancelled
from cerebro.segment.catalog import DEFAULT_MODEL_ID
from cerebro.volume import same_geometry
from CerebroLib import dependencies
from CerebroLib.i18n import tr as _
from CerebroLib.i18n import translate
from CerebroLib.module_widget import PanelModuleWidget
from CerebroLib.mrml import masks_from_segmentation_node, volume_to_node
from CerebroLib.parameters import SegmentParameters
from CerebroLib.segment_logic import FALLBACK_MODEL_ID, VESSEL_COLOR, preferred_model
from CerebroLib.segment_logic import CerebroSegmentLogic as SegmentLogic
from CerebroLib.segment_widget import SegmentPanel
from CerebroLib.slicer_ui import SelfTestSteps


class CerebroSegment(ScriptedLoadableModule):
    """Module description (title, category, help)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("CerebroSegment")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation") + ".CerebroBench"]
        self.parent.dependencies = []
        self.parent.contributors = ["CerebroBench developers"]
        self.parent.helpText = _(
            "Segment the vessels of a 3D angiography volume (CTA / TOF-MRA), e.g. a decompressed one from "
            "CerebroCompress, with a model of the CerebroBench catalog. The result is a segmentation with one "
            "named, coloured segment per label of the model (and optionally the foreground probability volume). "
            "Models with weights are downloaded once into the cache (~/.cache/cerebrobench or $CEREBRO_CACHE). "
            "Segmentation runs in a background process: Slicer stays usable and Cancel stops it."
        )
        self.parent.acknowledgementText = _("Part of the CerebroBench extension.")


class CerebroSegmentWidget(PanelModuleWidget):
    """The module's panel: a SegmentPanel (CerebroLib) around this module's logic."""

    def createPanel(self):
        return SegmentPanel(self.resourcePath("UI/CerebroSegment.ui"), CerebroSegmentLogic(), self.parent)


class CerebroSegmentLogic(ScriptedLoadableModuleLogic, SegmentLogic):
    """The Qt-free CerebroLib logic plus this module's parameter node."""

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        SegmentLogic.__init__(self)

    def getParameterNode(self):
        return SegmentParameters(super().getParameterNode())


class CerebroSegmentTest(SelfTestSteps, ScriptedLoadableModuleTest):
    """Self-test inside Slicer: the logic on a generated 64^3 phantom with the shipped default model. Offline:
    nothing is installed or downloaded (the shipped default model needs no download); with a package missing each
    test skips with the reason (SelfTestSteps)."""

    requirements = dependencies.SEGMENT_MODULE_REQUIREMENTS
    steps = ("test_SegmentPhantom", "test_CancelStopsTheProcess")

    def setUp(self):
        self.skipUnlessInstalled()
        slicer.mrmlScene.Clear()

    def _phantomNode(self):
        from cerebro.phantoms import generate_phantom

        phantom = generate_phantom(64, "mra", seed=7, supersample=2)
        return phantom, volume_to_node(phantom.image, slicer.mrmlScene, "phantom")

    def test_SegmentPhantom(self):
        model = preferred_model()
        self.delayDisplay(f"CerebroSegment: segment a 64^3 phantom with '{model}'")
        phantom, node = self._phantomNode()
        output = CerebroSegmentLogic().run(node, model, device="auto", tta=False, probabilities=True, modality="mra")
        masks = masks_from_segmentation_node(output.segmentation_node, node)
        self.assertIn("vessel", masks)
        mask, color = masks["vessel"]
        self.assertEqual(color, VESSEL_COLOR)
        self.assertIsNone(same_geometry(mask, phantom.mask))
        overlap = 2.0 * np.logical_and(mask.array, phantom.mask.array).sum()
        dice = overlap / (mask.array.sum() + phantom.mask.array.sum())
        # Measured on this phantom: cerebro-default 0.97, the vesselness baseline 0.72.
        minimumDice = 0.8 if model == DEFAULT_MODEL_ID else 0.5
        self.assertGreater(dice, minimumDice, f"the vessels of the phantom were not found (Dice {dice:.3f})")
        probabilities = slicer.util.arrayFromVolume(output.probability_node)
        self.assertEqual(probabilities.shape, phantom.image.array.shape)
        self.delayDisplay(f"Segmented, Dice {dice:.3f} against the phantom's truth")

    def test_CancelStopsTheProcess(self):
        self.delayDisplay("CerebroSegment: cancel a running segmentation")
        _, node = self._phantomNode()
        logic = CerebroSegmentLogic()
        job = logic.start(node, FALLBACK_MODEL_ID, device="cpu")
        job.cancel()
        self.assertIsNotNone(job.process.poll())
        self.assertTrue(job.poll().cancelled)
        with self.assertRaises(Cancelled):
            logic.finish(job)
        self.assertEqual(slicer.mrmlScene.GetNodesByClass("vtkMRMLSegmentationNode").GetNumberOfItems(), 0)
        self.delayDisplay("Cancel passed")
