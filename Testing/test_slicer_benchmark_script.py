"""scripts/slicer_benchmark.py, the headless entry point (`Slicer --no-main-window --python-script ... -- ARGS`),
run as a process with the slicer-core wheel: volume + reference in, CSV of the results table node and the report
out; a user error is one line."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from cerebro.benchmark.store import ResultStore
from cerebro.benchmark.summary import summarise
from cerebro.io import write_volume
from cerebro.phantoms import generate_phantom

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slicer_benchmark.py"


def test_headless_run_writes_the_table_node_as_csv_and_the_report(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("slicer")
    phantom = generate_phantom(32, "cta", seed=31, supersample=1)
    write_volume(phantom.image, tmp_path / "angio.nii.gz")
    write_volume(phantom.mask, tmp_path / "vessels.nii.gz")
    store = tmp_path / "store"
    command = [sys.executable, str(SCRIPT), "--", "--volume", str(tmp_path / "angio.nii.gz"), "--reference",
               str(tmp_path / "vessels.nii.gz"), "--store", str(store), "--setting", "zfp:rate:rate=4",
               "--device", "cpu", "--metrics", "overlap", "--csv", str(tmp_path / "table.csv"),
               "--report", str(tmp_path / "report.html")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env={"OMP_NUM_THREADS": "1",
                          "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "results table 'CerebroBenchmark results (store)': 2 rows" in done.stdout
    rows = list(csv.DictReader((tmp_path / "table.csv").open()))
    summary = summarise(ResultStore(store).records())
    assert [r["setting"] for r in rows] == [s["setting"] for s in summary]
    assert float(rows[1]["CR"]) == pytest.approx(summary[1]["ratio"], rel=1e-6)
    assert float(rows[0]["Dice mean"]) == pytest.approx(summary[0]["dice_mean"], rel=1e-6)
    assert summary[0]["dice_mean"] > 0.8  # scored against the reference label map
    assert (tmp_path / "report.html").read_text().count("data:image/png") >= 3
    bad = subprocess.run([sys.executable, str(SCRIPT), "--dataset", str(tmp_path / "nothing"), "--store",
                          str(tmp_path / "s2")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: dataset not found")
