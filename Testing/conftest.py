"""Shared fixtures: small volumes with awkward geometry (non-identity direction, anisotropic spacing)."""

from __future__ import annotations

import ast
import importlib.util
import multiprocessing.process
from pathlib import Path

import numpy as np
import pytest
from volume_helpers import oblique_direction

from cerebro.volume import Volume

# Packages a test file may need that a Python 3.9 check run (make test39) does not have: no torch wheel for
# this machine's Python 3.9, no slicer-core wheel below Python 3.10. Files that import them are not collected there.
OPTIONAL_TEST_PACKAGES = ("torch", "slicer", "monai", "dynamic_network_architectures", "safetensors")
# The CerebroLib files that run without MRML (the job runner, translations, dependency lists); the others need slicer.
CEREBROLIB_WITHOUT_SLICER = ("CerebroLib", "CerebroLib.jobs", "CerebroLib.i18n", "CerebroLib.dependencies")


def _imported_modules(path: Path) -> set[str]:
    """The modules a test file imports at its top level (``from A import b``, A a top-level package: A and A.b)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            if "." not in node.module:  # b may be a submodule of A
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _needed_package(module: str) -> str | None:
    root = module.split(".")[0]
    if root == "CerebroLib":
        return None if module in CEREBROLIB_WITHOUT_SLICER else "slicer"
    return root if root in OPTIONAL_TEST_PACKAGES else None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave out test files whose optional packages are not installed in this Python."""
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    needed = {_needed_package(module) for module in _imported_modules(collection_path)} - {None}
    return True if any(importlib.util.find_spec(name) is None for name in needed) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the cases of a codec this Python's libraries lack (HTJ2K: imagecodecs for Python 3.9 has none)."""
    from cerebro.codecs import available_codecs

    missing = {"htj2k"} - set(available_codecs())
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and any(name in callspec.id for name in missing):
            item.add_marker(pytest.mark.skip(reason=f"codec not available here: {', '.join(sorted(missing))}"))


# Test files of what runs inside Slicer's own process: CerebroLib, the module files, the headless Slicer script.
SLICER_PROCESS_TEST_FILES = ("test_cerebrobenchmark_", "test_cerebrocompress_", "test_cerebrosegment_",
                             "test_cerebrolib_", "test_mrml_conversion", "test_slicer_")


@pytest.fixture(autouse=True)
def no_multiprocessing_in_the_slicer_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside Slicer ``sys.executable`` is the PythonSlicer launcher, so ``multiprocessing`` children do not start
    reliably (Slicer issue #7445: BrokenProcessPool on macOS, ``Process.start()`` blocking; Windows swaps in
    ``sys._base_executable``). In the tests of what runs in Slicer's process, starting one (directly, or through a
    process pool or the core's helpers) fails the test: such work goes through the job runner (CerebroLib.jobs)."""
    if not request.module.__name__.rsplit(".", 1)[-1].startswith(SLICER_PROCESS_TEST_FILES):
        return

    def refuse(process: multiprocessing.process.BaseProcess) -> None:
        raise AssertionError(f"a multiprocessing child ({process.name}) was started inside the Slicer process; "
                             "run the work through the job runner (CerebroLib.jobs) instead")

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refuse)


@pytest.fixture
def ct_volume() -> Volume:
    """A 24x28x32 int16 volume in the CT range (-1024..3071 HU) with oblique, anisotropic geometry."""
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[0:24, 0:28, 0:32]
    smooth = 400 * np.sin(x / 5.0) * np.cos(y / 7.0) + 300 * np.sin(z / 4.0)
    array = np.clip(smooth + rng.normal(0, 30, smooth.shape), -1024, 3071).astype(np.int16)
    array[0, 0, 0], array[-1, -1, -1] = -1024, 3071
    return Volume(array, spacing=(0.45, 0.5, 0.6), origin=(-12.5, 30.25, -7.0), direction=oblique_direction())


@pytest.fixture
def scene():
    """A fresh MRML scene from the slicer-core wheel, also set as ``slicer.mrmlScene`` (as inside Slicer)."""
    slicer = pytest.importorskip("slicer")
    scene = slicer.vtkMRMLScene()
    slicer.mrmlScene = scene
    yield scene
    scene.Clear(1)


@pytest.fixture
def one_torch_thread(monkeypatch):
    """Background processes inherit the environment: one intra-op thread for torch, as in every test."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
