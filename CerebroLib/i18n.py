"""Translatable strings for the CerebroBench panels: Slicer's own ``tr`` / ``translate`` (``slicer.i18n``, Slicer 5.4+).

Outside the Slicer application (the ``slicer-core`` wheel under pytest) there is no translation layer, and the
text is returned as it is.
"""

from __future__ import annotations

try:
    from slicer.i18n import tr, translate
except ImportError:  # the slicer-core wheel has MRML only

    def tr(text: str) -> str:
        """``text`` in the user's language (here: as it is)."""
        return text

    def translate(context: str, text: str) -> str:
        """``text`` of translation ``context`` in the user's language (here: as it is)."""
        return text


__all__ = ["tr", "translate"]
