"""CerebroCompress: compress a volume with a chosen codec, look at the decompressed result and its error.

A thin Slicer shell (module description, widget, logic, .cbv reader/writer, self-test). The panel is
``CerebroLib.compress_widget.CompressPanel``, which takes this module's logic as an argument; the logic is
``CerebroLib.compress_logic.CerebroCompressLogic`` (Qt-free, tested under pytest with the slicer-core wheel) plus
the parameter node. Long work runs as ``cerebro compress`` / ``decompress`` in a background process through the
one job runner (``CerebroLib.jobs``): INR fitting never freezes Slicer, and Cancel stops it.
"""

import os

import numpy as np
import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
)

from cerebro.volume import Volume
from CerebroLib import dependencies
from CerebroLib.compress_logic import COMPRESSED_SUFFIX, codec_setting_from, is_compressed_file
from CerebroLib.compress_logic import CerebroCompressLogic as CompressLogic
from CerebroLib.compress_widget import CompressPanel
from CerebroLib.i18n import tr as _
from CerebroLib.i18n import translate
from CerebroLib.module_widget import PanelModuleWidget
from CerebroLib.mrml import volume_to_node
from CerebroLib.parameters import CompressParameters, settingsValues
from CerebroLib.slicer_ui import SelfTestSteps, reportFileError

FILE_TYPE = "CerebroCompressedVolume"
FILE_DESCRIPTION = "CerebroBench compressed volume"
FILE_FILTER = f"{FILE_DESCRIPTION} (*{COMPRESSED_SUFFIX})"
# Below the Volumes module's writer (0.5): .cbv is chosen only when asked for (see CerebroCompressFileWriter).
WRITER_CONFIDENCE = 0.3


class CerebroCompress(ScriptedLoadableModule):
    """Module description (title, category, help)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("CerebroCompress")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation") + ".CerebroBench"]
        self.parent.dependencies = []
        self.parent.contributors = ["CerebroBench developers"]
        self.parent.helpText = _(
            "Compress a 3D angiography volume (CTA / TOF-MRA) with a chosen codec, mode and setting; the "
            "decompressed volume (and optionally the difference to the original) is added to the scene and "
            "the report gives compression ratio, bits per voxel, PSNR, SSIM, maximum error and speed. "
            "Compressed volumes are saved and loaded as .cbv files (drag-and-drop a .cbv file to load it)."
        )
        self.parent.acknowledgementText = _("Part of the CerebroBench extension.")


class CerebroCompressWidget(PanelModuleWidget):
    """The module's panel: a CompressPanel (CerebroLib) around this module's logic."""

    def createPanel(self):
        return CompressPanel(self.resourcePath("UI/CerebroCompress.ui"), CerebroCompressLogic(), self.parent)


class CerebroCompressLogic(ScriptedLoadableModuleLogic, CompressLogic):
    """The Qt-free CerebroLib logic plus this module's parameter node."""

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        CompressLogic.__init__(self)

    def getParameterNode(self):
        return CompressParameters(super().getParameterNode())


class _CompressedFileType:
    """What the .cbv reader and writer share: the parent they report to and the file type they name."""

    def __init__(self, parent):
        self.parent = parent

    def description(self):
        return FILE_DESCRIPTION

    def fileType(self):
        return FILE_TYPE


class CerebroCompressFileReader(_CompressedFileType):
    """Loads .cbv compressed volumes (File > Add Data, drag-and-drop) as decompressed scalar volumes."""

    def extensions(self):
        return [FILE_FILTER]

    def canLoadFile(self, filePath):
        return is_compressed_file(filePath)

    def load(self, properties):
        fileName = properties["fileName"]
        try:
            # Decoded by `cerebro decompress` in the job runner's PythonSlicer process, never in this one: a
            # multiprocessing child does not start reliably inside Slicer, and a crafted file cannot crash Slicer.
            node = CompressLogic().load_compressed(fileName, slicer.mrmlScene, properties.get("name"))
        except Exception as error:  # noqa: BLE001 - the IO manager shows the user's messages, never a traceback
            reportFileError(self.parent, _("Failed to load {path}: {error}").format(path=fileName, error=error))
            return False
        self.parent.loadedNodes = [node.GetID()]
        return True


