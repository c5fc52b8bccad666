"""The one background job runner of the CerebroBench modules: a ``cerebro`` command in a subprocess.

Every long task of the three modules (a compression round trip, saving or loading a ``.cbv`` file, segmenting,
downloading weights) runs as ``<python> -m cerebro.cli.main COMMAND ... --progress-format json`` in a process
of its own, as SlicerTotalSegmentator and SlicerNNUNet run theirs: Slicer's GUI thread never computes, INR
fitting cannot freeze it, and Cancel terminates the process. The process prints one JSON line per progress step
(``{"progress": f, "message": m}``), warnings as ``{"warning": w}`` and finally ``{"result": {...}}``; a user
error is its one ``error: ...`` line on stderr and exit status 2. A reader thread queues the lines; callers
poll the job (a panel through :class:`JobController` and a QTimer, scripts and tests through :func:`run_job`).

Qt-free (standard library and the ``cerebro`` core), so it runs inside Slicer and under pytest alike.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cerebro
from cerebro.errors import Cancelled, CerebroError
from cerebro.io import write_volume
from cerebro.progress import Progress
from cerebro.volume import Volume
from CerebroLib.i18n import tr

# On Windows, do not open a console window for the background process.
_NO_CONSOLE_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)


@dataclass
class JobState:
    """What a background job reports when polled: fraction done (0..1), message, and how it ended."""

    fraction: float = 0.0
    message: str = "starting"
    finished: bool = False
    cancelled: bool = False
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """True when the job ended without error and was not cancelled."""
        return self.finished and not self.cancelled and self.error is None


def python_executable(executable: str = sys.executable,
                      which: Callable[[str], str | None] = shutil.which) -> str:
    """The Python that runs ``cerebro`` commands: Slicer's ``PythonSlicer`` when there is one, else this Python.

    Inside the Slicer application ``sys.executable`` is set by Slicer to the ``PythonSlicer`` launcher found on the
    PATH, which Slicer's launcher sets up (``qSlicerCoreApplication.cxx``), or to ``""`` when none was found. So
    the PATH is asked first; a Slicer application path given as ``executable`` is looked beside (``bin/`` on Linux
    and Windows, ``Contents/bin`` on macOS); CerebroError when no PythonSlicer is found where one is needed.
    """
    found = which("PythonSlicer")
    if found:
        return found
    if not executable:  # inside Slicer, PythonSlicer not on the PATH
        raise CerebroError("PythonSlicer was not found on the PATH (Python's sys.executable is empty); start Slicer "
                           "with its launcher, or put the bin folder of the Slicer installation on the PATH")
    name = "PythonSlicer" + (".exe" if os.name == "nt" else "")
    app = Path(executable)
    # bin/SlicerApp-real beside bin/PythonSlicer (Linux, Windows); Slicer.app/Contents/MacOS/Slicer (macOS)
    for candidate in (app.with_name(name), app.parent.parent / "bin" / name):
        if candidate.is_file():
            return str(candidate)
    if app.stem.lower().startswith("slicer"):
        raise CerebroError(f"PythonSlicer was not found on the PATH or next to {executable}; "
                           "reinstall Slicer or put its bin folder on the PATH")
    return executable


def cerebro_command(arguments: Sequence[str], python: str | None = None) -> list[str]:
    """The command line that runs ``cerebro ARGUMENTS --progress-format json`` with ``python``."""
    return [python or python_executable(), "-m", "cerebro.cli.main", *map(str, arguments),
            "--progress-format", "json"]


def make_workdir(prefix: str) -> Path:
    """A new private temporary folder for one job's files (removed by the job's cleanup)."""
    return Path(tempfile.mkdtemp(prefix=f"cerebro-{prefix}-"))


class CliJob:
    """A running command that speaks the JSON progress protocol; its output is collected by a reader thread.

    ``workdir`` (if given) holds the job's temporary files and is deleted by :meth:`cleanup`, which
    :meth:`cancel` calls too. ``context`` is whatever the caller needs when the job has finished.
    """

    def __init__(self, command: Sequence[str], workdir: Path | None = None, description: str = "the job",
                 context: Any = None) -> None:
        self.command = list(command)
        self.workdir = workdir
        self.description = description
        self.context = context
        self.state = JobState()
        self.result: dict[str, Any] | None = None
        self.log: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        # The process ends itself (and deletes the job folder) when this one dies: it watches the stdin pipe.
        env = dict(os.environ, PYTHONUNBUFFERED="1", CEREBRO_EXIT_WITH_PARENT="1")
        if workdir is not None:
            env["CEREBRO_JOB_DIR"] = str(workdir)
        core_parent = str(Path(cerebro.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (core_parent, env.get("PYTHONPATH", "")) if p)
        try:
            self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            stdin=subprocess.PIPE, text=True, encoding="utf-8",
                                            errors="replace", bufsize=1, env=env, creationflags=_NO_CONSOLE_WINDOW)
        except OSError as exc:
            self.cleanup()
            raise CerebroError(f"cannot start {self.command[0]}: {exc.strerror or exc}") from None
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()

    def _read_output(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self.process.stdout.close()

    def poll(self) -> JobState:
        """Take in the output printed so far and return the job's state (never blocks for long)."""
        if self.state.finished:
            return self.state
        returncode = self.process.poll()
        if returncode is not None:
            self._reader.join(timeout=5.0)
        while True:
            try:
                self._take_line(self._lines.get_nowait())
            except queue.Empty:
                break
        if returncode is not None:
            self._close_stdin()
            self.state.finished = True
            if returncode != 0 or self.result is None:
                self.state.error = self._failure_text(returncode)
            else:
                self.state.fraction, self.state.message = 1.0, "done"
        return self.state

    def _take_line(self, line: str) -> None:
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            if line.strip():
                self.log.append(line)
            return
        if "progress" in data:
            self.state.fraction = float(data["progress"])
            self.state.message = str(data.get("message") or self.state.message)
        if "warning" in data:
            self.state.warnings.append(str(data["warning"]))
        if "result" in data:
            self.result = data["result"]

    def _failure_text(self, returncode: int) -> str:
        errors = [line[len("error: "):] for line in self.log if line.startswith("error: ")]
        if errors:
            return errors[-1]
        tail = "\n".join(self.log[-15:])
        return f"{self.description} ended with exit status {returncode}" + (f":\n{tail}" if tail else "")

    def wait(self, timeout: float | None = None, poll_seconds: float = 0.05) -> JobState:
        """Block until the job ends (or ``timeout`` seconds pass) and return its state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.poll().finished and (deadline is None or time.monotonic() < deadline):
            time.sleep(poll_seconds)
        return self.state

    def cancel(self) -> None:
        """Stop the process (terminate, then kill after 5 s) and delete its temporary files."""
        self._close_stdin()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5.0)
        if not self.state.finished or self.state.succeeded:
            self.state.finished, self.state.cancelled, self.state.message = True, True, "cancelled"
        self.cleanup()

    def _close_stdin(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except OSError:
                pass

    def cleanup(self) -> None:
        """Delete the job's temporary folder."""
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def checked_result(self) -> dict[str, Any]:
        """The finished job's result; Cancelled if it was cancelled, CerebroError with its error if it failed."""
        state = self.poll()
        if not state.finished:
            raise CerebroError(f"{self.description} is still running; wait for it to finish or cancel it")
        if state.cancelled:
            raise Cancelled("cancelled by the user")
        if state.error is not None:
            raise CerebroError(state.error)
        return self.result or {}


