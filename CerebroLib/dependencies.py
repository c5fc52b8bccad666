"""Which third-party Python packages CerebroBench needs inside Slicer, and which of them are missing.

Slicer ships numpy and SimpleITK; the rest is installed on first use, after the user agrees (the module
widgets ask, then call ``slicer.util.pip_install``). The pure functions here decide what is missing, so
that decision is tested under pytest; the lists mirror ``pyproject.toml`` (a test keeps them in sync).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping

# import name -> pip requirement, for what ``cerebro`` itself imports (pyproject: [project].dependencies).
CORE_REQUIREMENTS: dict[str, str] = {
    "numpy": "numpy>=1.24",
    "SimpleITK": "SimpleITK>=2.3",
    "nibabel": "nibabel>=5.0",
    "zfpy": "zfpy>=1.0.1",
    "tqdm": "tqdm>=4.60",
}

# What the CerebroCompress module needs: the core, plus scikit-image for the report's 3D SSIM.
COMPRESS_MODULE_REQUIREMENTS: dict[str, str] = {**CORE_REQUIREMENTS, "skimage": "scikit-image>=0.22"}

# Optional codecs (pyproject: the ``codecs`` extra); a codec whose library is missing is simply not offered.
CODEC_REQUIREMENTS: dict[str, str] = {
    "imagecodecs": "imagecodecs>=2024.1.1",
    "pysz": "pysz>=1.0",
    "blosc2": "blosc2>=2.5",
}

# What the CerebroCompress panel's install button offers: the module's needs and the optional codecs.
COMPRESS_PANEL_REQUIREMENTS: dict[str, str] = {**COMPRESS_MODULE_REQUIREMENTS, **CODEC_REQUIREMENTS}


def is_importable(module_name: str) -> bool:
    """True if ``module_name`` can be imported in this Python (without importing it)."""
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        return False


def missing_requirements(
    requirements: Mapping[str, str], importable: Callable[[str], bool] = is_importable
) -> list[str]:
    """The pip requirement strings of ``requirements`` (import name -> requirement) whose module is missing."""
    return [requirement for module, requirement in requirements.items() if not importable(module)]


def install_prompt(missing: list[str]) -> str:
    """The question shown before installing ``missing`` requirements with pip into Slicer's Python."""
    return (
        "CerebroBench needs these Python packages, which are not installed in Slicer yet:\n\n  "
        + "\n  ".join(missing)
        + "\n\nInstall them now with pip? (This downloads them from PyPI and can take a few minutes.)"
    )

# What the CerebroSegment module needs: the core plus the segmentation stack (pyproject: ``ml`` and ``all``).
SEGMENT_MODULE_REQUIREMENTS: dict[str, str] = {
    **CORE_REQUIREMENTS,
    "torch": "torch>=2.2",
    "monai": "monai>=1.3",
    "safetensors": "safetensors>=0.4",
    "huggingface_hub": "huggingface_hub>=0.23",
    "dynamic_network_architectures": "dynamic-network-architectures>=0.3",
    "skimage": "scikit-image>=0.22",
}

TORCH_REQUIREMENT = SEGMENT_MODULE_REQUIREMENTS["torch"]

# What the CerebroBenchmark module needs: segmentation, plus the analysis extra (surface metrics, figures of the
# report).
BENCHMARK_MODULE_REQUIREMENTS: dict[str, str] = {
    **SEGMENT_MODULE_REQUIREMENTS,
    "scipy": "scipy>=1.10",
    "matplotlib": "matplotlib>=3.7",
}


def split_torch(missing: list[str], pytorch_extension_available: bool) -> tuple[bool, list[str]]:
    """Decide how to install ``missing`` requirements: (install torch through SlicerPyTorch?, the rest for pip).

    Inside Slicer the SlicerPyTorch extension (``PyTorchUtils``) picks the torch wheel matching the GPU/CUDA
    driver, so torch goes through it when it is installed (as SlicerTotalSegmentator does); otherwise torch
    is pip-installed from PyPI with the rest.
    """
    torch_missing = TORCH_REQUIREMENT in missing
    if torch_missing and pytorch_extension_available:
        return True, [r for r in missing if r != TORCH_REQUIREMENT]
    return False, list(missing)
