"""'How far can I compress?': the limits table from stored records (mean and worst case, against truth and against
the uncompressed prediction) and the search that bisects a codec's setting on segmentation quality."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import cerebro.benchmark.search as search_module
from cerebro.benchmark.limits import compression_limits, render_limits, setting_losses
from cerebro.benchmark.search import search_dice_limit
from cerebro.benchmark.store import ResultStore, record_key
from cerebro.benchmark.sweep import UNCOMPRESSED
from cerebro.cli.main import main
from cerebro.datasets.manifest import Case
from cerebro.errors import CerebroError
from cerebro.io import write_volume
from cerebro.volume import Volume


def _record(case: str, setting: str, dice: float, vs_uncompressed: float, ratio: float, model: str = "m") -> dict:
    return {"key": record_key(case, setting, model), "case_id": case, "setting": setting, "model": model,
            "compression": {"original_nbytes": 1000, "compressed_nbytes": 1000 / ratio},
            "vs_truth": {"dice": dice}, "vs_uncompressed": {"dice": vs_uncompressed}}


# Two cases; baseline Dice 0.90 and 0.80. sz3 tolerance 50 loses 0.0005 on average but 0.0008 on case b.
RECORDS = [
    _record("a", UNCOMPRESSED, 0.90, 1.0, 1.0), _record("b", UNCOMPRESSED, 0.80, 1.0, 1.0),
    _record("a", "sz3:abs:tolerance=10", 0.9001, 0.9999, 8), _record("b", "sz3:abs:tolerance=10", 0.7999, 0.9998, 8),
    _record("a", "sz3:abs:tolerance=50", 0.8998, 0.9990, 20), _record("b", "sz3:abs:tolerance=50", 0.7992, 0.998, 20),
    _record("a", "sz3:abs:tolerance=200", 0.85, 0.95, 60), _record("b", "sz3:abs:tolerance=200", 0.70, 0.9, 60),
    _record("a", "zfp:rate:rate=4", 0.9, 0.9995, 8), _record("b", "zfp:rate:rate=4", 0.8, 0.9995, 8),
    _record("a", "zfp:accuracy:tolerance=500", 0.8995, 0.999, 12), _record("b", "zfp:accuracy:tolerance=500",
                                                                            0.7995, 0.999, 12),
    _record("a", "sperr:pwe:tolerance=99", 0.9, 1.0, 500),  # only one of the two cases: never counted
]


def test_limits_pick_the_largest_ratio_within_the_bound_by_mean_and_by_worst_case():
    limits = {limit.codec: limit for limit in compression_limits(RECORDS, 0.0006)}
    assert set(limits) == {"sz3", "zfp"}  # sperr lacks case b
    sz3 = limits["sz3"]
    assert sz3.settings_evaluated == 3
    assert sz3.mean.setting == "sz3:abs:tolerance=50" and sz3.mean.ratio == pytest.approx(20)
    assert sz3.mean.mean_loss == pytest.approx(0.0005)
    assert sz3.worst.setting == "sz3:abs:tolerance=10" and sz3.worst.worst_case in {"a", "b"}
    assert sz3.worst.worst_loss == pytest.approx(0.0001)
    zfp = limits["zfp"]  # modes pooled under one codec: accuracy 500 (CR 12) beats rate 4 (CR 8)
    assert zfp.mean.setting == "zfp:accuracy:tolerance=500" and zfp.worst.setting == "zfp:accuracy:tolerance=500"
    tight = {limit.codec: limit for limit in compression_limits(RECORDS, 0.0)}
    assert tight["sz3"].mean.setting == "sz3:abs:tolerance=10"  # a negative loss (Dice went up) is within
    assert tight["zfp"].mean.setting == "zfp:rate:rate=4"


def test_limits_against_the_uncompressed_prediction_and_rendering():
    limits = {limit.codec: limit for limit in compression_limits(RECORDS, 0.0011, against="uncompressed")}
    assert limits["sz3"].mean.setting == "sz3:abs:tolerance=10"  # tolerance 50: 1 - mean(0.999, 0.998) = 0.0015
    assert limits["zfp"].mean.setting == "zfp:accuracy:tolerance=500"  # 1 - 0.999 = 0.001
    losses = {(s.setting): s for s in setting_losses(RECORDS, "uncompressed")}
    assert losses["sz3:abs:tolerance=50"].mean_loss == pytest.approx(0.0015)
    assert losses["sz3:abs:tolerance=50"].worst_loss == pytest.approx(0.002)
    text = render_limits(compression_limits(RECORDS, 0.001), "text")
    assert text.startswith("largest compression ratio with Dice loss <= 0.001 (against truth)")
    assert "sz3:abs:tolerance=50" in text and "20.00" in text
    markdown = render_limits(compression_limits(RECORDS, 0.00001), "markdown").splitlines()
    assert markdown[1].startswith("| model | codec |")
    assert "| sz3:abs:tolerance=10 |" in markdown[3] and "none within the bound" in markdown[3]  # mean 0, worst 1e-4
    data = json.loads(render_limits(compression_limits(RECORDS, 0.001), "json"))
    assert {d["codec"] for d in data} == {"sz3", "zfp"} and data[0]["mean"]["ratio"] > 1
    assert render_limits(compression_limits(RECORDS, 0.001), "csv").splitlines()[0].startswith("model,codec,")
    with pytest.raises(CerebroError, match="must be a Dice difference"):
        compression_limits(RECORDS, math.nan)
    with pytest.raises(CerebroError, match="unknown reference"):
        compression_limits(RECORDS, 0.001, against="nothing")


def test_no_setting_within_the_bound_is_said_so():
    records = [_record("a", UNCOMPRESSED, 0.9, 1, 1), _record("a", "sz3:abs:tolerance=200", 0.5, 0.5, 60)]
    (limit,) = compression_limits(records, 0.001)
    assert limit.mean is None and limit.worst is None
    assert "none within the bound" in render_limits([limit])


def _fake_benchmark(loss_at, name=None):
    """A stand-in for run_benchmark that stores records whose Dice loss is ``loss_at(value)``: it tests the
    search's bracketing and bisection without segmenting anything."""
    calls = []

    def run(cases, settings, models, store, **kwargs):
        (setting,) = settings
        values = setting.settings_dict()
        (value,) = values.values() if name is None else (values[name],)  # the searched setting
        calls.append(value)
        done, added = store.keys(), 0
        for case in cases:
            for key, dice, ratio in ((UNCOMPRESSED, 0.9, 1.0), (setting.key, 0.9 - loss_at(value), 1 + value)):
                record = _record(case.case_id, key, dice, 1 - (0.9 - dice), ratio, models[0])
                if record["key"] not in done:
                    store.append(record)
                    added += 1
        return added

    return run, calls


