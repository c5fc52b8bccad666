"""CerebroCompress: compress a volume with a chosen codec, look at the decompressed result and its error.

A thin Slicer shell: the widget keeps the panel and the parameter node; all work is done by
``CerebroLib.compress_logic.CerebroCompressLogic`` (Qt-free, tested under pytest with the slicer-core wheel),
which converts nodes with ``CerebroLib.mrml`` and runs ``cerebro compress`` / ``decompress`` in a background
process through the one job runner (``CerebroLib.jobs``): INR fitting never freezes Slicer, Cancel stops it.
"""

import logging
import os

import numpy as np
import qt
import slicer
from slicer import vtkMRMLScalarVolumeNode
from slicer.parameterNodeWrapper import parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from cerebro.errors import CerebroError
from cerebro.volume import Volume
from CerebroLib import dependencies
from CerebroLib.compress_logic import (
    COMPRESSED_SUFFIX,
    codec_modes,
    is_compressed_file,
    mode_settings,
    settings_from_text,
    settings_to_text,
)
from CerebroLib.compress_logic import CerebroCompressLogic as CompressLogic
from CerebroLib.mrml import volume_to_node
from CerebroLib.slicer_ui import (
    PanelJobs,
    ParameterNodeWidgetMixin,
    askInstallDependencies,
    missingForSelfTest,
    showMissingDependencies,
    showPanelStatus,
)

FILE_TYPE = "CerebroCompressedVolume"
FILE_DESCRIPTION = "CerebroBench compressed volume"
FILE_FILTER = f"{FILE_DESCRIPTION} (*{COMPRESSED_SUFFIX})"
# Below the Volumes module's writer (0.5): .cbv is chosen only when asked for (see CerebroCompressFileWriter).
WRITER_CONFIDENCE = 0.3


class CerebroCompress(ScriptedLoadableModule):
    """Module description (title, category, help)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "CerebroCompress"
        self.parent.categories = ["Segmentation.CerebroBench"]
        self.parent.dependencies = []
        self.parent.contributors = ["CerebroBench developers"]
        self.parent.helpText = (
            "Compress a 3D angiography volume (CTA / TOF-MRA) with a chosen codec, mode and setting; the "
            "decompressed volume (and optionally the difference to the original) is added to the scene and "
            "the report gives compression ratio, bits per voxel, PSNR, SSIM, maximum error and speed. "
            "Compressed volumes are saved and loaded as .cbv files (drag-and-drop a .cbv file to load it)."
        )
        self.parent.acknowledgementText = "Part of the CerebroBench extension."


@parameterNodeWrapper
class CerebroCompressParameterNode:
    """Panel state, saved with the scene. ``settingsJson`` holds the current codec mode's settings as JSON."""

    inputVolume: vtkMRMLScalarVolumeNode
    codec: str = ""
    mode: str = ""
    settingsJson: str = "{}"
    makeDifference: bool = False


