"""Panel helpers shared by the CerebroBench module files: installing dependencies, the panel's background jobs
(a QTimer over :class:`CerebroLib.jobs.JobController`), and the parameter-node plumbing of a module widget.

Unlike the rest of CerebroLib this file needs the Slicer application (``slicer.util`` dialogs, ``qt``), so only
module files import it, never the logic; ``qt`` is imported inside the functions that use it. What these
helpers decide (which packages are missing, how torch is installed) lives in :mod:`CerebroLib.dependencies`.
"""

from __future__ import annotations

import logging
import unittest
from collections.abc import Callable, Mapping
from typing import Any

import slicer
import vtk
from slicer.util import VTKObservationMixin

from cerebro.errors import CerebroError
from CerebroLib import dependencies
from CerebroLib.jobs import CliJob, JobController, PanelStatus

# CerebroLib's files in import order: each only imports files before it.
CEREBROLIB_IMPORT_ORDER = ("i18n", "dependencies", "mrml", "jobs", "compress_logic", "segment_logic",
                           "benchmark_logic", "parameters", "slicer_ui", "compress_widget", "segment_widget",
                           "benchmark_widget", "module_widget")


def reloadCerebroLib() -> None:
    """Reload the loaded ``CerebroLib`` files in import order (a module's *Reload* in developer mode reloads only
    the module file itself)."""
    import importlib
    import sys

    for name in CEREBROLIB_IMPORT_ORDER:
        if f"CerebroLib.{name}" in sys.modules:
            importlib.reload(sys.modules[f"CerebroLib.{name}"])


class InstallFailed(CerebroError):
    """Installing packages failed; ``shownToUser`` when Slicer has already shown the error (and its log) itself."""

    def __init__(self, message: str, shownToUser: bool = False) -> None:
        super().__init__(message)
        self.shownToUser = shownToUser


def slicerShowsPipDialogs() -> bool:
    """True where ``slicer.util.pip_install`` shows its own progress and error dialogs (Slicer >= 5.12, which has
    ``slicer.packaging``; not in testing mode, where it installs without them)."""
    import importlib.util

    try:
        hasPackaging = importlib.util.find_spec("slicer.packaging") is not None
    except (ImportError, ValueError):
        hasPackaging = False
    return hasPackaging and not slicer.app.testingEnabled()


def pipInstall(requirements: list[str]) -> None:
    """``slicer.util.pip_install`` of ``requirements`` (wheels preferred); InstallFailed if pip fails.

    Slicer >= 5.12 shows a progress dialog and, on failure, an error dialog with pip's log, naming the requester;
    older versions show nothing, so a wait cursor is shown here and the caller shows the error.
    """
    # Wheels first: for Python 3.9 some newest releases are source-only (zfpy 1.0.1.post0 does not build).
    arguments = ["--prefer-binary", *requirements]
    shownBySlicer = slicerShowsPipDialogs()
    try:
        if shownBySlicer:
            slicer.util.pip_install(arguments, requester="CerebroBench")
        else:
            with slicer.util.WaitCursor():
                slicer.util.pip_install(arguments)
    except Exception as error:  # CalledProcessError, or OSError when pip cannot start
        raise InstallFailed(f"installing {', '.join(requirements)} failed: {error}", shownBySlicer) from error


def askInstallDependencies(requirements: Mapping[str, str]) -> bool:
    """Ask, then install the missing ``requirements`` into Slicer's Python; True if something was installed.

    torch goes through the SlicerPyTorch extension when it is installed (it picks the wheel for the GPU
    driver, and asks itself); everything else is pip-installed after one question. InstallFailed if it fails.
    """
    missing = dependencies.missing_requirements(requirements)
    if not missing:
        return False
    viaExtension, pipList = dependencies.split_torch(missing, dependencies.is_importable("PyTorchUtils"))
    if not slicer.util.confirmOkCancelDisplay(dependencies.install_prompt(missing)):
        return False
    if viaExtension:
        import PyTorchUtils

        requirement = dependencies.TORCH_REQUIREMENT[len("torch"):]
        with slicer.util.WaitCursor():
            installed = PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False,
                                                                      torchVersionRequirement=requirement)
        if installed is None:
            raise InstallFailed("PyTorch was not installed; install it from the PyTorch module of Slicer")
    if pipList:
        pipInstall(pipList)
    return True


