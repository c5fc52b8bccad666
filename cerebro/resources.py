"""Memory checks made before large allocations, so that a too-large request is one error line, not a crash."""

from __future__ import annotations

import os

from cerebro.errors import CerebroError

GIB = 1024**3


def available_memory() -> int | None:
    """Bytes of memory this machine can give a new allocation now (Linux MemAvailable), None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def require_memory(nbytes: int, what: str, fix: str) -> None:
    """Raise CerebroError naming ``what`` and ``fix`` if ``nbytes`` is more than the memory available now."""
    free = available_memory()
    if free is not None and nbytes > free:
        raise CerebroError(f"{what} needs about {nbytes / GIB:.1f} GiB of memory but {free / GIB:.1f} GiB are "
                           f"available; {fix}")
