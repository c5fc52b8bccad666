"""CerebroLib.dependencies: what Slicer must pip-install on first use, kept in sync with pyproject.toml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from CerebroLib import dependencies


def test_missing_requirements_lists_only_the_missing_ones():
    requirements = {"numpy": "numpy>=1.24", "not_here": "not-here>=1", "zfpy": "zfpy>=1.0.1"}
    assert dependencies.missing_requirements(requirements, importable=lambda m: m != "not_here") == ["not-here>=1"]
    assert dependencies.missing_requirements(requirements) == ["not-here>=1"]  # the real check
    assert dependencies.is_importable("numpy") and not dependencies.is_importable("no_such_module_xyz")
    prompt = dependencies.install_prompt(["zfpy>=1.0.1", "tqdm>=4.60"])
    assert "zfpy>=1.0.1" in prompt and "tqdm>=4.60" in prompt


def test_requirement_lists_match_pyproject():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]

    def names(requirements):
        return {re.split(r"[<>=!~\[ ]", r, maxsplit=1)[0].lower() for r in requirements}

    assert names(dependencies.CORE_REQUIREMENTS.values()) == names(project["dependencies"])
    everything = names(project["dependencies"]).union(*map(names, project["optional-dependencies"].values()))
    assert names(dependencies.COMPRESS_MODULE_REQUIREMENTS.values()) <= everything
    assert names(dependencies.BENCHMARK_MODULE_REQUIREMENTS.values()) <= everything
    codecs = names(project["optional-dependencies"]["codecs"])
    assert names(dependencies.CODEC_REQUIREMENTS.values()) == codecs