def offerDependencies(requirements: Mapping[str, str]) -> bool | None:
    """:func:`askInstallDependencies`, never raising: a panel calling it while it is built must still be built (e.g.
    offline). True if something was installed, False if nothing was (nothing missing, or the user declined), None
    if the install failed -- its error has then been shown, once (by Slicer >= 5.12 itself, or here)."""
    from CerebroLib.i18n import tr as _

    try:
        return askInstallDependencies(requirements)
    except InstallFailed as error:
        if not error.shownToUser:
            slicer.util.errorDisplay(str(error))
    except Exception as error:  # noqa: BLE001 - a failed install must reach the user, not the console
        slicer.util.errorDisplay(_("Installing the packages failed: {error}").format(error=error))
    return None


def missingForSelfTest(requirements: Mapping[str, str]) -> str | None:
    """Why a self-test must skip, or None: self-tests never install anything (no network on build machines)."""
    missing = dependencies.missing_requirements(requirements)
    if not missing:
        return None
    return "skipped: these Python packages are not installed in Slicer: " + ", ".join(missing) + \
        " (install them from the module panel, then run the self-test again)"


class SelfTestSteps:
    """What the modules' self-tests (``ScriptedLoadableModuleTest``) share: the skip and the steps.

    Two runners call a self-test. The ctest that ``slicer_add_python_unittest`` registers runs
    ``slicer.testing.runUnitTest``, which loads the ``test_*`` methods as unittest cases: ``setUp`` runs before each,
    ``runTest`` never. The module's *Reload and Test* calls ``runTest``. So the test's ``setUp`` calls
    :meth:`skipUnlessInstalled` (a missing package is a skip with its reason for both), and ``runTest`` runs
    ``steps`` (method names), each between ``setUp`` and ``tearDown``, showing the reason instead of failing.
    """

    requirements: Mapping[str, str] = {}
    steps: tuple[str, ...] = ()

    def skipUnlessInstalled(self) -> None:
        """Skip the test (unittest.SkipTest with the reason) when a package of ``requirements`` is missing."""
        reason = missingForSelfTest(self.requirements)
        if reason is not None:
            self.skipTest(reason)

    def runTest(self) -> None:
        for step in self.steps:
            try:
                self.setUp()
            except unittest.SkipTest as skip:
                self.delayDisplay(str(skip))
                logging.warning(str(skip))
                return
            try:
                getattr(self, step)()
            finally:
                self.tearDown()


def reportFileError(parent: Any, text: str) -> None:
    """Report a failure of a scripted file reader or writer whose ``parent`` is the IO manager's reader/writer: in its
    user messages (shown by the Add Data / Save dialogs, as Slicer's SlicerScriptedFileReaderWriterTest does) and
    in the log."""
    logging.error(text)
    userMessages = getattr(parent, "userMessages", None)
    if userMessages is not None:
        userMessages().AddMessage(vtk.vtkCommand.ErrorEvent, text)


def showMissingDependencies(ui: Any, requirements: Mapping[str, str], text: str) -> list[str]:
    """Show the missing ``requirements`` after ``text`` on the panel's ``dependenciesLabel`` and show its
    ``installDependenciesButton``; both are hidden when nothing is missing. Returns the missing requirements."""
    missing = dependencies.missing_requirements(requirements)
    ui.dependenciesLabel.text = text + ", ".join(missing)
    ui.dependenciesLabel.visible = bool(missing)
    ui.installDependenciesButton.visible = bool(missing)
    return missing


def ensureDependencies(ui: Any, requirements: Mapping[str, str], neededBy: str) -> bool:
    """Offer to install the missing ``requirements`` (first use), then show what is still missing on the panel and,
    if anything is (and no failed install has just said so), say so in a dialog naming ``neededBy`` (e.g.
    "Segmentation"); True when nothing is missing."""
    from CerebroLib.i18n import tr as _

    failed = offerDependencies(requirements) is None  # then the failure has been shown: no second dialog
    missing = showMissingDependencies(ui, requirements, _("Missing Python packages (installed on first use): "))
    if missing and not failed:
        slicer.util.errorDisplay(_("{task} needs these Python packages: ").format(task=neededBy) + ", ".join(missing))
    return not missing


def showPanelStatus(ui: Any, status: PanelStatus) -> None:
    """Show a job's ``status`` on a panel with ``progressBar``, ``statusLabel`` and ``cancelButton``."""
    ui.progressBar.visible = status.busy
    ui.progressBar.value = int(round(100 * status.fraction))
    ui.statusLabel.text = status.text
    ui.cancelButton.enabled = status.busy


