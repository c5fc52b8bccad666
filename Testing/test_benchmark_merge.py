"""A sweep split into shards (``benchmark run --shard K/N``) and merged (``benchmark merge``) equals one run."""

from __future__ import annotations

import json

import pytest

from cerebro.benchmark.merge import _comparable, parse_shard, shard_cases
from cerebro.benchmark.store import ResultStore
from cerebro.cli.main import main
from cerebro.datasets import Manifest
from cerebro.errors import CerebroError
from cerebro.phantoms import generate_phantom
from cerebro.phantoms.write import write_phantom_case

pytest.importorskip("torch")  # the default model segments
pytestmark = pytest.mark.usefixtures("one_torch_thread")
RUN = ["--setting", "zfp:rate:rate=4", "--device", "cpu", "--metrics", "overlap", "--workers", "1", "--quiet"]


@pytest.fixture(scope="module")
def manifest_file(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("shards")
    cases = [write_phantom_case(generate_phantom(24, modality, seed=seed, supersample=1), root, f"{modality}_{seed}")
             for seed, modality in ((21, "cta"), (22, "mra"), (23, "cta"))]
    Manifest(cases).write(root / "manifest.csv")
    return str(root / "manifest.csv")


def _by_key(store) -> dict:
    return {r["key"]: _comparable(r) for r in ResultStore(store).records()}


def test_two_shards_merged_equal_one_run(manifest_file, tmp_path, capsys):
    whole, first, second, merged = (str(tmp_path / name) for name in ("whole", "first", "second", "merged"))
    assert main(["benchmark", "run", manifest_file, "--store", whole, *RUN]) == 0
    assert main(["benchmark", "run", manifest_file, "--store", first, "--shard", "1/2", *RUN]) == 0
    assert main(["benchmark", "run", manifest_file, "--store", second, "--shard", "2/2", *RUN]) == 0
    assert {r["case_id"] for r in ResultStore(first).records()} == {"cta_21", "cta_23"}
    assert main(["benchmark", "merge", merged, first, second, "--quiet"]) == 0
    assert "6 records from 2 stores" in capsys.readouterr().out
    assert _by_key(merged) == _by_key(whole) and len(_by_key(merged)) == 6  # 3 cases x (uncompressed + 1 setting)
    assert {c.case_id for c in ResultStore(merged).cases()} == {"cta_21", "mra_22", "cta_23"}
    for record in ResultStore(merged).records():  # the kept masks came along and are trusted (digest-checked)
        assert ResultStore(merged).read_prediction(record) is not None
    # a shard merged twice is written once; a record that differs is refused; so are other options and clobbering
    assert main(["benchmark", "merge", str(tmp_path / "twice"), first, first, second, "--quiet"]) == 0
    assert len(ResultStore(tmp_path / "twice").records()) == 6
    results = ResultStore(second).results_path
    edited = [json.loads(line) for line in results.read_text().splitlines()]
    edited[0]["vs_truth"]["dice"] = 0.5
    results.write_text("".join(json.dumps(r) + "\n" for r in edited))
    capsys.readouterr()
    for arguments, message in (([str(tmp_path / "m2"), whole, second], "with different results"),
                               ([merged, first, second], "already holds results"),
                               ([first, first, second], "is one of the stores to merge"),
                               ([str(tmp_path / "m3"), first], "at least two stores"),
                               ([str(tmp_path / "m4"), first, str(tmp_path / "none")], "holds no results")):
        assert main(["benchmark", "merge", *arguments, "--quiet"]) == 2
        assert message in capsys.readouterr().err
    options = ResultStore(first).folder / "options.json"
    options.write_text(json.dumps({**json.loads(options.read_text()), "tta": True}))
    assert main(["benchmark", "merge", str(tmp_path / "m5"), first, whole, "--quiet"]) == 2
    assert "different tta" in capsys.readouterr().err


def test_shards_split_the_cases_and_bad_shards_are_refused():
    cases = list(range(7))
    assert [shard_cases(cases, k, 3) for k in (1, 2, 3)] == [[0, 3, 6], [1, 4], [2, 5]]
    assert parse_shard("2/4") == (2, 4)
    for text in ("0/2", "3/2", "x/2", "2", "1/0"):
        with pytest.raises(CerebroError, match="--shard must be K/N"):
            parse_shard(text)
