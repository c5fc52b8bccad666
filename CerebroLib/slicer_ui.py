"""Panel helpers shared by the CerebroBench module files: installing dependencies, progress, polling jobs,
and the parameter-node plumbing of a module widget.

Unlike the rest of CerebroLib this file needs the Slicer application (``slicer.util`` dialogs, ``qt``), so only
module files import it, never the logic; ``qt`` is imported inside the functions that use it. What these
helpers decide (which packages are missing, how torch is installed) lives in :mod:`CerebroLib.dependencies`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import slicer
import vtk

from cerebro.errors import Cancelled, CerebroError
from cerebro.progress import Progress
from CerebroLib import dependencies


def askInstallDependencies(requirements: Mapping[str, str]) -> bool:
    """Ask, then install the missing ``requirements`` into Slicer's Python; True if something was installed.

    torch goes through the SlicerPyTorch extension when it is installed (it picks the wheel for the GPU
    driver, and asks itself); everything else is pip-installed after one question.
    """
    missing = dependencies.missing_requirements(requirements)
    if not missing:
        return False
    viaExtension, pipList = dependencies.split_torch(missing, dependencies.is_importable("PyTorchUtils"))
    if not slicer.util.confirmOkCancelDisplay(dependencies.install_prompt(missing)):
        return False
    with slicer.util.WaitCursor():
        if viaExtension:
            import PyTorchUtils

            requirement = dependencies.TORCH_REQUIREMENT[len("torch"):]
            if PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False,
                                                             torchVersionRequirement=requirement) is None:
                raise CerebroError("PyTorch was not installed; install it from the PyTorch module of Slicer")
        if pipList:
            slicer.util.pip_install(pipList)
    return True


def installDependenciesUnattended(requirements: Mapping[str, str]) -> None:
    """Install the missing ``requirements`` without asking (self-tests: running one is the consent)."""
    missing = dependencies.missing_requirements(requirements)
    if missing:
        slicer.util.pip_install(missing)


def showMissingDependencies(ui: Any, requirements: Mapping[str, str], text: str) -> list[str]:
    """Show the missing ``requirements`` after ``text`` on the panel's ``dependenciesLabel`` and show its
    ``installDependenciesButton``; both are hidden when nothing is missing. Returns the missing requirements."""
    missing = dependencies.missing_requirements(requirements)
    ui.dependenciesLabel.text = text + ", ".join(missing)
    ui.dependenciesLabel.visible = bool(missing)
    ui.installDependenciesButton.visible = bool(missing)
    return missing


def runWithProgress(title: str, work: Callable[[Progress], Any]) -> Any:
    """Run ``work(progress)`` under a modal progress dialog with Cancel; show errors; None if it failed."""
    dialog = slicer.util.createProgressDialog(windowTitle=title, labelText=title, maximum=100)

    def update(fraction: float, message: str) -> None:
        dialog.value = int(round(100 * fraction))
        dialog.labelText = message or title
        slicer.app.processEvents()

    try:
        return work(Progress(on_update=update, is_cancelled=lambda: dialog.wasCanceled))
    except Cancelled:
        logging.info(f"{title} cancelled")
        return None
    except CerebroError as error:
        slicer.util.errorDisplay(str(error))
        return None
    finally:
        dialog.close()


class JobPoller:
    """Polls a background job (``poll() -> JobState``) with a QTimer and reports each state to ``onState``.

    The timer runs on the GUI thread, so Slicer stays responsive while the job works elsewhere; polling stops
    by itself when the job has finished (``onState`` then sees ``state.finished``).
    """

    def __init__(self, job: Any, onState: Callable[[Any], None], intervalMs: int = 200) -> None:
        import qt

        self.job = job
        self._onState = onState
        self._timer = qt.QTimer()
        self._timer.setInterval(intervalMs)
        self._timer.connect("timeout()", self._tick)
        self._timer.start()

    def _tick(self) -> None:
        state = self.job.poll()
        if state.finished:
            self._timer.stop()
        self._onState(state)

    def cancel(self) -> None:
        """Cancel the job and report its final state."""
        self._timer.stop()
        self.job.cancel()
        self._onState(self.job.poll())

    @property
    def running(self) -> bool:
        """True while the timer still polls the job."""
        return bool(self._timer.isActive())


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
