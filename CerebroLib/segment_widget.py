"""The CerebroSegment panel: input volume, model (with its weights status and Download), device, options,
Segment / Cancel, progress and status.

It takes its logic object as an argument (``CerebroSegmentLogic`` of the module file: the CerebroLib logic plus
the parameter node) and does no work itself: segmentation and downloads go through the panel's job runner
(:class:`CerebroLib.slicer_ui.PanelJobs`), so Slicer stays usable and every ending resets the panel. Needs the
Slicer application (``slicer.util``).
"""

from __future__ import annotations

import logging
from typing import Any

import slicer

from cerebro.modality import MODALITY_CHOICES
from CerebroLib import dependencies
from CerebroLib.i18n import tr as _
from CerebroLib.segment_logic import device_choices, model_choices, preferred_model
from CerebroLib.slicer_ui import Panel, ensureDependencies, showMissingDependencies


class SegmentPanel(Panel):
    """The panel of CerebroSegment, built from ``uiPath`` around ``logic``; ``parent`` is the module's parent."""

    def __init__(self, uiPath: str, logic: Any, parent: Any) -> None:
        super().__init__(uiPath, logic, parent)
        self._choices: dict[str, Any] = {}
        self.ui.deviceComboBox.addItems(list(device_choices()))
        self.ui.modalityComboBox.addItems(list(MODALITY_CHOICES))
        self._refreshModels()

        self.ui.modelComboBox.connect("currentIndexChanged(int)", self.onModelChanged)
        self.ui.deviceComboBox.connect("currentTextChanged(QString)", self.onDeviceChanged)
        self.ui.modalityComboBox.connect("currentTextChanged(QString)", self.onModalityChanged)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.downloadButton.connect("clicked(bool)", self.onDownloadButton)
        self.ui.installDependenciesButton.connect("clicked(bool)", self.onInstallDependencies)
        self._updateDependencyLabel()
        self.initializeParameterNode()

    def setDefaultParameters(self) -> None:
        if self._parameterNode.model not in self._choices:
            self._parameterNode.model = preferred_model()

    # --- parameter node <-> panel ------------------------------------------------------------------------

    def _refreshModels(self) -> None:
        """Rebuild the model list with the current download status of each model."""
        self._choices = {choice.id: choice for choice in model_choices(self.logic.cache_dir)}
        comboBox = self.ui.modelComboBox
        wasBlocked = comboBox.blockSignals(True)
        comboBox.clear()
        for choice in self._choices.values():
            comboBox.addItem(f"{choice.id}  ({choice.status})", choice.id)
        comboBox.blockSignals(wasBlocked)

    def updateGuiFromParameterNode(self, caller: Any = None, event: Any = None) -> None:
        """Input volume and check boxes follow the .ui file; model and device (the model list depends on the
        catalog and the cache), the model status and the buttons are kept in sync here."""
        if self._parameterNode is None:
            return
        p = self._parameterNode
        for comboBox, index in ((self.ui.modelComboBox, self.ui.modelComboBox.findData(p.model)),
                                (self.ui.deviceComboBox, self.ui.deviceComboBox.findText(p.device)),
                                (self.ui.modalityComboBox, self.ui.modalityComboBox.findText(p.modality))):
            wasBlocked = comboBox.blockSignals(True)
            comboBox.setCurrentIndex(max(index, 0))
            comboBox.blockSignals(wasBlocked)
        choice = self._choices.get(p.model)
        self.ui.modalityComboBox.enabled = bool(choice and choice.routes)
        self.ui.modelStatusLabel.text = f"{choice.status}. {choice.description}" if choice else ""
        self.ui.modelStatusLabel.toolTip = choice.description if choice else ""
        busy = self.jobs.busy
        self.ui.downloadButton.enabled = bool(choice and choice.needs_download and not busy)
        self.ui.applyButton.enabled = bool(p.inputVolume and choice and not busy)

    def onModelChanged(self, index: int) -> None:
        if self._parameterNode is not None and index >= 0:
            self._parameterNode.model = self.ui.modelComboBox.itemData(index)

    def onDeviceChanged(self, device: str) -> None:
        if self._parameterNode is not None and device:
            self._parameterNode.device = device

    def onModalityChanged(self, modality: str) -> None:
        if self._parameterNode is not None and modality:
            self._parameterNode.modality = modality

    # --- actions -----------------------------------------------------------------------------------------

    def onApplyButton(self) -> None:
        if not self._ensureDependencies():
            return
        p = self._parameterNode
        self.jobs.start(
            _("Segmentation"),
            lambda: self.logic.start(p.inputVolume, p.model, p.device, p.tta, p.probabilities, p.allowUnpinned,
                                     p.modality),
            self._onSegmented)

    def onDownloadButton(self) -> None:
        if not self._ensureDependencies():
            return
        p = self._parameterNode
        self.jobs.start(_("Download"), lambda: self.logic.start_download(p.model, p.allowUnpinned),
                        self._onDownloaded)

    def showStatus(self, status: Any) -> None:
        if not status.busy:
            self._refreshModels()  # a run or download may have filled the cache
        super().showStatus(status)

    def _onSegmented(self, job: Any) -> str:
        output = self.logic.finish(job)
        names = ", ".join(output.labels[v] for v in sorted(output.labels) if v != 0)
        text = _("Segmentation: {name} ({labels})").format(name=output.segmentation_node.GetName(), labels=names)
        if output.route:
            text += "\n" + _("Model: {model} ({why})").format(model=output.model_id, why=output.route)
        if output.probability_node is not None:
            text += "\n" + _("Probability volume: {name}").format(name=output.probability_node.GetName())
        for warning in output.warnings:
            logging.warning(warning)
            text += "\n" + _("Warning: {warning}").format(warning=warning)
        slicer.util.setSliceViewerLayers(background=job.context.reference_node, fit=True)
        return text

    def _onDownloaded(self, job: Any) -> str:
        job.checked_result()
        return _("Model downloaded.")

    def _ensureDependencies(self) -> bool:
        """Ask to install missing packages (first use); False if some are still missing."""
        return ensureDependencies(self.ui, dependencies.SEGMENT_MODULE_REQUIREMENTS, _("Segmentation"))

    def onInstallDependencies(self) -> None:
        self._ensureDependencies()

    def _updateDependencyLabel(self) -> list[str]:
        """Show the missing packages on the panel; returns them."""
        return showMissingDependencies(self.ui, dependencies.SEGMENT_MODULE_REQUIREMENTS,
                                       _("Missing Python packages (installed on first use): "))
