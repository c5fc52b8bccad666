"""Modality routing of ``cerebro-default``: the explicit choice, the dataset's modality, the intensity rule; the
CLI says which model ran and why; a benchmark on a mixed CTA + MRA dataset runs each case's model and records it;
the panels pass the modality on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cerebro.cli.main import main
from cerebro.datasets import Manifest
from cerebro.errors import CerebroError
from cerebro.io import write_volume
from cerebro.modality import modality_from_intensities, modality_name
from cerebro.phantoms import generate_phantom
from cerebro.segment.catalog import load_catalog
from cerebro.segment.routing import route_model, volume_modality
from cerebro.volume import Volume

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # Testing/conftest.py


def _ct_with_air(size: int = 40, seed: int = 4) -> Volume:
    """A CTA phantom (HU) whose corners are air, as a head's field of view has."""
    image = generate_phantom(size, "cta", seed=seed, supersample=1).image
    array = image.array.copy()
    array[:, :4, :4] = -1000
    return image.with_array(array)


@pytest.mark.parametrize("text, expected", [("CT", "cta"), ("CTA", "cta"), ("cta", "cta"), ("TOF-MRA", "mra"),
                                            ("MRA", "mra"), ("tof", "mra"), ("unknown", None), ("", None),
                                            ("t2w", None), (None, None)])
def test_modality_names_as_datasets_write_them(text, expected):
    assert modality_name(text) == expected


def test_intensity_rule_is_air_in_hounsfield_units():
    assert modality_from_intensities(_ct_with_air())[0] == "cta"
    mra = generate_phantom(32, "mra", seed=1, supersample=1).image
    modality, reason = modality_from_intensities(mra)
    assert modality == "mra" and "name the modality if this is CT" in reason
    # a tight CTA crop without air is taken for MRA: the documented limit of the last resort
    assert modality_from_intensities(generate_phantom(32, "cta", seed=1, supersample=1).image)[0] == "mra"


def test_explicit_beats_dataset_beats_intensities():
    ct = _ct_with_air()
    assert volume_modality(ct, "mra", "CT") == ("mra", "--modality mra")
    assert volume_modality(ct, None, "TOF-MRA") == ("mra", "dataset: modality 'TOF-MRA'")
    assert volume_modality(ct, None, "unknown")[0] == "cta"
    assert volume_modality(None) == (None, "")
    with pytest.raises(CerebroError, match="unknown modality 'pet'"):
        volume_modality(ct, "pet")


def test_routes_of_the_catalog():
    route = route_model("cerebro-default", "cta", "--modality cta")
    assert route.model_id == "cerebro-default-cta" and route.routed
    assert route.describe() == "cerebro-default-cta (cerebro-default for cta: --modality cta)"
    assert not route_model("vesselness", "cta").routed
    with pytest.raises(CerebroError, match="picks a model per modality"):
        route_model("cerebro-default", None)


def test_catalog_refuses_a_route_to_a_missing_model(tmp_path, monkeypatch):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"models": [{"id": "mine", "routes": {"cta": "nope"}}]}))
    monkeypatch.setenv("CEREBRO_CATALOG", str(path))
    with pytest.raises(CerebroError, match="routes cta to 'nope'"):
        load_catalog()
    path.write_text(json.dumps({"models": [{"id": "mine", "family": "nnunet", "routes": {"cta": "vesselness"}}]}))
    with pytest.raises(CerebroError, match="no family or weights of its own"):
        load_catalog()
    path.write_text(json.dumps({"models": [{"id": "mine", "routes": {"cta": "vesselness", "mra": "vesselness"}}]}))
    assert route_model("mine", "mra", catalog=load_catalog()).model_id == "vesselness"


def test_segment_routes_and_says_why(tmp_path, capsys):
    pytest.importorskip("torch")
    write_volume(_ct_with_air(), tmp_path / "ct.nrrd")
    assert main(["segment", str(tmp_path / "ct.nrrd"), str(tmp_path / "m.nii.gz"), "--quiet", "--no-tta"]) == 0
    out = capsys.readouterr().out
    assert "model: cerebro-default-cta (cerebro-default for cta: intensities:" in out
    assert main(["segment", str(tmp_path / "ct.nrrd"), str(tmp_path / "m2.nii.gz"), "--no-tta", "--modality",
                 "mra", "--progress-format", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == {"model": "cerebro-default-mra", "requested": "cerebro-default", "modality": "mra",
                        "reason": "--modality mra"}
    assert lines[-1]["result"]["model"] == "cerebro-default-mra"
    with pytest.raises(SystemExit) as exited:  # argparse's choices: one error line, exit 2
        main(["segment", str(tmp_path / "ct.nrrd"), str(tmp_path / "m3.nii.gz"), "--modality", "pet"])
    assert exited.value.code == 2 and "invalid choice: 'pet'" in capsys.readouterr().err


def test_benchmark_on_a_mixed_dataset_runs_each_case_on_its_model(tmp_path):
    pytest.importorskip("torch")
    from cerebro.benchmark.runner import run_benchmark
    from cerebro.benchmark.store import ResultStore
    from cerebro.benchmark.sweep import parse_setting
    from cerebro.phantoms.write import write_phantom_case

    cases = [write_phantom_case(generate_phantom(32, modality, seed=5, supersample=1), tmp_path / "data",
                                f"{modality}_case") for modality in ("cta", "mra")]
    store = ResultStore(tmp_path / "store")
    assert run_benchmark(Manifest(cases), [parse_setting("zfp:rate:rate=8")], ["cerebro-default"], store,
                         device="cpu", metrics="overlap") == 4
    routed = {(r["case_id"], r["setting"]): (r["model"], r["routed_model"], r["route_reason"])
              for r in store.records()}
    for setting in ("uncompressed", "zfp:rate:rate=8"):
        assert routed["cta_case", setting] == ("cerebro-default", "cerebro-default-cta", "dataset: modality 'cta'")
        assert routed["mra_case", setting] == ("cerebro-default", "cerebro-default-mra", "dataset: modality 'mra'")


def test_panels_pass_the_modality_on(scene, tmp_path):
    from CerebroLib import mrml
    from CerebroLib.benchmark_logic import CerebroBenchmarkLogic
    from CerebroLib.jobs import cerebro_command
    from CerebroLib.segment_logic import CerebroSegmentLogic

    logic = CerebroSegmentLogic(python="/py")
    command = cerebro_command(logic.arguments(Path("in.nrrd"), Path("out.nrrd"), "cerebro-default",
                                              modality="cta"), logic.python)
    assert command[command.index("--modality") + 1] == "cta"
    assert "--modality" not in logic.arguments(Path("a"), Path("b"), "cerebro-default")
    node = mrml.volume_to_node(_ct_with_air(24), scene, "angio")
    with pytest.raises(CerebroError, match="unknown modality"):
        logic.start(node, "cerebro-default", modality="pet")
    manifest = CerebroBenchmarkLogic().scene_manifest(node, tmp_path / "store", modality="cta")
    assert [c.modality for c in Manifest.read(manifest)] == ["cta"]
    auto = CerebroBenchmarkLogic().scene_manifest(node, tmp_path / "store2")
    assert [c.modality for c in Manifest.read(auto)] == [""]