def _cases(folder, n: int) -> list[Case]:
    """``n`` cases whose images span 0..4000 (the search starts a tolerance at 1 % of the first one's range)."""
    image = Volume(np.linspace(0, 4000, 8 ** 3, dtype=np.float32).reshape(8, 8, 8))
    cases = []
    for i in range(n):
        write_volume(image, folder / f"c{i}.nii.gz")
        cases.append(Case(f"c{i}", folder / f"c{i}.nii.gz", None, "cta"))
    return cases


def test_search_brackets_then_bisects_and_resumes_from_the_store(tmp_path, monkeypatch):
    run, calls = _fake_benchmark(lambda tol: 0.0 if tol <= 37 else 0.01, "tolerance")  # the limit: tolerance 37
    monkeypatch.setattr(search_module, "run_benchmark", run)
    cases = _cases(tmp_path, 2)
    store = ResultStore(tmp_path / "store")
    result = search_dice_limit(cases, "sz3", "m", store, 0.001, settings={"algorithm": "interp"}, max_trials=20,
                               resolution=0.02)
    result_start = calls[0]
    assert result_start == 40  # 1 % of the data range
    assert result.recommended is not None and 30 < result.recommended.value <= 37
    assert result.recommended.setting.startswith("sz3:abs:algorithm=interp,tolerance=")
    assert all(t.within == (t.value <= 37) for t in result.trials)
    assert result.records_added == 2 + 2 * len(result.trials)  # baseline once, then one record per case and trial
    assert len(calls) == len(result.trials) <= 20
    assert "recommended: sz3:abs:algorithm=interp,tolerance=" in result.to_text()
    again = search_dice_limit(cases, "sz3", "m", store, 0.001, settings={"algorithm": "interp"}, max_trials=20,
                              resolution=0.02)
    assert again.recommended == result.recommended and again.records_added == 0 and calls[len(result.trials)] == \
        result_start


def test_search_drives_an_inr_codec_by_its_ratio_setting(tmp_path, monkeypatch):
    pytest.importorskip("torch")  # the INR codecs are registered only with torch
    run, calls = _fake_benchmark(lambda ratio: 0.0 if ratio <= 30 else 0.02)
    monkeypatch.setattr(search_module, "run_benchmark", run)
    result = search_dice_limit(_cases(tmp_path, 1), "inr-hashgrid", "m", ResultStore(tmp_path / "s"), 0.001)
    assert result.mode == "ratio" and result.setting_name == "ratio" and calls[0] == 50  # the ratio's default
    assert result.recommended is not None and 28 <= result.recommended.value <= 30