def start_on_volume(volume: Volume, prefix: str, arguments: Callable[[Path, Path], list[str]], description: str,
                    context: Callable[[Path], Any] = lambda folder: None, python: str | None = None) -> CliJob:
    """Write ``volume`` to ``input.nrrd`` in a new job folder and start ``cerebro arguments(folder, input_path)``.

    ``context(folder)`` is kept on the job for its finish; the folder goes with the job (and at once on a failure).
    """
    workdir = make_workdir(prefix)
    try:
        input_path = workdir / "input.nrrd"
        write_volume(volume, input_path)
        command = cerebro_command(arguments(workdir, input_path), python)
        return CliJob(command, workdir, description, context(workdir))
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def run_job(job: CliJob, progress: Progress | None = None, poll_seconds: float = 0.1) -> JobState:
    """Wait for ``job`` while reporting to ``progress``; cancelling ``progress`` (or any exception) cancels the job."""
    progress = progress or Progress()
    try:
        while not job.poll().finished:
            progress.update(job.state.fraction, job.state.message)
            time.sleep(poll_seconds)
    except BaseException:
        job.cancel()
        raise
    progress.update(job.state.fraction, job.state.message)  # the end (1.0 when it succeeded), seen between polls
    return job.state


@dataclass
class PanelStatus:
    """What a module panel shows about its background work: busy (Cancel on, progress bar shown) and text."""

    busy: bool = False
    fraction: float = 0.0
    text: str = ""


