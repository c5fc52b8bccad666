"""The CerebroBenchmark module file outside Slicer: its offline self-test with the shipped default model.

The module file is imported with Slicer 5.6.2's own ``parameterNodeWrapper`` (vendored) and Qt widget doubles
(``slicer_stubs``), since the slicer-core wheel has no Qt; everything the self-test touches beyond that is real
(MRML scene, CerebroLib, background `cerebro benchmark` processes).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from slicer_stubs import import_module_file

MODULE_FILE = Path(__file__).resolve().parents[1] / "CerebroBenchmark" / "CerebroBenchmark.py"


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # Testing/conftest.py


def test_self_test_passes(monkeypatch, scene):
    """A 48^3 phantom at two ZFP settings (tables, chart, limits, a shown record), then cancel and resume."""
    module = import_module_file(monkeypatch, MODULE_FILE)
    module.CerebroBenchmarkTest("runTest").runTest()


def test_the_self_test_skips_with_the_reason_when_a_package_is_missing(monkeypatch, scene, caplog):
    module = import_module_file(monkeypatch, MODULE_FILE)
    from CerebroLib import slicer_ui

    monkeypatch.setattr(slicer_ui, "missingForSelfTest", lambda requirements: "skipped: matplotlib is not installed")
    module.CerebroBenchmarkTest("runTest").runTest()
    assert "skipped: matplotlib is not installed" in caplog.text
