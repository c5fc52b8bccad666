"""The offline demo (README's main job) end to end on a small phantom, through the command line."""

from __future__ import annotations

import json

import pytest

from cerebro.cli.main import main


def test_demo_json_reports_every_setting_with_segmentation_agreement(tmp_path, capsys):
    pytest.importorskip("torch")  # segments with the default model
    assert main(["demo", "--size", "48", "--json", "--device", "cpu", "--out", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "cerebro-default" and result["shape"] == [48, 48, 48]
    assert 0.5 < result["baseline_dice"] <= 1 and 0.5 < result["baseline_cldice"] <= 1
    rows = {row["setting"]: row for row in result["rows"]}
    lossless = rows["reversible"]
    assert lossless["dice_vs_uncompressed"] == 1.0 and lossless["dice_vs_truth"] == result["baseline_dice"]
    assert lossless["cldice_vs_truth"] == result["baseline_cldice"]
    assert rows["rate rate=1"]["compression_ratio"] > rows["rate rate=4"]["compression_ratio"] > 1
    assert all(0 <= row["cldice_vs_truth"] <= 1 for row in rows.values())
    assert (tmp_path / "cta_phantom.nii.gz").is_file() and len(list(tmp_path.glob("*.cbv"))) == len(rows)
