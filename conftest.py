"""Repository-level pytest setup: make the Slicer-side library ``CerebroLib`` importable.

Inside Slicer, ``CerebroLib`` is installed next to the scripted modules; in a checkout it lives in
``CerebroCompress/CerebroLib`` (see docs/slicer.md), so the tests put that folder on ``sys.path``.
"""

import sys
from pathlib import Path

_CEREBROLIB_PARENT = str(Path(__file__).resolve().parent / "CerebroCompress")
if _CEREBROLIB_PARENT not in sys.path:
    sys.path.insert(0, _CEREBROLIB_PARENT)
