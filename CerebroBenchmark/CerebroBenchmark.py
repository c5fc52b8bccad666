"""CerebroBenchmark: how far can a volume be compressed before vessel segmentation gets worse?

A thin Slicer shell (module description, widget, logic, self-test). The panel is
``CerebroLib.benchmark_widget.BenchmarkPanel``, which takes this module's logic as an argument; the logic is
``CerebroLib.benchmark_logic.CerebroBenchmarkLogic`` (Qt-free, tested under pytest with the slicer-core wheel) plus
the parameter node. Runs go through the one job runner (``CerebroLib.jobs``: ``cerebro benchmark run|search`` in a
background process; Slicer stays usable, Cancel stops it and the next run resumes); results become table and
plot chart nodes.
"""

import shutil
import tempfile

import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
)

from cerebro.benchmark.sweep import UNCOMPRESSED
from cerebro.errors import Cancelled
from CerebroLib import dependencies
from CerebroLib.benchmark_logic import CerebroBenchmarkLogic as BenchmarkLogic
from CerebroLib.benchmark_widget import BenchmarkPanel
from CerebroLib.i18n import tr as _
from CerebroLib.i18n import translate
from CerebroLib.module_widget import PanelModuleWidget
from CerebroLib.mrml import masks_from_segmentation_node, segmentation_node_from_masks, volume_to_node
from CerebroLib.parameters import BenchmarkParameters
from CerebroLib.segment_logic import preferred_model
from CerebroLib.slicer_ui import SelfTestSteps


class CerebroBenchmark(ScriptedLoadableModule):
    """Module description (title, category, help)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("CerebroBenchmark")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation") + ".CerebroBench"]
        self.parent.dependencies = []
        self.parent.contributors = ["CerebroBench developers"]
        self.parent.helpText = _(
            "Benchmark segmentation quality against compression: every case (the scene volume with an optional "
            "reference segmentation, or a dataset) is compressed at every setting and segmented by every chosen "
            "model. Results: a table (compression ratio, bits/voxel, PSNR, SSIM, max error, Dice, IoU, "
            "sensitivity, precision, volume similarity, clDice, HD95, Dice against the uncompressed prediction), "
            "charts, the limits table (the largest compression ratio per codec within a Dice-loss bound), a "
            "search for that limit, and an HTML report. Runs in a background process and resumes from its "
            "results folder."
        )
        self.parent.acknowledgementText = _("Part of the CerebroBench extension.")


class CerebroBenchmarkWidget(PanelModuleWidget):
    """The module's panel: a BenchmarkPanel (CerebroLib) around this module's logic."""

    def createPanel(self):
        return BenchmarkPanel(self.resourcePath("UI/CerebroBenchmark.ui"), CerebroBenchmarkLogic(), self.parent)


class CerebroBenchmarkLogic(ScriptedLoadableModuleLogic, BenchmarkLogic):
    """The Qt-free CerebroLib logic plus this module's parameter node."""

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        BenchmarkLogic.__init__(self)

    def getParameterNode(self):
        return BenchmarkParameters(super().getParameterNode())


class CerebroBenchmarkTest(SelfTestSteps, ScriptedLoadableModuleTest):
    """Self-test inside Slicer: a 48^3 phantom with its truth segmentation, benchmarked offline with the shipped
    default model at two ZFP settings; tables, charts, limits and a shown record; then a cancelled run resumes.
    Offline: nothing is installed or downloaded; with a package missing each test skips with the reason."""

    requirements = dependencies.BENCHMARK_MODULE_REQUIREMENTS
    steps = ("test_BenchmarkPhantom", "test_CancelThenResume")

    def setUp(self):
        self.skipUnlessInstalled()
        slicer.mrmlScene.Clear()
        self.store = tempfile.mkdtemp(prefix="CerebroBenchmarkTest-")

    def tearDown(self):
        shutil.rmtree(self.store, ignore_errors=True)

    def _phantomNodes(self):
        from cerebro.phantoms import generate_phantom

        phantom = generate_phantom(48, "cta", seed=5, supersample=1)
        node = volume_to_node(phantom.image, slicer.mrmlScene, "phantom")
        truth = segmentation_node_from_masks({"vessel": (phantom.mask, (0.0, 0.8, 0.0))}, node, "truth")
        return node, truth

    def test_BenchmarkPhantom(self):
        model = preferred_model()
        self.delayDisplay(f"CerebroBenchmark: a 48^3 phantom at two ZFP settings with '{model}'")
        node, truth = self._phantomNodes()
        logic = CerebroBenchmarkLogic()
        settings = ["zfp:accuracy:tolerance=50", "zfp:rate:rate=2"]
        manifest = logic.scene_manifest(node, self.store, truth, modality="cta")  # cerebro-default: the CT model
        nodes = logic.run(manifest, self.store, settings, [model],
                          slicer.mrmlScene, device="cpu", metrics="overlap")
        table = nodes.results_table.GetTable()
        self.assertEqual(table.GetNumberOfRows(), 3)
        self.assertEqual([table.GetColumnByName("setting").GetValue(r) for r in range(3)], [UNCOMPRESSED, *settings])
        dice = table.GetColumnByName("Dice mean").GetValue(0)
        self.assertGreater(dice, 0.8 if model == "cerebro-default" else 0.4, "the phantom's vessels were not found")
        self.assertGreater(table.GetColumnByName("CR").GetValue(2), table.GetColumnByName("CR").GetValue(1))
        self.assertEqual(nodes.dice_vs_ratio_chart.GetNumberOfPlotSeriesNodes(), 1)  # one codec: zfp
        self.assertEqual(nodes.limits_table.GetTable().GetNumberOfRows(), 1)
        caseId = logic.store_cases(self.store)[0]
        job = logic.start_show(self.store, caseId, settings[1], model)
        from CerebroLib.jobs import run_job

        run_job(job)
        shown = logic.finish_show(job, self.store, caseId, settings[1], model, slicer.mrmlScene)
        masks = masks_from_segmentation_node(shown.segmentation_node, shown.volume_node)
        self.assertEqual(set(masks), {"prediction", "reference", "false positive", "false negative"})
        self.delayDisplay(f"Benchmarked: uncompressed Dice {dice:.3f}")

    def test_CancelThenResume(self):
        self.delayDisplay("CerebroBenchmark: cancel a run, then resume it")
        node, _ = self._phantomNodes()
        logic = CerebroBenchmarkLogic()
        manifest = logic.scene_manifest(node, self.store)
        job = logic.start(manifest, self.store, ["zfp:rate:rate=4"], ["vesselness"], device="cpu", metrics="overlap")
        job.cancel()
        self.assertTrue(job.poll().cancelled)
        with self.assertRaises(Cancelled):
            logic.finish(job, slicer.mrmlScene)
        nodes = logic.run(manifest, self.store, ["zfp:rate:rate=4"], ["vesselness"], slicer.mrmlScene,
                          device="cpu", metrics="overlap")
        self.assertEqual(nodes.results_table.GetTable().GetNumberOfRows(), 2)
        self.delayDisplay("Cancel and resume passed")