class PanelJobs:
    """A panel's background work: a :class:`~CerebroLib.jobs.JobController` ticked by a QTimer on the GUI thread.

    Slicer stays responsive while the job's process works; every ending (success, cancel, failure, an error while
    taking the result in) resets the panel through ``show`` and reports errors with ``show_error`` (a dialog).
    """

    def __init__(self, show: Callable[[PanelStatus], None], show_error: Callable[[str], None] | None = None,
                 intervalMs: int = 200) -> None:
        import qt

        self.controller = JobController(show, show_error or slicer.util.errorDisplay)
        self._timer = qt.QTimer()
        self._timer.setInterval(intervalMs)
        self._timer.connect("timeout()", self._tick)

    @property
    def busy(self) -> bool:
        """True while a job runs."""
        return self.controller.busy

    def start(self, title: str, begin: Callable[[], CliJob], onSuccess: Callable[[CliJob], str]) -> None:
        """Start the job made by ``begin()``; ``onSuccess(job)`` takes its result in and returns the status text."""
        if self.controller.start(title, begin, onSuccess):
            self._timer.start()

    def _tick(self) -> None:
        self.controller.tick()
        if not self.controller.busy:
            self._timer.stop()

    def cancel(self) -> None:
        """Cancel the running job (its process is terminated) and reset the panel."""
        self._timer.stop()
        self.controller.cancel()


class ParameterNodeWidgetMixin:
    """The parameter-node plumbing of a scripted module widget: enter/exit, scene close, connect/disconnect the GUI.

    Put it first among the widget's bases (before ``ScriptedLoadableModuleWidget`` and ``VTKObservationMixin``).
    The widget provides ``self.logic`` (with ``getParameterNode()``), ``self.ui``, ``updateGuiFromParameterNode``
    and, if it has defaults of its own to fill in, ``setDefaultParameters``; its parameter node has an
    ``inputVolume``. Widgets with the ``SlicerParameterName`` property in the .ui file are connected automatically;
    the widget keeps the rest in sync in ``updateGuiFromParameterNode``.
    """

    _parameterNode: Any = None
    _parameterNodeGuiTag: Any = None

    def observeSceneClose(self) -> None:
        """Drop the parameter node while the scene closes and take the new one afterwards (call in ``setup``)."""
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self.setParameterNode(None)

    def onSceneStartClose(self, caller: Any, event: Any) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller: Any, event: Any) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        """Take the logic's parameter node; fill in the first scalar volume and the widget's own defaults."""
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                self._parameterNode.inputVolume = firstVolumeNode
        self.setDefaultParameters()

    def setDefaultParameters(self) -> None:
        """Hook: fill in the module's own parameters that are unset or no longer valid (nothing by default)."""

    def setParameterNode(self, inputParameterNode: Any) -> None:
        """Disconnect the GUI from the current parameter node, then connect it to ``inputParameterNode`` (or None)."""
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGuiFromParameterNode)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGuiFromParameterNode)
            self.updateGuiFromParameterNode()


class Panel(ParameterNodeWidgetMixin, VTKObservationMixin):
    """What the module panels share: the .ui at ``uiPath`` with the scene set, ``logic`` (the module's logic, given
    as an argument), ``parent`` (the module's, for ``isEntered``), the panel's job runner, scene-close handling, and
    Cancel. A panel sets up its own widgets after ``Panel.__init__``, then calls ``initializeParameterNode()``."""

    def __init__(self, uiPath: str, logic: Any, parent: Any) -> None:
        VTKObservationMixin.__init__(self)
        self.parent, self.logic = parent, logic
        self.uiWidget = slicer.util.loadUI(uiPath)
        self.ui = slicer.util.childWidgetVariables(self.uiWidget)
        self.uiWidget.setMRMLScene(slicer.mrmlScene)
        self.jobs = PanelJobs(self.showStatus)
        self.observeSceneClose()
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)

    def cleanup(self) -> None:
        if self.jobs.busy:
            self.jobs.cancel()
        super().cleanup()

    def onCancelButton(self) -> None:
        if self.jobs.busy:
            self.jobs.cancel()

    def showStatus(self, status: PanelStatus) -> None:
        """Show a job's status (progress bar, status line, Cancel) and bring the buttons up to date."""
        showPanelStatus(self.ui, status)
        self.updateGuiFromParameterNode()

