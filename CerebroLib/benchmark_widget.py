"""The CerebroBenchmark panel: cases (a scene volume with an optional reference segmentation, or a dataset),
compression settings (presets or one ``codec:mode:name=value`` per line), models with their weights status, run
options, the results folder; Run / Open / Report / Cancel; the limits ("how far can I compress?") and the search;
showing a record.

It takes its logic object as an argument (``CerebroBenchmarkLogic`` of the module file: the CerebroLib logic plus
the parameter node) and does no work itself: runs, searches, reports and decoding go through the panel's job
runner (:class:`CerebroLib.slicer_ui.PanelJobs`), so Slicer stays usable. Needs the Slicer application.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import slicer

from cerebro.benchmark.sweep import parse_setting_lines
from cerebro.codecs.base import lossy_codecs
from cerebro.datasets.manifest import SUFFIXES as MANIFEST_SUFFIXES
from cerebro.errors import CerebroError
from cerebro.modality import MODALITY_CHOICES
from CerebroLib import dependencies
from CerebroLib.benchmark_logic import LAYOUTS, METRIC_SETS, PRESETS, SOURCES
from CerebroLib.i18n import tr as _
from CerebroLib.segment_logic import device_choices, model_choices
from CerebroLib.slicer_ui import Panel, ensureDependencies, showMissingDependencies

SOURCE_TITLES = {"scene": "Scene volume", "dataset": "Dataset folder", "manifest": "Dataset manifest file"}
SCENE_ROWS = ("inputVolume", "reference", "referenceSegment", "sceneModality")
DATASET_ROWS = ("dataset", "layout", "maxCases")


class BenchmarkPanel(Panel):
    """The panel of CerebroBenchmark, built from ``uiPath`` around ``logic``; ``parent`` is the module's parent."""

    def __init__(self, uiPath: str, logic: Any, parent: Any) -> None:
        super().__init__(uiPath, logic, parent)
        import ctk

        self.nodes: Any = None
        ui = self.ui
        for key in SOURCES:
            ui.sourceComboBox.addItem(_(SOURCE_TITLES[key]), key)
        ui.layoutComboBox.addItems(list(LAYOUTS))
        ui.presetComboBox.addItem(_("(choose a preset)"))
        ui.presetComboBox.addItems(list(PRESETS))
        ui.deviceComboBox.addItems(list(device_choices()))
        ui.sceneModalityComboBox.addItems(list(MODALITY_CHOICES))
        ui.metricsComboBox.addItems(list(METRIC_SETS))
        ui.againstComboBox.addItems(["truth", "uncompressed"])
        ui.searchCodecComboBox.addItems(lossy_codecs())
        # ctkPathLineEdit opens a file dialog whenever Files is among its filters, so a folder and a manifest are
        # separate choices of the source; the path field follows the choice (_showDatasetPathKind).
        self._manifestFilter = _("Dataset manifest") + " (" + " ".join(f"*{s}" for s in MANIFEST_SUFFIXES) + ")"
        ui.storePathLineEdit.filters = ctk.ctkPathLineEdit.Dirs
        self._refreshModels()

        ui.sourceComboBox.connect("currentIndexChanged(int)", self.onSourceChanged)
        for comboBox, name in ((ui.layoutComboBox, "layout"), (ui.deviceComboBox, "device"),
                               (ui.metricsComboBox, "metrics"), (ui.againstComboBox, "against"),
                               (ui.searchCodecComboBox, "searchCodec"), (ui.sceneModalityComboBox, "sceneModality")):
            comboBox.connect("currentTextChanged(QString)", lambda text, name=name: self._set(name, text))
        ui.referenceSegmentComboBox.connect("currentIndexChanged(int)", self.onReferenceSegmentChanged)
        ui.presetComboBox.connect("currentIndexChanged(int)", self.onPresetChosen)
        ui.settingsTextEdit.connect("textChanged()", self.onSettingsEdited)
        ui.modelsListWidget.connect("itemChanged(QListWidgetItem*)", self.onModelsChanged)
        ui.datasetPathLineEdit.connect("currentPathChanged(QString)", lambda path: self._set("datasetPath", path))
        ui.storePathLineEdit.connect("currentPathChanged(QString)", lambda path: self._set("storePath", path))
        ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        ui.openButton.connect("clicked(bool)", self.onOpenButton)
        ui.reportButton.connect("clicked(bool)", self.onReportButton)
        ui.limitsButton.connect("clicked(bool)", self.onLimitsButton)
        ui.searchButton.connect("clicked(bool)", self.onSearchButton)
        ui.showButton.connect("clicked(bool)", self.onShowButton)
        ui.resultsTableView.connect("doubleClicked(QModelIndex)", lambda index: self.onShowButton())
        ui.installDependenciesButton.connect("clicked(bool)", self.onInstallDependencies)
        self._updateDependencyLabel()
        self.initializeParameterNode()

    # --- parameter node <-> panel ------------------------------------------------------------------------

    def _set(self, name: str, value: Any) -> None:
        if self._parameterNode is not None and getattr(self._parameterNode, name) != value:
            setattr(self._parameterNode, name, value)

    def _refreshModels(self) -> None:
        """The model list: one checkable row per catalog model with the state of its weights."""
        import qt

        widget = self.ui.modelsListWidget
        wasBlocked = widget.blockSignals(True)
        widget.clear()
        for choice in model_choices(self.logic.cache_dir):
            item = qt.QListWidgetItem(f"{choice.id}  ({choice.status})")
            item.setData(qt.Qt.UserRole, choice.id)
            item.setToolTip(choice.description)
            item.setFlags(item.flags() | qt.Qt.ItemIsUserCheckable)
            item.setCheckState(qt.Qt.Unchecked)
            widget.addItem(item)
        widget.blockSignals(wasBlocked)

    def _chosenModels(self) -> list[str]:
        return [m for m in (self._parameterNode.models or "").split(",") if m]

    def updateGuiFromParameterNode(self, caller: Any = None, event: Any = None) -> None:
        if self._parameterNode is None:
            return
        import qt

        p, ui = self._parameterNode, self.ui
        for comboBox, value in ((ui.layoutComboBox, p.layout), (ui.deviceComboBox, p.device),
                                (ui.metricsComboBox, p.metrics), (ui.againstComboBox, p.against),
                                (ui.searchCodecComboBox, p.searchCodec),
                                (ui.sceneModalityComboBox, p.sceneModality)):
            wasBlocked = comboBox.blockSignals(True)
            comboBox.setCurrentIndex(max(comboBox.findText(value), 0))
            comboBox.blockSignals(wasBlocked)
        wasBlocked = ui.sourceComboBox.blockSignals(True)
        ui.sourceComboBox.setCurrentIndex(max(ui.sourceComboBox.findData(p.source), 0))
        ui.sourceComboBox.blockSignals(wasBlocked)
        self._updateSegments()
        if ui.settingsTextEdit.toPlainText() != p.settingsText:
            wasBlocked = ui.settingsTextEdit.blockSignals(True)
            ui.settingsTextEdit.setPlainText(p.settingsText)
            ui.settingsTextEdit.blockSignals(wasBlocked)
        for lineEdit, value in ((ui.datasetPathLineEdit, p.datasetPath), (ui.storePathLineEdit, p.storePath)):
            if lineEdit.currentPath != value:
                wasBlocked = lineEdit.blockSignals(True)
                lineEdit.currentPath = value
                lineEdit.blockSignals(wasBlocked)
        chosen = set(self._chosenModels())
        wasBlocked = ui.modelsListWidget.blockSignals(True)
        for row in range(ui.modelsListWidget.count):
            item = ui.modelsListWidget.item(row)
            item.setCheckState(qt.Qt.Checked if item.data(qt.Qt.UserRole) in chosen else qt.Qt.Unchecked)
        ui.modelsListWidget.blockSignals(wasBlocked)
        scene = p.source == "scene"
        for name in SCENE_ROWS:
            getattr(ui, f"{name}Label").visible = scene
        ui.inputVolumeSelector.visible = ui.referenceSelector.visible = scene
        ui.referenceSegmentComboBox.visible = ui.sceneModalityComboBox.visible = scene
        for name in DATASET_ROWS:
            getattr(ui, f"{name}Label").visible = not scene
        ui.datasetPathLineEdit.visible = ui.maxCasesSpinBox.visible = not scene
        ui.layoutComboBox.visible = ui.layoutLabel.visible = p.source == "dataset"  # a manifest lists its files
        self._showDatasetPathKind(p.source)
        busy = self.jobs.busy
        hasInput = bool(p.inputVolume) if scene else bool(p.datasetPath)
        hasStore = bool(p.storePath) and (Path(p.storePath) / "results.jsonl").is_file()
        ui.applyButton.enabled = hasInput and bool(chosen) and not busy
        ui.searchButton.enabled = hasInput and bool(chosen) and not busy
        ui.openButton.enabled = ui.limitsButton.enabled = ui.reportButton.enabled = hasStore and not busy
        ui.showButton.enabled = self.nodes is not None and ui.caseComboBox.count > 0 and not busy

    def _showDatasetPathKind(self, source: str) -> None:
        """The dataset path field browses for a folder (source "dataset") or a manifest file (source "manifest")."""
        import ctk

        lineEdit = self.ui.datasetPathLineEdit
        if source == "manifest":
            filters, nameFilters = ctk.ctkPathLineEdit.Files | ctk.ctkPathLineEdit.Readable, [self._manifestFilter]
        else:
            filters, nameFilters = ctk.ctkPathLineEdit.Dirs, []
        if lineEdit.filters != filters:
            lineEdit.filters, lineEdit.nameFilters = filters, nameFilters

    def _updateSegments(self) -> None:
        """The reference segment choices: every segment of the reference segmentation, or all of them."""
        comboBox, p = self.ui.referenceSegmentComboBox, self._parameterNode
        names = [""]
        if p.referenceSegmentation:
            segmentation = p.referenceSegmentation.GetSegmentation()
            names += [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
        wasBlocked = comboBox.blockSignals(True)
        comboBox.clear()
        comboBox.addItems(names)
        comboBox.setItemText(0, _("(all segments)"))
        comboBox.setCurrentIndex(max(names.index(p.referenceSegment) if p.referenceSegment in names else 0, 0))
        comboBox.blockSignals(wasBlocked)

    def onSourceChanged(self, index: int) -> None:
        if index >= 0:
            self._set("source", self.ui.sourceComboBox.itemData(index))

    def onReferenceSegmentChanged(self, index: int) -> None:
        if index >= 0:  # item 0: all segments together
            self._set("referenceSegment", self.ui.referenceSegmentComboBox.itemText(index) if index else "")

    def onPresetChosen(self, index: int) -> None:
        if index > 0:
            self._set("settingsText", "\n".join(PRESETS[self.ui.presetComboBox.itemText(index)]))
            self.ui.presetComboBox.setCurrentIndex(0)

    def onSettingsEdited(self) -> None:
        self._set("settingsText", self.ui.settingsTextEdit.toPlainText())

    def onModelsChanged(self, item: Any) -> None:
        import qt

        widget = self.ui.modelsListWidget
        checked = [widget.item(r).data(qt.Qt.UserRole) for r in range(widget.count)
                   if widget.item(r).checkState() == qt.Qt.Checked]
        self._set("models", ",".join(checked))

    # --- actions -----------------------------------------------------------------------------------------

    def _store(self) -> str:
        """The results folder; a new one in Slicer's temporary folder when none is chosen."""
        p = self._parameterNode
        if not p.storePath:
            name = p.inputVolume.GetName() if p.source == "scene" and p.inputVolume else Path(p.datasetPath).stem
            p.storePath = os.path.join(slicer.app.temporaryPath, "CerebroBench", name or "benchmark")
        return p.storePath

    def _sourcePath(self) -> str:
        """The manifest of the scene input (written into the results folder) or the dataset path."""
        p = self._parameterNode
        if p.source != "scene":
            return p.datasetPath
        segment = p.referenceSegment or None
        return str(self.logic.scene_manifest(p.inputVolume, self._store(), p.referenceSegmentation or None, segment,
                                             p.sceneModality))

    def _options(self) -> dict[str, Any]:
        p = self._parameterNode
        return {"layout": p.layout, "device": p.device, "tta": p.tta, "metrics": p.metrics,
                "max_cases": p.maxCases or None}

    def onApplyButton(self) -> None:
        if not self._ensureDependencies():
            return
        p = self._parameterNode
        try:
            settings = parse_setting_lines(p.settingsText)
            source, store = self._sourcePath(), self._store()
        except CerebroError as error:
            slicer.util.errorDisplay(str(error))
            return
        self.jobs.start(_("Benchmark"), lambda: self.logic.start(
            source, store, settings, self._chosenModels(), max_dice_loss=p.maxDiceLoss, against=p.against,
            **self._options()), self._onFinished)

    def onSearchButton(self) -> None:
        if not self._ensureDependencies():
            return
        p = self._parameterNode
        try:
            source, store = self._sourcePath(), self._store()
        except CerebroError as error:
            slicer.util.errorDisplay(str(error))
            return
        self.jobs.start(_("Search"), lambda: self.logic.start_search(
            source, store, p.searchCodec, p.maxDiceLoss, self._chosenModels()[0], against=p.against,
            **self._options()), self._onFinished)

    def _onFinished(self, job: Any) -> str:
        nodes, result = self.logic.finish(job, slicer.mrmlScene)
        self._showNodes(nodes)
        if "recommended" in result:
            best = result["recommended"]
            if best is None:
                return _("No setting of {codec} stays within the bound.").format(codec=result["codec"])
            return _("Recommended: {setting} (compression ratio {ratio:.1f}, mean Dice loss {loss:+.5f}; "
                     "{n} trials)").format(setting=best["setting"], ratio=best["ratio"], loss=best["mean_loss"],
                                           n=len(result["trials"]))
        return _("{added} new records in {store}").format(added=result.get("added", 0), store=self._store())

    def _load(self) -> Any:
        p = self._parameterNode
        try:
            nodes = self.logic.load_results(p.storePath, slicer.mrmlScene, p.maxDiceLoss, p.against)
        except CerebroError as error:
            slicer.util.errorDisplay(str(error))
            return None
        self._showNodes(nodes)
        return nodes

    def onOpenButton(self) -> None:
        self._load()

    def onLimitsButton(self) -> None:
        nodes = self._load()
        if nodes is not None:
            self._showTable(nodes.limits_table)

    def _showTable(self, tableNode: Any) -> None:
        selection = slicer.app.applicationLogic().GetSelectionNode()
        selection.SetActiveTableID(tableNode.GetID())
        slicer.app.applicationLogic().PropagateTableSelection()

    def _showNodes(self, nodes: Any) -> None:
        """Results table in the panel and the layout's table view, Dice vs CR in the plot view; the case list."""
        self.nodes = nodes
        self.ui.resultsTableView.setMRMLTableNode(nodes.results_table)
        layout = getattr(slicer.vtkMRMLLayoutNode, "SlicerLayoutFourUpPlotTableView",
                         slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpTableView)
        slicer.app.layoutManager().setLayout(layout)
        self._showTable(nodes.results_table)
        slicer.modules.plots.logic().ShowChartInLayout(nodes.dice_vs_ratio_chart)
        self.ui.caseComboBox.clear()
        self.ui.caseComboBox.addItems(self.logic.store_cases(self._parameterNode.storePath))
        self.updateGuiFromParameterNode()

    def onReportButton(self) -> None:
        import qt

        p = self._parameterNode
        path = qt.QFileDialog.getSaveFileName(None, _("Save the HTML report"),
                                              os.path.join(p.storePath, "report.html"), "HTML (*.html)")
        if path:
            self.jobs.start(_("Report"), lambda: self.logic.start_report(p.storePath, path, (p.maxDiceLoss, 0.01),
                                                                         p.against),
                            lambda job: _("Report written: {path}").format(path=job.checked_result()["path"]))

    def onShowButton(self) -> None:
        p = self._parameterNode
        row = self.ui.resultsTableView.currentIndex().row()
        caseId = self.ui.caseComboBox.currentText
        try:
            model, setting = self.logic.row_identity(self.nodes.results_table, row)
            job = self.logic.start_show(p.storePath, caseId, setting, model)
        except CerebroError as error:
            slicer.util.errorDisplay(str(error) + "\n" + _("Select a row of the results table first."))
            return

        def shown(job: Any) -> str:
            record = self.logic.finish_show(job, p.storePath, caseId, setting, model, slicer.mrmlScene)
            slicer.util.setSliceViewerLayers(background=record.volume_node, fit=True)
            return _("Shown: {name}").format(name=record.segmentation_node.GetName())

        if job is None:
            self.ui.statusLabel.text = shown(None)
        else:
            self.jobs.start(_("Decoding"), lambda: job, shown)

    def showStatus(self, status: Any) -> None:
        if not status.busy:
            self._refreshModels()
        super().showStatus(status)

    def _ensureDependencies(self) -> bool:
        """Ask to install missing packages (first use); False if some are still missing."""
        return ensureDependencies(self.ui, dependencies.BENCHMARK_MODULE_REQUIREMENTS, _("The benchmark"))

    def onInstallDependencies(self) -> None:
        self._ensureDependencies()

    def _updateDependencyLabel(self) -> list[str]:
        return showMissingDependencies(self.ui, dependencies.BENCHMARK_MODULE_REQUIREMENTS,
                                       _("Missing Python packages (installed on first use): "))
