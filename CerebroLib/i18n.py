"""Translatable strings for the CerebroBench panels: Slicer's own translation (``slicer.i18n``, Slicer 5.4+), each text
translated once.

Slicer 5.6's ``slicer.i18n.tr`` finds its caller's file with ``inspect.stack()`` on every call, which reads the source
lines of the whole stack (milliseconds a call; 5.8 made it cheaper), and panels call ``_()`` on every refresh of their
GUI and every tick of a running job. Here the caller's file comes from its frame and each (context, text) is translated
once and kept (Slicer's language changes only at a restart). The context is Slicer's (``getContext`` of the calling
file) and, as Slicer 5.12 does, a translation whose ``{placeholders}`` differ from the text's is not used. The panels
import ``tr as _``, so Qt's lupdate finds their strings as before.

Outside the Slicer application (the ``slicer-core`` wheel under pytest) there is no translation layer, and the text is
returned as it is.
"""

from __future__ import annotations

import functools
import re
import sys

try:
    from slicer.i18n import getContext
    from slicer.i18n import translate as _slicer_translate
except ImportError:  # the slicer-core wheel has MRML only
    getContext = None


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"(?<!\{)\{([^{}]+)\}(?!\})", text))


if getContext is None:

    def translate(context: str, text: str) -> str:
        """``text`` of translation ``context`` in the user's language (here: as it is)."""
        return text

    def tr(text: str) -> str:
        """``text`` in the user's language (here: as it is)."""
        return text

else:
    _context = functools.cache(getContext)

    @functools.cache
    def translate(context: str, text: str) -> str:
        """``text`` of translation ``context`` in the user's language, translated once."""
        translated = _slicer_translate(context, text)
        return translated if _placeholders(translated) == _placeholders(text) else text

    def tr(text: str) -> str:
        """``text`` in the user's language, in the translation context of the calling file (as ``slicer.i18n.tr``)."""
        return translate(_context(sys._getframe(1).f_code.co_filename), text)


__all__ = ["tr", "translate"]
