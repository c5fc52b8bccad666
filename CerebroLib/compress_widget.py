"""The CerebroCompress panel: input volume, codec, mode, typed settings, run / cancel, report, .cbv save and load.

It takes its logic object as an argument (``CerebroCompressLogic`` of the module file: the CerebroLib logic plus
the parameter node) and does no work itself: every long task goes through the panel's job runner
(:class:`CerebroLib.slicer_ui.PanelJobs`), so Slicer stays usable and every ending resets the panel. Needs the
Slicer application (``qt``, ``slicer.util``).
"""

from __future__ import annotations

import os
from typing import Any

import qt
import slicer

from cerebro.codecs import get_codec
from cerebro.codecs.base import Setting
from cerebro.codecs.setting import CodecSetting, format_value
from cerebro.errors import CerebroError
from CerebroLib import dependencies
from CerebroLib.compress_logic import (
    COMPRESSED_SUFFIX,
    codec_modes,
    codec_setting_from,
    initial_settings,
    mode_settings,
    parse_setting_value,
)
from CerebroLib.i18n import tr as _
from CerebroLib.parameters import setSettingsValues, settingsValues
from CerebroLib.slicer_ui import Panel, offerDependencies, showMissingDependencies


class CompressPanel(Panel):
    """The panel of CerebroCompress, built from ``uiPath`` around ``logic``; ``parent`` is the module's parent."""

    def __init__(self, uiPath: str, logic: Any, parent: Any) -> None:
        super().__init__(uiPath, logic, parent)
        self._settingEditors: dict[str, Any] = {}
        self._updatingGui = False

        # Ask before installing missing packages, before the codec list is built (it depends on them);
        # never in testing mode, where a modal question would block.
        if not slicer.app.testingEnabled():
            offerDependencies(dependencies.COMPRESS_MODULE_REQUIREMENTS)  # a failure is shown, the panel still built
        self._updateDependencyLabel()

        self.ui.codecComboBox.connect("currentTextChanged(QString)", self.onCodecChanged)
        self.ui.modeComboBox.connect("currentTextChanged(QString)", self.onModeChanged)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.saveCompressedButton.connect("clicked(bool)", self.onSaveCompressed)
        self.ui.loadCompressedButton.connect("clicked(bool)", self.onLoadCompressed)
        self.ui.installDependenciesButton.connect("clicked(bool)", self.onInstallDependencies)
        self.initializeParameterNode()

    def setDefaultParameters(self) -> None:
        modes = codec_modes()
        if modes and self._parameterNode.codec not in modes:
            self._selectMode(next(iter(modes)), None)

    def _selectMode(self, codec: str, mode: str | None) -> None:
        """Take ``codec`` (and ``mode``, default its first) and give every setting of it its starting value."""
        p = self._parameterNode
        mode = mode or codec_modes().get(codec, [""])[0]
        with slicer.util.NodeModify(p):
            p.codec, p.mode = codec, mode
            if mode in codec_modes().get(codec, []):
                setSettingsValues(p.settings, initial_settings(codec, mode))

    # --- parameter node -> panel -------------------------------------------------------------------------

    def updateGuiFromParameterNode(self, caller: Any = None, event: Any = None) -> None:
        """Codec, mode and settings depend on the installed codecs, so they are kept in sync here, not by .ui."""
        if self._parameterNode is None or self._updatingGui:
            return
        self._updatingGui = True
        try:
            modes, p = codec_modes(), self._parameterNode
            _setComboItems(self.ui.codecComboBox, list(modes), p.codec)
            _setComboItems(self.ui.modeComboBox, modes.get(p.codec, []), p.mode)
            self._rebuildSettingEditors()
        finally:
            self._updatingGui = False
        busy = self.jobs.busy
        ready = bool(self._parameterNode.inputVolume and self._parameterNode.codec and self._parameterNode.mode)
        self.ui.applyButton.enabled = ready and not busy
        self.ui.saveCompressedButton.enabled = ready and not busy
        self.ui.loadCompressedButton.enabled = not busy

    def _rebuildSettingEditors(self) -> None:
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
        values = settingsValues(self._parameterNode.settings)
        for name, editor in self._settingEditors.items():
            wasBlocked = editor.blockSignals(True)
            if isinstance(editor, qt.QComboBox):
                editor.setCurrentText(str(values[name]))
            else:
                editor.text = format_value(values[name]) if isinstance(values[name], float) else str(values[name])
            editor.blockSignals(wasBlocked)

    # --- panel -> parameter node -------------------------------------------------------------------------

    def onCodecChanged(self, codec: str) -> None:
        if self._parameterNode is not None and not self._updatingGui:
            self._selectMode(codec, None)

    def onModeChanged(self, mode: str) -> None:
        if self._parameterNode is not None and not self._updatingGui:
            self._selectMode(self._parameterNode.codec, mode)

    def onSettingEdited(self, *args: Any) -> None:
        if self._parameterNode is None or self._updatingGui:
            return
        try:
            p = self._parameterNode
            values = {name: parse_setting_value(p.codec, p.mode, name, editor.currentText if isinstance(
                editor, qt.QComboBox) else editor.text) for name, editor in self._settingEditors.items()}
        except CerebroError as error:
            self.ui.statusLabel.text = str(error)
            self.updateGuiFromParameterNode()  # show the stored values again
            return
        with slicer.util.NodeModify(self._parameterNode):  # one update of the panel, not one per setting
            setSettingsValues(self._parameterNode.settings, values)

    # --- actions -----------------------------------------------------------------------------------------

    def _currentSetting(self) -> CodecSetting:
        """The current codec setting from the parameter node, validated (CerebroError if out of range)."""
        self.onSettingEdited()
        p = self._parameterNode
        return codec_setting_from(settingsValues(p.settings), p.codec, p.mode)

    def onApplyButton(self) -> None:
        p = self._parameterNode
        self.jobs.start(
            _("Compression"),
            lambda: self.logic.start_round_trip(p.inputVolume, self._currentSetting(),
                                                make_difference=p.makeDifference),
            self._onRoundTripDone)

    def _onRoundTripDone(self, job: Any) -> str:
        outputNode, differenceNode, report = self.logic.finish_round_trip(job)
        text = _("Decompressed volume: {name}").format(name=outputNode.GetName()) + "\n"
        if differenceNode is not None:
            text += _("Difference volume (decompressed - original): {name}").format(name=differenceNode.GetName())
            text += "\n"
        self.ui.reportTextEdit.setPlainText(text + "\n" + report.to_text())
        slicer.util.setSliceViewerLayers(background=outputNode, fit=True)
        return _("Compressed and decompressed: ratio {ratio:.2f} : 1").format(ratio=report.compression_ratio)

    def onSaveCompressed(self) -> None:
        p = self._parameterNode
        startPath = os.path.join(qt.QDir.homePath(), f"{p.inputVolume.GetName()}{COMPRESSED_SUFFIX}")
        path = qt.QFileDialog.getSaveFileName(slicer.util.mainWindow(), _("Save compressed volume"), startPath,
                                              _("Compressed volume") + f" (*{COMPRESSED_SUFFIX})")
        if not path:
            return
        if not path.lower().endswith(COMPRESSED_SUFFIX):
            path += COMPRESSED_SUFFIX
        self.jobs.start(
            _("Saving"),
            lambda: self.logic.start_save(p.inputVolume, path, self._currentSetting()),
            self._onSaved)

    def _onSaved(self, job: Any) -> str:
        summary = self.logic.finish_save(job)
        self.ui.reportTextEdit.setPlainText(
            _("Saved {path}\n{megabytes:.3f} MB on disk, ratio {ratio:.2f} : 1, error bound: {bound}").format(
                path=summary["output"], megabytes=summary["file_nbytes"] / 1e6,
                ratio=summary["compression_ratio"], bound=summary["error_bound"]))
        return _("Saved {name}").format(name=os.path.basename(summary["output"]))

    def onLoadCompressed(self) -> None:
        path = qt.QFileDialog.getOpenFileName(slicer.util.mainWindow(), _("Load compressed volume"),
                                              qt.QDir.homePath(), _("Compressed volume") + f" (*{COMPRESSED_SUFFIX})")
        if path:
            self.jobs.start(_("Loading"), lambda: self.logic.start_load(path, slicer.mrmlScene), self._onLoaded)

    def _onLoaded(self, job: Any) -> str:
        node = self.logic.finish_load(job)
        slicer.util.setSliceViewerLayers(background=node, fit=True)
        return _("Loaded {name}").format(name=node.GetName())

    def onInstallDependencies(self) -> None:
        if offerDependencies(dependencies.COMPRESS_PANEL_REQUIREMENTS):
            slicer.util.infoDisplay(_("Packages installed. Restart Slicer to use codecs that were missing."))
        self._updateDependencyLabel()

    def _updateDependencyLabel(self) -> None:
        showMissingDependencies(self.ui, dependencies.COMPRESS_PANEL_REQUIREMENTS,
                                _("Missing Python packages (codecs of missing packages are not offered): "))


def _setComboItems(comboBox: Any, items: list[str], current: str) -> None:
    wasBlocked = comboBox.blockSignals(True)
    if [comboBox.itemText(i) for i in range(comboBox.count)] != items:
        comboBox.clear()
        comboBox.addItems(items)
    comboBox.setCurrentIndex(max(comboBox.findText(current), 0) if items else -1)
    comboBox.blockSignals(wasBlocked)


def _modeHelp(codec: str, mode: str) -> str:
    if not codec or not mode:
        return _("No codec is available: install the missing packages.")
    found = get_codec(codec).modes[mode]
    return f"{found.help}{' (' + _('lossless') + ')' if found.lossless else ''}"


def _settingToolTip(setting: Setting) -> str:
    if setting.choices:
        valid = ", ".join(str(c) for c in setting.choices)
    else:
        valid = f"{setting.minimum} to {setting.maximum}{' ' + setting.unit if setting.unit else ''}"
    return f"{setting.help}\n" + _("Valid: {range}").format(range=valid)