class CerebroCompressFileWriter(_CompressedFileType):
    """Saves a scalar volume as a .cbv file with the codec, mode and settings currently chosen in the panel.

    Its confidence (0.3) is below the Volumes writer's (0.5), as in Slicer's own scripted writer test: the IO
    manager takes the first writer with the highest confidence, so a writer at 0.5 registered before Volumes
    (modules load alphabetically) would take over saving of every scalar volume. It is used when the .cbv file
    type is asked for (``coreIOManager().saveNodes(FILE_TYPE, ...)``, the Save dialog's file format), and
    writes only file names ending with .cbv.
    """

    def extensions(self, obj):
        return [FILE_FILTER]

    def canWriteObject(self, obj):
        return bool(obj.IsA("vtkMRMLScalarVolumeNode") and not obj.IsA("vtkMRMLLabelMapVolumeNode"))

    def canWriteObjectConfidence(self, obj):
        return WRITER_CONFIDENCE if self.canWriteObject(obj) else 0.0

    def write(self, properties):
        fileName = properties["fileName"]
        try:
            node = slicer.mrmlScene.GetNodeByID(properties["nodeID"])
            p = CerebroCompressLogic().getParameterNode()
            setting = codec_setting_from(settingsValues(p.settings), p.codec, p.mode)
            CompressLogic().save_compressed(node, fileName, setting)  # in the job runner
        except Exception as error:  # noqa: BLE001 - the IO manager shows the user's messages, never a traceback
            reportFileError(self.parent, _("Failed to write {path}: {error}").format(path=fileName, error=error))
            return False
        self.parent.writtenNodes = [node.GetID()]
        return True


class CerebroCompressTest(SelfTestSteps, ScriptedLoadableModuleTest):
    """Self-test inside Slicer: the logic on a generated volume, and the .cbv reader/writer. Offline: nothing is
    installed or downloaded; with a package missing each test skips with the reason (SelfTestSteps)."""

    requirements = dependencies.COMPRESS_MODULE_REQUIREMENTS
    steps = ("test_LogicRoundTrip", "test_SaveAndLoadCompressedFile")

    def setUp(self):
        self.skipUnlessInstalled()
        slicer.mrmlScene.Clear()

    def _generatedVolume(self):
        z, y, x = np.mgrid[0:20, 0:24, 0:28]
        array = (400 * np.sin(x / 4.0) * np.cos(y / 6.0) + 100 * z).astype(np.int16)
        direction = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        volume = Volume(array, spacing=(0.4, 0.5, 0.7), origin=(10.0, -20.0, 5.0), direction=direction)
        return volume, volume_to_node(volume, slicer.mrmlScene, "generated")

    def test_LogicRoundTrip(self):
        self.delayDisplay("CerebroCompress logic: lossless and lossy round trips")
        volume, node = self._generatedVolume()
        logic = CerebroCompressLogic()
        output, difference, report = logic.run(node, "zfp", "reversible", {}, make_difference=True)
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(output), volume.array)
        self.assertFalse(slicer.util.arrayFromVolume(difference).any())
        self.assertEqual(report.max_abs_error, 0)
        output, _, report = logic.run(node, "zfp", "accuracy", {"tolerance": 4.0})
        self.assertLessEqual(report.max_abs_error, 4)
        self.assertGreater(report.compression_ratio, 1.0)
        self.delayDisplay("Logic round trips passed")

    def test_SaveAndLoadCompressedFile(self):
        self.delayDisplay("CerebroCompress: .cbv writer and reader")
        volume, node = self._generatedVolume()
        p = CerebroCompressLogic().getParameterNode()
        p.codec, p.mode = "zfp", "reversible"
        path = os.path.join(slicer.app.temporaryPath, "CerebroCompressSelfTest.cbv")
        # saveNode would ignore a fileType in a dict and pick the Volumes writer; ask for the .cbv type itself.
        self.assertTrue(slicer.app.coreIOManager().saveNodes(FILE_TYPE, {"nodeID": node.GetID(), "fileName": path}))
        loaded = slicer.util.loadNodeFromFile(path, FILE_TYPE)
        self.assertIsNotNone(loaded)
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(loaded), volume.array)
        os.remove(path)
        self.delayDisplay("Reader and writer passed")
