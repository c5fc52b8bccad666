"""The benchmark sweep on two small phantoms: records, resuming after an interruption or a cut write, cancelling,
the paper's tables (overall = pooled voxels, mean = over cases), the dual-axis figure and the command line."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest

from cerebro.benchmark.plot import plot_ratio_vs_dice
from cerebro.benchmark.runner import run_benchmark
from cerebro.benchmark.store import ResultStore
from cerebro.benchmark.summary import render, summarise
from cerebro.benchmark.sweep import UNCOMPRESSED, parse_setting
from cerebro.cli.main import main
from cerebro.datasets import Manifest
from cerebro.errors import Cancelled, CerebroError
from cerebro.metrics.overlap import Confusion
from cerebro.phantoms import generate_phantom
from cerebro.phantoms.write import write_phantom_case
from cerebro.progress import Progress

SETTINGS = ["zfp:reversible", "zfp:rate:rate=2"]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Manifest:
    root = tmp_path_factory.mktemp("phantoms")
    cases = [write_phantom_case(generate_phantom(32, modality, seed=seed), root / modality, f"{modality}_{seed}")
             for seed, modality in ((1, "cta"), (2, "mra"))]
    manifest = Manifest(cases)
    manifest.write(root / "manifest.csv")
    return manifest


def _run(manifest, store, progress=None):
    return run_benchmark(manifest, [parse_setting(s) for s in SETTINGS], ["cerebro-default"], store, device="cpu",
                         progress=progress)


def test_sweep_records_resume_and_tables(manifest, tmp_path):
    pytest.importorskip("torch")  # segments with the default model
    store = ResultStore(tmp_path / "run")
    assert _run(manifest, store) == 6  # 2 cases x (uncompressed + 2 settings) x 1 model
    assert _run(manifest, store) == 0  # everything is there: nothing is redone
    again = [parse_setting("zfp:rate:rate=2"), parse_setting("zfp:rate:rate=2.0")]  # the same setting twice
    assert run_benchmark(manifest, again, ["cerebro-default"] * 2, store, device="cpu") == 0
    with pytest.raises(CerebroError, match="was run with tta=False, not True; use the same options"):
        run_benchmark(manifest, again, ["cerebro-default"], store, device="cpu", tta=True)
    with pytest.raises(CerebroError, match="case ids must be unique"):
        run_benchmark([*manifest, manifest.cases[0]], again, ["cerebro-default"], store, device="cpu")
    records = store.records()
    assert [r["setting"] for r in records[:3]] == [UNCOMPRESSED, "zfp:reversible", "zfp:rate:rate=2"]
    assert all(store.mask_path(c.case_id, "cerebro-default").is_file() for c in manifest)

    rows = {r["setting"]: r for r in summarise(records)}
    assert list(rows) == [UNCOMPRESSED, "zfp:reversible", "zfp:rate:rate=2"]
    lossless, lossy = rows["zfp:reversible"], rows["zfp:rate:rate=2"]
    assert lossless["dice_mean"] == rows[UNCOMPRESSED]["dice_mean"] and lossless["dice_vs_uncompressed_mean"] == 1.0
    assert 1 < lossless["ratio"] < lossy["ratio"] and lossy["psnr_db"] is not None
    pooled = Confusion(0, 0, 0, 0)
    for r in records:
        if r["setting"] == "zfp:rate:rate=2":
            pooled += Confusion(*(r["vs_truth"][k] for k in ("tp", "fp", "fn", "tn")))
    assert lossy["dice_overall"] == pytest.approx(pooled.dice)
    assert lossy["dice_mean"] == pytest.approx(np.mean([r["vs_truth"]["dice"] for r in records
                                                        if r["setting"] == "zfp:rate:rate=2"]))
    assert lossy["cldice_mean"] is not None and lossy["hd95_mm_mean"] is not None
    summary = summarise(records)
    text, markdown, table = render(summary), render(summary, "markdown"), render(summary, "csv")
    assert "Dice all" in text and "zfp:rate:rate=2" in text and markdown.startswith("| model | setting |")
    assert table.splitlines()[0].startswith("model,setting,cases") and len(table.splitlines()) == 4
    figure = plot_ratio_vs_dice(summary, tmp_path / "figure.png")
    assert figure.read_bytes()[:4] == b"\x89PNG"


def test_a_cut_last_record_is_recomputed_and_cancel_keeps_what_is_done(manifest, tmp_path):
    pytest.importorskip("torch")  # segments with the default model
    store = ResultStore(tmp_path / "run")
    calls = []

    def cancel_after_third_record() -> bool:
        calls.append(1)
        return len(store.records()) >= 3

    with pytest.raises(Cancelled):
        _run(manifest, store, Progress(is_cancelled=cancel_after_third_record))
    kept = len(store.records())
    assert 3 <= kept < 6
    data = store.results_path.read_bytes()
    store.results_path.write_bytes(data[:-20])  # the last record was cut by a crash
    with pytest.warns(UserWarning, match="incomplete"):
        assert len(store.records()) == kept - 1
    with pytest.warns(UserWarning, match="incomplete"):
        assert _run(manifest, store) == 6 - (kept - 1)
    assert sorted(r["key"] for r in store.records()) == sorted({r["key"] for r in store.records()})
    assert len(store.records()) == 6


def test_bad_settings_and_stores_are_one_line_errors(tmp_path):
    for text, message in (("zfp", "CODEC:MODE"), ("zfp:rate:rate=-1", "out of range"), ("nope:rate", "unknown codec"),
                          ("zfp:rate:rate", "NAME=VALUE")):
        with pytest.raises(CerebroError, match=message):
            parse_setting(text)
    assert parse_setting("zfp:accuracy:tolerance=500").key == "zfp:accuracy:tolerance=500"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.jsonl").write_text('{"key": "a"}\nnot json\n{"key": "b"}\n')
    with pytest.raises(CerebroError, match="line 2 is not a JSON record"):
        ResultStore(tmp_path / "bad").records()


def test_command_line_run_table_and_plot(manifest, tmp_path, capsys):
    pytest.importorskip("torch")  # segments with the default model
    source = str(manifest.cases[0].image_path.parents[2] / "manifest.csv")
    store = str(tmp_path / "cli")
    assert main(["benchmark", "run", source, "--store", store, "--setting", "zfp:accuracy:tolerance=50",
                 "--max-cases", "1", "--metrics", "overlap", "--device", "cpu", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "2 new records" in out and "zfp:accuracy:tolerance=50" in out
    record = json.loads((tmp_path / "cli" / "results.jsonl").read_text().splitlines()[-1])
    assert "hd95_mm" not in record["vs_truth"] and record["vs_truth"]["dice"] > 0
    assert main(["benchmark", "table", store, "--format", "csv", "-o", str(tmp_path / "t.csv")]) == 0
    assert (tmp_path / "t.csv").read_text().startswith("model,setting")
    assert main(["benchmark", "plot", store, str(tmp_path / "f.png")]) == 0
    capsys.readouterr()
    assert main(["benchmark", "table", str(tmp_path / "missing")]) == 2
    assert "run `cerebro benchmark run --store` first" in capsys.readouterr().err
    assert main(["benchmark", "run", source, "--store", store, "--setting", "zfp:warp"]) == 2
    assert "has no mode 'warp'" in capsys.readouterr().err
    assert main(["benchmark", "plot", store, str(tmp_path / "f.bmp")]) == 2


def test_search_report_and_kept_predictions_on_phantoms(manifest, tmp_path, capsys):
    pytest.importorskip("torch")  # segments with the default model
    pytest.importorskip("matplotlib")
    source = str(manifest.cases[0].image_path.parents[2] / "manifest.csv")
    store = tmp_path / "search"
    assert main(["benchmark", "search", source, "--store", str(store), "--codec", "zfp", "--mode", "accuracy",
                 "--max-dice-loss", "0.01", "--max-trials", "3", "--metrics", "overlap", "--device", "cpu",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["setting_name"] == "tolerance" and len(result["trials"]) == 3 and result["cases"] == 2
    assert result["records_added"] == 2 + 2 * 3  # uncompressed once, then one record per case and trial
    records = ResultStore(store).records()
    assert {r["setting"] for r in records} == {UNCOMPRESSED, *(t["setting"] for t in result["trials"])}
    kept = [ResultStore(store).read_prediction(r) for r in records]
    assert all(mask is not None and mask.array.any() for mask in kept)  # every record's mask is kept, digest-checked
    assert {c.case_id for c in ResultStore(store).cases()} == {c.case_id for c in manifest}
    edited = records[-1]
    path = store / edited["prediction"]["path"]
    from cerebro.io import read_volume, write_volume
    mask = read_volume(path)
    write_volume(mask.with_array(1 - mask.array), path)
    assert ResultStore(store).read_prediction(edited) is None  # an edited prediction is not trusted

    assert main(["benchmark", "limits", str(store), "--max-dice-loss", "0.01"]) == 0
    assert "zfp" in capsys.readouterr().out
    report = tmp_path / "report.html"
    assert main(["benchmark", "report", str(store), str(report), "--overlay-dpi", "60", "--quiet"]) == 0
    text = report.read_text()
    assert "How far can I compress?" in text and "Dice loss &le; 0.001" in text and "Dice loss &le; 0.01" in text
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) >= 4  # Dice vs ratio, the paper's figure, overlays of two cases (best = median, worst)
    from PIL import Image
    sizes = [Image.open(io.BytesIO(base64.b64decode(data))).size for data in images]
    assert all(w > 400 and h > 150 for w, h in sizes), sizes
    assert main(["benchmark", "report", str(store), str(tmp_path / "report.txt")]) == 2
    assert "report" in capsys.readouterr().err
    _check_rendering(report, tmp_path)


def _check_rendering(report, tmp_path):
    """The page as a person sees it: headless Chromium's screenshot holds the figures' colours."""
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium here (Debian: apt-get install chromium) to render the report")
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1200,5000", f"--screenshot={shot}", report.as_uri()],
                   check=True, capture_output=True, timeout=120)
    from PIL import Image
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    yellow = ((pixels[:, 0] > 200) & (pixels[:, 1] > 170) & (pixels[:, 2] < 80)).mean()  # overlay: truth + pred
    blue = ((pixels[:, 2] > 150) & (pixels[:, 0] < 150)).mean()  # bars and curves of the figures
    assert yellow > 0.002 and blue > 0.002, (yellow, blue)


def test_a_log_without_a_terminal_gets_one_line_per_record(manifest, tmp_path, capsys):
    pytest.importorskip("torch")  # segments with the default model
    source = str(manifest.cases[0].image_path.parents[2] / "manifest.csv")
    assert main(["benchmark", "run", source, "--store", str(tmp_path / "s"), "--setting", "zfp:rate:rate=4",
                 "--metrics", "overlap", "--device", "cpu"]) == 0  # pytest's stderr is no terminal
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4 and all(line.startswith("benchmark: ") and "Dice" in line for line in lines), lines
    assert "(1/4, about " in lines[0] and " left)" in lines[0] and lines[-1].endswith("(4/4)")  # the time left
    assert main(["benchmark", "run", source, "--store", str(tmp_path / "s2"), "--max-cases", "0"]) == 2
    assert "--max-cases must be at least 1" in capsys.readouterr().err


def test_time_left_at_the_pace_so_far():
    from cerebro.progress import time_left

    assert time_left(10.0, 1, 4) == "about 30 s left" and time_left(60.0, 1, 11) == "about 10 min left"
    assert time_left(3600.0, 1, 4) == "about 3.0 h left" and time_left(5.0, 0, 4) == time_left(5.0, 4, 4) == ""


def test_target_ratio_settings_are_reached_per_case_by_rate_control(manifest, tmp_path):
    pytest.importorskip("torch")  # segments with the default model
    store = ResultStore(tmp_path / "ratio")
    settings = [parse_setting("zfp:rate:target_ratio=8"), parse_setting("zfp:precision:target_ratio=100000")]
    assert settings[0].key == "zfp:rate:target_ratio=8" and settings[0].settings_dict() == {}
    assert run_benchmark(manifest, settings, ["cerebro-default"], store, device="cpu", metrics="overlap") == 6
    for record in store.records():
        control = record["compression"].get("rate_control")
        if record["setting"] == "zfp:rate:target_ratio=8":  # each case gets its own rate, reaching 8:1 within 5 %
            assert control["setting"] == "rate" and control["hit"]
            assert abs(record["compression"]["compression_ratio"] / 8 - 1) <= 0.05
        elif record["setting"] != UNCOMPRESSED:  # out of reach: the closest trial, marked as a miss
            assert control["hit"] is False
    for text, message in (("sz3:abs:target_ratio=1", "above 1"), ("siren:ratio:target_ratio=5", "ratio=5"),
                          ("zfp:rate:rate=4,target_ratio=5", "do not also fix it")):
        with pytest.raises(CerebroError, match=message):
            parse_setting(text)


def test_finding_11_an_edited_baseline_mask_is_not_trusted(manifest, tmp_path):
    pytest.importorskip("torch")  # segments with the default model
    from cerebro.io import read_volume, write_volume

    store = ResultStore(tmp_path / "edited")
    cases = manifest.cases[:1]
    assert run_benchmark(cases, [], ["cerebro-default"], store, device="cpu", metrics="overlap") == 1
    path = store.mask_path(cases[0].case_id, "cerebro-default")
    mask = read_volume(path)
    write_volume(mask.with_array(1 - mask.array), path)  # someone edits the kept baseline
    assert run_benchmark(cases, [parse_setting("zfp:reversible")], ["cerebro-default"], store, device="cpu",
                         metrics="overlap") == 1
    (lossless,) = [r for r in store.records() if r["key"] == f"{cases[0].case_id}|zfp:reversible|cerebro-default"]
    assert lossless["vs_uncompressed"]["dice"] == 1.0  # compared with the model's real baseline, predicted again
    assert np.array_equal(read_volume(path).array, mask.array)  # and the kept file is the real one again
