"""The offline demo (README's main job) end to end on a small phantom, through the command line: it is the
benchmark runner on a one-case dataset, shown in the benchmark's table."""

from __future__ import annotations

import json

import pytest

from cerebro.benchmark.store import ResultStore
from cerebro.cli.main import main
from cerebro.demo import DEMO_SETTINGS


def test_demo_json_reports_every_setting_with_segmentation_agreement(tmp_path, capsys):
    pytest.importorskip("torch")  # segments with the default model
    assert main(["demo", "--size", "48", "--json", "--device", "cpu", "--workers", "1", "--out", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "cerebro-default" and result["shape"] == [48, 48, 48]
    assert result["routed_model"] == "cerebro-default-cta"  # the phantom's modality picks the CT model
    rows = {row["setting"]: row for row in result["rows"]}
    assert list(rows) == ["uncompressed", *DEMO_SETTINGS]
    baseline, lossless = rows["uncompressed"], rows["zfp:reversible"]
    assert 0.5 < baseline["dice_mean"] <= 1 and 0.5 < baseline["cldice_mean"] <= 1
    assert lossless["dice_vs_uncompressed_mean"] == 1.0 and lossless["dice_mean"] == baseline["dice_mean"]
    assert lossless["max_abs_error"] == 0 and lossless["cldice_mean"] == baseline["cldice_mean"]
    assert rows["zfp:rate:rate=1"]["ratio"] > rows["zfp:rate:rate=4"]["ratio"] > 1
    assert all(0 <= row["cldice_mean"] <= 1 for row in rows.values())
    assert (tmp_path / "phantom").is_dir() and result["store"] == str(tmp_path / "store")
    assert len(ResultStore(tmp_path / "store").records()) == len(rows)
    # again into the same folder: the store already holds every record, nothing is recomputed
    assert main(["demo", "--size", "48", "--device", "cpu", "--workers", "1", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "uncompressed prediction vs truth: Dice" in text and "zfp:accuracy:tolerance=400" in text
    assert "model cerebro-default-cta (cerebro-default for cta)" in text
    assert len(ResultStore(tmp_path / "store").records()) == len(rows)