class CerebroCompressWidget(ParameterNodeWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Panel: input volume, codec, mode, settings, run, report, save/load of .cbv files."""

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.jobs = None
        self._settingEditors = {}
        self._updatingGui = False

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CerebroCompress.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = CerebroCompressLogic()
        self.jobs = PanelJobs(self._showStatus)

        # Ask before installing missing packages, before the codec list is built (it depends on them);
        # never in testing mode, where a modal question would block.
        if not slicer.app.testingEnabled():
            askInstallDependencies(dependencies.COMPRESS_MODULE_REQUIREMENTS)
        self._updateDependencyLabel()

        self.observeSceneClose()
        self.ui.codecComboBox.connect("currentTextChanged(QString)", self.onCodecChanged)
        self.ui.modeComboBox.connect("currentTextChanged(QString)", self.onModeChanged)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        self.ui.saveCompressedButton.connect("clicked(bool)", self.onSaveCompressed)
        self.ui.loadCompressedButton.connect("clicked(bool)", self.onLoadCompressed)
        self.ui.installDependenciesButton.connect("clicked(bool)", self.onInstallDependencies)
        self.initializeParameterNode()

    def cleanup(self):
        if self.jobs is not None and self.jobs.busy:
            self.jobs.cancel()
        super().cleanup()

    def setDefaultParameters(self):
        modes = codec_modes()
        if modes and self._parameterNode.codec not in modes:
            self._parameterNode.codec = next(iter(modes))
            self._parameterNode.mode = modes[self._parameterNode.codec][0]

    # --- parameter node -> panel -------------------------------------------------------------------------

    def updateGuiFromParameterNode(self, caller=None, event=None):
        """Codec, mode and settings depend on the installed codecs, so they are kept in sync here, not by .ui."""
        if self._parameterNode is None or self._updatingGui:
            return
        self._updatingGui = True
        try:
            modes, p = codec_modes(), self._parameterNode
            self._setComboItems(self.ui.codecComboBox, list(modes), p.codec)
            self._setComboItems(self.ui.modeComboBox, modes.get(p.codec, []), p.mode)
            self._rebuildSettingEditors()
        finally:
            self._updatingGui = False
        busy = self.jobs is not None and self.jobs.busy
        ready = bool(self._parameterNode.inputVolume and self._parameterNode.codec and self._parameterNode.mode)
        self.ui.applyButton.enabled = ready and not busy
        self.ui.saveCompressedButton.enabled = ready and not busy
        self.ui.loadCompressedButton.enabled = not busy

    @staticmethod
    def _setComboItems(comboBox, items, current):
        wasBlocked = comboBox.blockSignals(True)
        if [comboBox.itemText(i) for i in range(comboBox.count)] != items:
            comboBox.clear()
            comboBox.addItems(items)
        comboBox.setCurrentIndex(max(comboBox.findText(current), 0) if items else -1)
        comboBox.blockSignals(wasBlocked)

    def _rebuildSettingEditors(self):
        codec, mode = self._parameterNode.codec, self._parameterNode.mode
        if mode not in codec_modes().get(codec, []):
            codec = mode = ""  # e.g. a scene saved where a codec is installed that is missing here
        layout = self.ui.settingsWidget.layout()
        wanted = [(s.name, s) for s in mode_settings(codec, mode)] if codec else []
        if [name for name, _ in wanted] != list(self._settingEditors):
            while layout.rowCount() > 0:
                layout.removeRow(0)
            self._settingEditors = {}
            for name, setting in wanted:
                editor = qt.QComboBox() if setting.choices else qt.QLineEdit()
                if setting.choices:
                    editor.addItems([str(c) for c in setting.choices])
                    editor.connect("currentTextChanged(QString)", self.onSettingEdited)
                else:
                    editor.connect("editingFinished()", self.onSettingEdited)
                editor.toolTip = _settingToolTip(setting)
                layout.addRow(f"{name} ({setting.unit}):" if setting.unit else f"{name}:", editor)
                self._settingEditors[name] = editor
        self.ui.modeHelpLabel.text = _modeHelp(codec, mode)
        try:
            values = settings_from_text(self._parameterNode.settingsJson, codec, mode) if wanted else {}
        except CerebroError as error:  # stored values out of range: show them, the run reports the problem
            values = {}
            logging.warning(str(error))
        for name, editor in self._settingEditors.items():
            if name in values:
                wasBlocked = editor.blockSignals(True)
                if isinstance(editor, qt.QComboBox):
                    editor.setCurrentText(str(values[name]))
                else:
                    editor.text = f"{values[name]:g}" if isinstance(values[name], float) else str(values[name])
                editor.blockSignals(wasBlocked)

    # --- panel -> parameter node -------------------------------------------------------------------------

    def onCodecChanged(self, codec):
        if self._parameterNode is None or self._updatingGui:
            return
        with slicer.util.NodeModify(self._parameterNode):
            self._parameterNode.codec = codec
            self._parameterNode.mode = codec_modes().get(codec, [""])[0]
            self._parameterNode.settingsJson = "{}"

    def onModeChanged(self, mode):
        if self._parameterNode is None or self._updatingGui:
            return
        with slicer.util.NodeModify(self._parameterNode):
            self._parameterNode.mode = mode
            self._parameterNode.settingsJson = "{}"

    def onSettingEdited(self, *args):
        if self._parameterNode is None or self._updatingGui:
            return
        values = {
            name: editor.currentText if isinstance(editor, qt.QComboBox) else editor.text
            for name, editor in self._settingEditors.items()
        }
        self._parameterNode.settingsJson = settings_to_text(values)

    # --- actions -----------------------------------------------------------------------------------------

    def _currentSettings(self):
        self.onSettingEdited()
        p = self._parameterNode
        return settings_from_text(p.settingsJson, p.codec, p.mode)

    def _showStatus(self, status):
        showPanelStatus(self.ui, status)
        self.updateGuiFromParameterNode()

    def onApplyButton(self):
        p = self._parameterNode
        self.jobs.start(
            "Compression",
            lambda: self.logic.start_round_trip(p.inputVolume, p.codec, p.mode, self._currentSettings(),
                                                p.makeDifference),
            self._onRoundTripDone)

    def _onRoundTripDone(self, job):
        outputNode, differenceNode, report = self.logic.finish_round_trip(job)
        text = f"Decompressed volume: {outputNode.GetName()}\n"
        if differenceNode is not None:
            text += f"Difference volume (decompressed - original): {differenceNode.GetName()}\n"
        self.ui.reportTextEdit.setPlainText(text + "\n" + report.to_text())
        slicer.util.setSliceViewerLayers(background=outputNode, fit=True)
        return f"Compressed and decompressed: ratio {report.compression_ratio:.2f} : 1"

    def onCancelButton(self):
        if self.jobs.busy:
            self.jobs.cancel()

    def onSaveCompressed(self):
        p = self._parameterNode
        startPath = os.path.join(qt.QDir.homePath(), f"{p.inputVolume.GetName()}{COMPRESSED_SUFFIX}")
        path = qt.QFileDialog.getSaveFileName(
            slicer.util.mainWindow(), "Save compressed volume", startPath, f"Compressed volume (*{COMPRESSED_SUFFIX})"
        )
        if not path:
            return
        if not path.lower().endswith(COMPRESSED_SUFFIX):
            path += COMPRESSED_SUFFIX
        self.jobs.start(
            "Saving",
            lambda: self.logic.start_save(p.inputVolume, path, p.codec, p.mode, self._currentSettings()),
            self._onSaved)

    def _onSaved(self, job):
        summary = self.logic.finish_save(job)
        text = (f"Saved {summary['output']}\n{summary['file_nbytes'] / 1e6:.3f} MB on disk, "
                f"ratio {summary['compression_ratio']:.2f} : 1, error bound: {summary['error_bound']}")
        self.ui.reportTextEdit.setPlainText(text)
        return f"Saved {os.path.basename(summary['output'])}"

    def onLoadCompressed(self):
        path = qt.QFileDialog.getOpenFileName(
            slicer.util.mainWindow(), "Load compressed volume", qt.QDir.homePath(),
            f"Compressed volume (*{COMPRESSED_SUFFIX})",
        )
        if not path:
            return
        self.jobs.start("Loading", lambda: self.logic.start_load(path, slicer.mrmlScene), self._onLoaded)

    def _onLoaded(self, job):
        node = self.logic.finish_load(job)
        slicer.util.setSliceViewerLayers(background=node, fit=True)
        return f"Loaded {node.GetName()}"

    def onInstallDependencies(self):
        try:
            installed = askInstallDependencies(dependencies.COMPRESS_PANEL_REQUIREMENTS)
        except Exception as error:  # pip failures must reach the user, not only the console
            slicer.util.errorDisplay(f"Installing the packages failed: {error}")
            installed = False
        if installed:
            slicer.util.infoDisplay("Packages installed. Restart Slicer to use codecs that were missing.")
        self._updateDependencyLabel()

    def _updateDependencyLabel(self):
        showMissingDependencies(self.ui, dependencies.COMPRESS_PANEL_REQUIREMENTS,
                                "Missing Python packages (codecs of missing packages are not offered): ")


def _modeHelp(codec, mode):
    if not codec or not mode:
        return "No codec is available: install the missing packages."
    from cerebro.codecs import get_codec

    found = get_codec(codec).modes[mode]
    return f"{found.help}{' (lossless)' if found.lossless else ''}"


def _settingToolTip(setting):
    if setting.choices:
        valid = ", ".join(str(c) for c in setting.choices)
    else:
        valid = f"{setting.minimum} to {setting.maximum}{' ' + setting.unit if setting.unit else ''}"
    return f"{setting.help}\nValid: {valid}"


class CerebroCompressLogic(ScriptedLoadableModuleLogic, CompressLogic):
    """The Qt-free CerebroLib logic plus this module's parameter node."""

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        CompressLogic.__init__(self)

    def getParameterNode(self):
        return CerebroCompressParameterNode(super().getParameterNode())


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
        try:
            node = CompressLogic().read_file(properties["fileName"], slicer.mrmlScene, properties.get("name"))
        except CerebroError as error:
            logging.error(f"Failed to load {properties['fileName']}: {error}")
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
        node = slicer.mrmlScene.GetNodeByID(properties["nodeID"])
        p = CerebroCompressLogic().getParameterNode()
        try:
            settings = settings_from_text(p.settingsJson, p.codec, p.mode)
            CompressLogic().write_file(node, properties["fileName"], p.codec, p.mode, settings)
        except CerebroError as error:
            logging.error(f"Failed to write {properties['fileName']}: {error}")
            return False
        self.parent.writtenNodes = [node.GetID()]
        return True


class CerebroCompressTest(ScriptedLoadableModuleTest):
    """Self-test inside Slicer: the logic on a generated volume, and the .cbv reader/writer."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        # Offline: nothing is installed or downloaded; with a package missing the test says so and skips.
        reason = missingForSelfTest(dependencies.COMPRESS_MODULE_REQUIREMENTS)
        if reason is not None:
            self.delayDisplay(reason)
            logging.warning(reason)
            return
        self.setUp()
        self.test_LogicRoundTrip()
        self.setUp()
        self.test_SaveAndLoadCompressedFile()

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
        p.codec, p.mode, p.settingsJson = "zfp", "reversible", "{}"
        path = os.path.join(slicer.app.temporaryPath, "CerebroCompressSelfTest.cbv")
        # saveNode would ignore a fileType in a dict and pick the Volumes writer; ask for the .cbv type itself.
        self.assertTrue(slicer.app.coreIOManager().saveNodes(FILE_TYPE, {"nodeID": node.GetID(), "fileName": path}))
        loaded = slicer.util.loadNodeFromFile(path, FILE_TYPE)
        self.assertIsNotNone(loaded)
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(loaded), volume.array)
        os.remove(path)
        self.delayDisplay("Reader and writer passed")
