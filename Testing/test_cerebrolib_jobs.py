"""CerebroLib.jobs: the one background job runner (a CLI subprocess speaking JSON progress) and the panel side
(JobController), including every way a job can end leaving the panel idle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cerebro.errors import Cancelled, CerebroError
from cerebro.progress import Progress
from CerebroLib.jobs import (
    CliJob,
    JobController,
    PanelStatus,
    cerebro_command,
    make_workdir,
    python_executable,
    run_job,
)


def _python_job(code: str, workdir=None) -> CliJob:
    """A job that runs ``code`` in a fresh Python (the protocol is all that matters to the runner)."""
    return CliJob([sys.executable, "-c", code], workdir, "the test process")


SLOW = "import json, time\nprint(json.dumps({'progress': 0.25, 'message': 'working'}), flush=True)\ntime.sleep(60)"
FAILS = "import sys\nprint('error: the input volume is missing; choose a file', file=sys.stderr)\nsys.exit(2)"
SUCCEEDS = ("import json\nprint(json.dumps({'progress': 0.5, 'message': 'half'}))\n"
            "print(json.dumps({'warning': 'be careful'}))\nprint(json.dumps({'result': {'answer': 42}}))")


def test_python_executable_prefers_python_slicer(tmp_path):
    assert python_executable("/x/python3", lambda name: "/slicer/bin/PythonSlicer") == "/slicer/bin/PythonSlicer"
    assert python_executable("/usr/bin/python3", lambda name: None) == "/usr/bin/python3"
    app = tmp_path / "SlicerApp-real"
    app.write_bytes(b"")
    with pytest.raises(CerebroError, match="PythonSlicer was not found"):
        python_executable(str(app), lambda name: None)
    (tmp_path / "PythonSlicer").write_bytes(b"")
    assert python_executable(str(app), lambda name: None) == str(tmp_path / "PythonSlicer")
    mac = tmp_path / "Slicer.app" / "Contents"
    (mac / "MacOS").mkdir(parents=True)
    (mac / "bin").mkdir()
    (mac / "MacOS" / "Slicer").write_bytes(b"")
    (mac / "bin" / "PythonSlicer").write_bytes(b"")
    assert python_executable(str(mac / "MacOS" / "Slicer"), lambda name: None) == str(mac / "bin" / "PythonSlicer")


def test_cerebro_command_speaks_the_json_protocol():
    assert cerebro_command(["segment", "a", "b"], "/py") == ["/py", "-m", "cerebro.cli.main", "segment", "a", "b",
                                                             "--progress-format", "json"]


def test_a_job_reports_progress_warnings_and_result():
    job = _python_job(SUCCEEDS)
    state = job.wait(timeout=30)
    assert state.succeeded and state.fraction == 1.0 and state.warnings == ["be careful"]
    assert job.checked_result() == {"answer": 42}


def test_a_failed_process_becomes_its_one_error_line():
    job = _python_job(FAILS)
    state = job.wait(timeout=30)
    assert state.finished and not state.succeeded
    assert state.error == "the input volume is missing; choose a file"
    with pytest.raises(CerebroError, match="the input volume is missing"):
        job.checked_result()


def test_a_crash_without_an_error_line_names_the_exit_status_and_the_output():
    state = _python_job("print('Segmentation fault (core dumped)')\nraise SystemExit(139)").wait(timeout=30)
    assert "the test process ended with exit status 139" in state.error and "Segmentation fault" in state.error


def test_cancel_terminates_the_process_and_deletes_its_folder():
    workdir = make_workdir("test")
    job = _python_job(SLOW, workdir)
    while job.poll().fraction < 0.25:
        pass
    assert job.process.poll() is None and job.state.message == "working"
    job.cancel()
    assert job.process.poll() is not None and not workdir.exists()
    assert job.poll().cancelled and not job.poll().succeeded
    with pytest.raises(Cancelled):
        job.checked_result()


def test_cancelling_progress_cancels_a_blocking_wait():
    job = _python_job(SLOW)
    seen = []
    progress = Progress(on_update=lambda f, m: seen.append(f), is_cancelled=lambda: 0.25 in seen)
    with pytest.raises(Cancelled):
        run_job(job, progress, poll_seconds=0.02)
    assert job.process.poll() is not None and job.state.cancelled


def test_a_command_that_cannot_start_is_a_one_line_error(tmp_path):
    workdir = make_workdir("test")
    with pytest.raises(CerebroError, match="cannot start"):
        CliJob([str(tmp_path / "no-such-python")], workdir)
    assert not workdir.exists()


class _Panel:
    """What a module widget shows: the last status and the error dialogs."""

    def __init__(self):
        self.statuses: list[PanelStatus] = []
        self.errors: list[str] = []
        self.controller = JobController(self.statuses.append, self.errors.append)

    def run(self, job_or_error, on_success=lambda job: "all done", title="Compression"):
        def begin():
            if isinstance(job_or_error, BaseException):
                raise job_or_error
            return job_or_error

        self.controller.start(title, begin, on_success)
        while self.controller.busy:
            self.controller.tick()
        return self.statuses[-1]


def _idle(status: PanelStatus) -> bool:
    return not status.busy and status.fraction == 0.0


def test_panel_success_shows_the_text_and_ends_idle():
    panel = _Panel()
    seen = []
    status = panel.run(_python_job(SUCCEEDS), lambda job: seen.append(job.checked_result()) or "answer 42")
    assert seen == [{"answer": 42}] and _idle(status) and status.text == "answer 42" and not panel.errors
    assert any(s.busy for s in panel.statuses)  # the progress bar was shown while it ran


def test_panel_failed_process_resets_the_panel_and_shows_the_error(tmp_path):
    panel = _Panel()
    workdir = make_workdir("test")
    status = panel.run(CliJob([sys.executable, "-c", FAILS], workdir))
    assert _idle(status) and status.text == "Compression failed."
    assert panel.errors == ["the input volume is missing; choose a file"] and not workdir.exists()


@pytest.mark.parametrize("error", [CerebroError("the file is damaged"), KeyError("labels"), Cancelled("stop")])
def test_panel_error_while_taking_the_result_in_resets_the_panel(error):
    panel = _Panel()

    def broken(job):
        raise error

    status = panel.run(_python_job(SUCCEEDS), broken)
    assert _idle(status) and not panel.controller.busy
    if isinstance(error, Cancelled):
        assert status.text == "Compression cancelled." and not panel.errors
    else:
        assert status.text == "Compression failed." and len(panel.errors) == 1
        assert ("the file is damaged" if isinstance(error, CerebroError) else "unexpected KeyError") in panel.errors[0]


def test_panel_start_failure_resets_the_panel():
    panel = _Panel()
    status = panel.run(CerebroError("select a scalar volume"))
    assert _idle(status) and status.text == "Compression failed." and panel.errors == ["select a scalar volume"]
    status = panel.run(RuntimeError("boom"))
    assert _idle(status) and "unexpected RuntimeError: boom" in panel.errors[-1]


def test_panel_cancel_terminates_and_resets_and_one_job_at_a_time():
    panel = _Panel()
    job = _python_job(SLOW)
    panel.controller.start("Segmentation", lambda: job, lambda j: "done")
    assert panel.controller.busy and panel.statuses[-1].busy
    assert not panel.controller.start("Download", lambda: _python_job(SUCCEEDS), lambda j: "x")
    assert "still running" in panel.errors[-1]
    panel.controller.cancel()
    assert job.process.poll() is not None
    assert _idle(panel.statuses[-1]) and panel.statuses[-1].text == "Segmentation cancelled."
    assert not panel.controller.busy


def test_panel_job_output_is_json_lines_only(tmp_path):
    """The protocol the modules rely on, from the real CLI: progress lines, then one result line."""
    from cerebro.io import write_volume
    from cerebro.phantoms import generate_phantom

    volume = generate_phantom(24, "cta", seed=1, supersample=1).image
    write_volume(volume, tmp_path / "in.nrrd")
    job = CliJob(cerebro_command(["compress", tmp_path / "in.nrrd", tmp_path / "out.cbv", "--mode", "reversible",
                                  "--workers", "1"]))
    state = job.wait(timeout=60)
    assert state.succeeded, state.error
    assert job.result["compression_ratio"] > 1.0 and not job.log


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (ended, not yet reaped by init) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_job_ends_and_leaves_no_folder_when_its_parent_is_killed(tmp_path):
    """Slicer crashing (here: its stand-in killed with SIGKILL) must not leave a cerebro process computing on."""
    root = Path(__file__).resolve().parents[1]
    parent = textwrap.dedent("""
        import json, sys, time
        from CerebroLib.jobs import CliJob, make_workdir
        workdir = make_workdir("parent-test")
        code = "from cerebro.cli.main import watch_parent; watch_parent(); import time; time.sleep(120)"
        job = CliJob([sys.executable, "-c", code], workdir)
        print(json.dumps({"pid": job.process.pid, "workdir": str(workdir)}), flush=True)
        time.sleep(120)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    holder = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True, env=env)
    started = json.loads(holder.stdout.readline())
    child, workdir = started["pid"], Path(started["workdir"])
    assert _pid_alive(child) and workdir.is_dir()
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    deadline = time.monotonic() + 20
    while (_pid_alive(child) or workdir.exists()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(child), "the job's process outlived its parent"
    assert not workdir.exists(), "the job's folder was left behind"


def test_only_a_cerebro_folder_in_the_temp_folder_is_ever_removed(tmp_path):
    from cerebro.cli._parent import job_dir_to_remove

    folder = make_workdir("x")
    try:
        assert job_dir_to_remove(str(folder)) == folder.resolve()
        assert job_dir_to_remove(str(tmp_path)) is None  # not named cerebro-*
        assert job_dir_to_remove(str(Path.home())) is None and job_dir_to_remove("") is None
        assert job_dir_to_remove(str(folder / "cerebro-inner")) is None  # not directly in the temp folder
    finally:
        folder.rmdir()