class JobController:
    """The widget-facing side of the job runner: one job at a time, and every ending resets the panel.

    ``show(status)`` updates the panel (buttons, progress bar, status line); ``show_error(message)`` opens the
    error dialog. :meth:`start` takes a started job, a title and ``on_success(job) -> text`` that turns the
    result into nodes and returns the status text. Whatever happens (success, cancel, a failed process, or an
    exception while taking the result in), the job's files are deleted and the panel ends idle. The panel's
    QTimer calls :meth:`tick` (tests call it directly).
    """

    def __init__(self, show: Callable[[PanelStatus], None], show_error: Callable[[str], None]) -> None:
        self._show = show
        self._show_error = show_error
        self.job: CliJob | None = None
        self._title = ""
        self._on_success: Callable[[CliJob], str] | None = None
        self.status = PanelStatus()

    @property
    def busy(self) -> bool:
        """True while a job runs."""
        return self.job is not None

    def start(self, title: str, begin: Callable[[], CliJob], on_success: Callable[[CliJob], str]) -> bool:
        """Start the job made by ``begin()``; a failure to start becomes the error dialog. True if it runs."""
        if self.busy:
            self._show_error(tr("another task of this panel is still running; wait for it or cancel it"))
            return False
        try:
            self.job = begin()
        except Exception as error:  # noqa: BLE001 - every failure must reach the user, not the console
            self._finish(tr("{title} failed.").format(title=title), _error_text(error))
            return False
        self._title, self._on_success = title, on_success
        self._set(PanelStatus(True, 0.0, tr("{title}...").format(title=title)))
        return True

    def tick(self) -> None:
        """Poll the job; when it has ended, take the result in (or report why not) and reset the panel."""
        job = self.job
        if job is None:
            return
        state = job.poll()
        if not state.finished:
            self._set(PanelStatus(True, state.fraction, state.message or tr("{title}...").format(title=self._title)))
            return
        if state.cancelled:
            self._finish(tr("{title} cancelled.").format(title=self._title))
        elif state.error is not None:
            self._finish(tr("{title} failed.").format(title=self._title), state.error)
        else:
            try:
                text = self._on_success(job)
            except Cancelled:
                self._finish(tr("{title} cancelled.").format(title=self._title))
            except Exception as error:  # noqa: BLE001 - a broken result must not leave the panel stuck
                self._finish(tr("{title} failed.").format(title=self._title), _error_text(error))
            else:
                self._finish(text)

    def cancel(self) -> None:
        """Cancel the running job (its process is terminated) and reset the panel."""
        if self.job is not None:
            self.job.cancel()
            self.tick()

    def _finish(self, text: str, error: str | None = None) -> None:
        if self.job is not None:
            self.job.cleanup()
        self.job, self._on_success = None, None
        self._set(PanelStatus(False, 0.0, text))
        if error is not None:
            self._show_error(error)

    def _set(self, status: PanelStatus) -> None:
        self.status = status
        self._show(status)


def _error_text(error: BaseException) -> str:
    if isinstance(error, CerebroError):
        return str(error)
    return tr("unexpected {kind}: {error}; please report this with the Python console's log").format(
        kind=type(error).__name__, error=error)