def test_search_with_nothing_within_the_bound_and_bad_requests(tmp_path, monkeypatch):
    run, _ = _fake_benchmark(lambda tol: 0.5)
    monkeypatch.setattr(search_module, "run_benchmark", run)
    cases = _cases(tmp_path, 1)
    store = ResultStore(tmp_path / "store")
    result = search_dice_limit(cases, "sz3", "m", store, 0.001, max_trials=6, setting="tolerance")
    assert result.recommended is None and "no tolerance of sz3:abs keeps" in result.to_text()
    with pytest.raises(CerebroError, match="tolerance is the setting being searched"):
        search_dice_limit(cases, "sz3", "m", store, 0.001, settings={"tolerance": "5"})
    with pytest.raises(CerebroError, match="lossless"):
        search_dice_limit(cases, "zstd", "m", store, 0.001)
    with pytest.raises(CerebroError, match="max-trials"):
        search_dice_limit(cases, "sz3", "m", store, 0.001, max_trials=1)
    with pytest.raises(CerebroError, match="criterion"):
        search_dice_limit(cases, "sz3", "m", store, 0.001, criterion="median")


def test_command_line_limits(tmp_path, capsys):
    store = ResultStore(tmp_path / "store")
    for record in RECORDS:
        store.append(record)
    assert main(["benchmark", "limits", str(store.folder), "--max-dice-loss", "0.001"]) == 0
    assert "sz3:abs:tolerance=50" in capsys.readouterr().out
    assert main(["benchmark", "limits", str(store.folder), "--max-dice-loss", "0.001", "--format", "csv",
                 "-o", str(tmp_path / "limits.csv")]) == 0
    assert (tmp_path / "limits.csv").read_text().startswith("model,codec,")
    capsys.readouterr()
    assert main(["benchmark", "limits", str(store.folder), "--max-dice-loss", "0.001",
                 "-o", str(store.results_path)]) == 2
    assert "would overwrite the input file" in capsys.readouterr().err
    assert len(store.records()) == len(RECORDS)  # the store was not overwritten
    assert main(["benchmark", "limits", str(store.folder), "--max-dice-loss", "2"]) == 2
    assert "must be a Dice difference" in capsys.readouterr().err


def test_unwritable_outputs_are_one_line_errors_before_any_work(tmp_path, capsys):
    store = ResultStore(tmp_path / "store")
    for record in RECORDS:
        store.append(record)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for command in (["benchmark", "limits", str(store.folder), "--max-dice-loss", "0.001", "-o",
                     str(blocker / "limits.txt")],
                    ["benchmark", "table", str(store.folder), "-o", str(blocker / "table.txt")],
                    ["benchmark", "report", str(store.folder), str(blocker / "report.html")]):
        assert main(command) == 2
        assert "error: cannot create the folder of" in capsys.readouterr().err
    with pytest.raises(CerebroError, match="cannot create the result store"):
        ResultStore(blocker / "store")


def test_a_store_has_one_writer_at_a_time(tmp_path):
    import subprocess
    import sys

    store = ResultStore(tmp_path / "store")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from cerebro.benchmark.store import ResultStore\n"
        f"with ResultStore({str(store.folder)!r}).writer():\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CerebroError, match=rf"is being written by another run \(pid {holder.pid} since"):
            with store.writer():
                pass
    finally:
        holder.kill()
        holder.wait()
    with store.writer():  # the lock died with its process
        with store.writer():  # and is re-entrant within one (a search holds it across its trials)
            store.append(RECORDS[0])
    assert len(store.records()) == 1


def test_figures_leave_out_settings_run_on_fewer_cases_than_the_baseline():
    from cerebro.benchmark.plot import _panels

    rows = [{"model": "m", "setting": UNCOMPRESSED, "cases": 2, "ratio": 1.0, "dice_mean": 0.9},
            {"model": "m", "setting": "zfp:rate:rate=4", "cases": 2, "ratio": 4.0, "dice_mean": 0.9},
            {"model": "m", "setting": "zfp:rate:rate=2", "cases": 1, "ratio": 8.0, "dice_mean": 0.99}]  # half run
    assert [r["setting"] for r in _panels(rows)[("m", "zfp:rate")]] == ["zfp:rate:rate=4"]


def test_a_new_metric_reaches_the_summary_without_touching_it():
    """Adding a metric is computing it (cerebro.metrics.segmentation) and describing its column: the summary
    takes the mean of every metric the records hold, and pools the overlap ratios from the voxel counts."""
    from cerebro.benchmark.summary import summarise

    records = [{**r, "vs_truth": {**r["vs_truth"], "tp": 9, "fp": 1, "fn": 0, "tn": 90, "new_metric": value}}
               for r, value in zip(RECORDS[:2], (0.25, 0.75))]
    row = summarise(records)[0]
    assert row["new_metric_mean"] == 0.5 and row["dice_overall"] == pytest.approx(18 / 19)
    assert "tp_mean" not in row and "dice_mean" in row
