"""The module-widget shell the CerebroBench module files share: it builds the module's panel and forwards
Slicer's calls (enter, exit, cleanup, reload) to it. Needs the Slicer application (``slicer.ScriptedLoadableModule``);
only module files import it.
"""

from __future__ import annotations

from typing import Any

from slicer.ScriptedLoadableModule import ScriptedLoadableModuleWidget

from CerebroLib.slicer_ui import reloadCerebroLib


class PanelModuleWidget(ScriptedLoadableModuleWidget):
    """A scripted module's widget whose whole content is the panel returned by :meth:`createPanel`."""

    def __init__(self, parent: Any = None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        self.logic: Any = None
        self.panel: Any = None

    def createPanel(self) -> Any:
        """The module's panel (a CerebroLib ``Panel``), given the module's logic; defined by each module."""
        raise NotImplementedError

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        self.panel = self.createPanel()
        self.logic = self.panel.logic
        self.layout.addWidget(self.panel.uiWidget)

    def enter(self) -> None:
        self.panel.enter()

    def exit(self) -> None:
        self.panel.exit()

    def cleanup(self) -> None:
        if self.panel is not None:
            self.panel.cleanup()

    def onReload(self) -> None:
        reloadCerebroLib()
        ScriptedLoadableModuleWidget.onReload(self)
