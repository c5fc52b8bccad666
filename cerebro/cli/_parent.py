"""End a ``cerebro`` process started by a program (the Slicer modules' job runner) when that program dies.

The program sets ``CEREBRO_EXIT_WITH_PARENT=1`` and keeps a pipe open on the process's stdin; if it ends in any
way (closed, crashed, killed with SIGKILL), the pipe reaches end-of-file. A watcher thread then deletes the job
folder named by ``CEREBRO_JOB_DIR`` (only a ``cerebro-*`` folder directly in the system's temporary folder) and
ends the process at once, so no orphan computes on and nothing is left behind. Works the same on every platform.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

EXIT_WITH_PARENT_ENV = "CEREBRO_EXIT_WITH_PARENT"
JOB_DIR_ENV = "CEREBRO_JOB_DIR"
PARENT_GONE_STATUS = 3


def job_dir_to_remove(value: str | None) -> Path | None:
    """The job folder to delete when the parent dies: ``value`` if it is a ``cerebro-*`` folder in the temp folder."""
    if not value:
        return None
    folder = Path(value).resolve()
    temp = Path(tempfile.gettempdir()).resolve()
    return folder if folder.parent == temp and folder.name.startswith("cerebro-") else None


def watch_parent() -> bool:
    """Start the watcher when ``CEREBRO_EXIT_WITH_PARENT=1``; True if it was started."""
    if os.environ.get(EXIT_WITH_PARENT_ENV) != "1" or sys.stdin is None:
        return False
    job_dir = job_dir_to_remove(os.environ.get(JOB_DIR_ENV))
    try:
        stdin = sys.stdin.fileno()
    except (OSError, ValueError):
        return False

    def wait_for_end_of_file() -> None:
        # The file descriptor, not sys.stdin: a thread blocked in a buffered read would hold its lock when the
        # interpreter shuts down at the end of a normal run.
        try:
            while os.read(stdin, 4096):
                pass
        except OSError:
            pass
        if job_dir is not None:
            shutil.rmtree(job_dir, ignore_errors=True)
        os._exit(PARENT_GONE_STATUS)

    threading.Thread(target=wait_for_end_of_file, name="cerebro-parent-watch", daemon=True).start()
    return True
