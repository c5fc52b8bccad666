"""One codec setting, one exact text form: the round trip for every value every codec accepts, the NAME=VALUE
reader, and settings that differ only beyond six significant digits kept apart from the command line to the store."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cerebro.benchmark.store import ResultStore
from cerebro.benchmark.sweep import parse_setting, parse_setting_lines
from cerebro.cli.main import main
from cerebro.codecs import available_codecs
from cerebro.codecs.base import Setting
from cerebro.codecs.setting import CodecSetting, assignments, format_value, parse_assignments
from cerebro.datasets import Manifest
from cerebro.errors import CerebroError
from cerebro.phantoms import generate_phantom
from cerebro.phantoms.write import write_phantom_case

SETTINGS_OF_EVERY_MODE = [(codec.name, mode.name, mode.settings) for codec in available_codecs().values()
                          for mode in codec.modes.values()]
NEAR = ["zfp:accuracy:tolerance=1234567", "zfp:accuracy:tolerance=1234568"]


def _values(spec: Setting) -> st.SearchStrategy:
    """Every value ``spec`` accepts: its choices, integers or finite floats in its range, or any text."""
    if spec.choices:
        return st.sampled_from(spec.choices)
    if spec.kind is int:
        return st.integers(int(spec.minimum), int(spec.maximum))
    if spec.kind is float:
        return st.floats(spec.minimum, spec.maximum, allow_nan=False, allow_infinity=False)
    return st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@st.composite
def codec_settings(draw: st.DrawFn) -> CodecSetting:
    codec, mode, specs = draw(st.sampled_from(SETTINGS_OF_EVERY_MODE))
    chosen = draw(st.lists(st.sampled_from(specs), unique_by=lambda s: s.name)) if specs else []
    values = {spec.name: draw(_values(spec)) for spec in chosen}
    try:
        return CodecSetting.of(codec, mode, values)
    except CerebroError:  # settings that constrain each other (roi: roi_tolerance <= tolerance)
        assume(False)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(codec_settings())
def test_the_text_form_round_trips_every_value_of_every_codec(setting: CodecSetting) -> None:
    assert CodecSetting.parse(setting.text) == setting
    assert parse_setting(setting.text).setting == setting
    assert parse_setting(setting.text).key == setting.text
    options = [f"{name}={format_value(value)}" for name, value in setting.values]  # as `--set NAME=VALUE` each
    assert CodecSetting.of(setting.codec, setting.mode, assignments(options, "--set")) == setting


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_are_exact_and_as_short_as_before(value: float) -> None:
    text = format_value(value)
    assert float(text) == value and "," not in text
    if float(f"{value:g}") == value:
        assert text == f"{value:g}"  # keys of stores written before stay the same


def test_examples_of_the_text_form() -> None:
    assert [format_value(v) for v in (500.0, 1234567.0, 0.12345678, 1e-5, 1e20, 2 ** 60 + 1.0, 7, "k")] == [
        "500", "1234567", "0.12345678", "1e-05", "1e+20", "1.152921504606847e+18", "7", "k"]
    assert format_value("/data/my scans/m,1.nii.gz") == '"/data/my scans/m,1.nii.gz"'
    roi = CodecSetting.of("roi", "mask", {"mask": 'C:\\a "b", #c.nii', "tolerance": 60})
    assert CodecSetting.parse(roi.text) == roi and roi.values == (("mask", 'C:\\a "b", #c.nii'), ("tolerance", 60.0))
    assert parse_setting_lines(roi.text + "  # a comment")[0].setting == roi  # '#' inside quotes is no comment
    assert parse_assignments('a=1, b = "x,y" ,c=-2', "t") == {"a": "1", "b": "x,y", "c": "-2"}
    assert assignments(["mask=/a,b.nii", "base-tolerance=3"], "--set") == {"mask": "/a,b.nii", "base_tolerance": "3"}


@pytest.mark.parametrize("text, message", [
    ("zfp", "is not CODEC:MODE"), ("zfp:accuracy:tolerance", "is not NAME=VALUE"),
    ("zfp:accuracy:tolerance=5,", "a comma ends"), ("zfp:accuracy:tolerance=5,tolerance=6", "given twice"),
    ("zfp:accuracy:=5", "is not NAME=VALUE"), ('roi:mask:mask="a', "not closed"),
    ('roi:mask:mask="a"b', "after a quoted value"), ("zfp:precision:precision=12.5", "not an integer"),
    ("zfp:accuracy:tolerance=nan", "must be finite"), ("zfp:accuracy:tolerance=5,rate=4", "does not apply"),
    ("zfp:warp", "no mode"), ("zfp:accuracy:tolerance=0", "out of range"),
])
def test_bad_texts_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(CerebroError, match=message):
        CodecSetting.parse(text)


@pytest.fixture(scope="module")
def manifest_file(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("near")
    manifest = Manifest([write_phantom_case(generate_phantom(24, "cta", seed=5, supersample=1), root, "cta_5")])
    manifest.write(root / "manifest.csv")
    return str(root / "manifest.csv")


def _near_records(store: ResultStore) -> dict[str, float]:
    return {r["setting"]: r["compression"]["settings"]["tolerance"] for r in store.records()
            if r["setting"] != "uncompressed"}


@pytest.mark.usefixtures("one_torch_thread")
def test_settings_beyond_six_digits_stay_apart_through_benchmark_run(manifest_file, tmp_path) -> None:
    pytest.importorskip("torch")
    store = tmp_path / "store"
    assert main(["benchmark", "run", manifest_file, "--store", str(store), "--device", "cpu", "--metrics", "overlap",
                 "--workers", "1", "--setting", NEAR[0], "--setting", NEAR[1], "--quiet"]) == 0
    assert _near_records(ResultStore(store)) == {NEAR[0]: 1234567.0, NEAR[1]: 1234568.0}
    # a store written before (the panel keyed 1234567 as 1.23457e+06) keeps loading with its keys as written
    results = ResultStore(store).results_path
    results.write_text(results.read_text().replace(NEAR[0], "zfp:accuracy:tolerance=1.23457e+06"))
    assert main(["benchmark", "table", str(store)]) == 0
    assert "zfp:accuracy:tolerance=1.23457e+06" in {r["setting"] for r in ResultStore(store).records()}


def test_a_codec_whose_library_is_missing_is_known_but_not_offered(tmp_path) -> None:
    """Codec modules import their libraries on first use: where they are missing (a fresh Slicer, before its
    panel installs them) every codec's settings are still known - the panels' parameter nodes are built from
    them - while no codec is offered and asking for one says what to install."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "hidden.py"
    script.write_text('''
import importlib.abc, importlib.util, sys
HIDDEN = ("zfpy", "imagecodecs", "pysz", "torch")
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in HIDDEN else real(name, *a)
from cerebro.codecs.base import available_codecs, get_codec
from cerebro.codecs.setting import setting_types
from cerebro.errors import CerebroError
print(len(setting_types()), len(available_codecs()))
try:
    get_codec("zfp")
except CerebroError as error:
    print(error)
''')
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True,
                         env=env).stdout.splitlines()
    from cerebro.codecs.setting import setting_types

    assert out[0] == f"{len(setting_types())} 0"
    assert out[1] == "codec zfp cannot run here: zfpy is not installed; install the codecs with: pip install " \
                     "'cerebrobench[codecs]'"
