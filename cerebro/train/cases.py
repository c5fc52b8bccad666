"""Training cases on the plans' grid: fixed images (a labelled dataset, phantoms) preprocessed exactly like
inference, and the common interface the patch sampler and the trainer use (synthetic cases follow it too).

A case gives, for a box on its grid, the *raw* image (scanner units, before the z-score) and its z-score
statistics, so that compression-aware augmentation can round-trip the patch in the units a codec would see
before normalising it as inference does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from cerebro.errors import CerebroError
from cerebro.modality import BONE_HU
from cerebro.progress import Progress
from cerebro.segment.families.nnunet.preprocess import new_shape_for_spacing, nonzero_bbox, normalize, resample
from cerebro.volume import Volume

DATA_RESAMPLING = {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None}
LABEL_RESAMPLING = {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None}
MAX_BONE_CENTRES = 50_000


class Case(Protocol):
    """What the sampler and the trainer need of a training case."""

    name: str
    label: np.ndarray  # (x, y, z) uint8 on the plans' grid
    foreground: np.ndarray  # (n, 3) indices of label voxels
    bone: np.ndarray  # (n, 3) indices of bone voxels (hard-negative patch centres), may be empty

    @property
    def shape(self) -> tuple[int, int, int]: ...

    def draw(self, rng: np.random.Generator) -> tuple[Any, float, float]:
        """A per-draw appearance (or None) and the z-score statistics (mean, std) of the whole case."""
        ...

    def raw_patch(self, box: tuple[slice, ...], look: Any, rng: np.random.Generator) -> np.ndarray:
        """The raw first-channel image inside ``box`` (float32)."""
        ...


@dataclass(frozen=True)
class CTIntensity:
    """nnU-Net's ``CTNormalization`` with a dataset's foreground intensity properties (those of plans.json): the
    CT model's patches are normalised by this, not by the case's z-score statistics."""

    properties: dict[str, float]

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """``raw`` (HU, any shape) clipped to the 0.5-99.5 foreground percentiles, minus the mean, over the std."""
        return normalize(raw, "CTNormalization", self.properties, False, None)


@dataclass
class FixedCase:
    """A case with a fixed image: ``raw`` (x, y, z) float32 in scanner units on the plans' grid (cropped to
    nonzero like inference), ``mean``/``std`` its z-score statistics, optional extra input channels
    (``prior``, e.g. the centreline prior, already in network units)."""

    name: str
    raw: np.ndarray
    label: np.ndarray
    mean: float
    std: float
    foreground: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    bone: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    prior: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.label.shape)  # type: ignore[return-value]

    def draw(self, rng: np.random.Generator) -> tuple[None, float, float]:
        return None, self.mean, self.std

    def raw_patch(self, box: tuple[slice, ...], look: Any, rng: np.random.Generator) -> np.ndarray:
        return self.raw[box]

    def normalized(self, ct: CTIntensity | None = None) -> np.ndarray:
        """The whole case as the network sees it: (channels, x, y, z) float32 (z-scored, or by ``ct``)."""
        image = (ct(self.raw) if ct is not None else (self.raw - self.mean) / self.std)[None]
        if self.prior is not None:
            image = np.concatenate([image, self.prior[None]])
        return image.astype(np.float32)


def preprocess(image: Volume, label: np.ndarray | None, target_spacing: list[float]
               ) -> tuple[np.ndarray, np.ndarray | None, float, float, tuple[slice, ...]]:
    """Crop to nonzero and resample ``image`` (and a 0/1 or fractional ``label`` on its grid) to
    ``target_spacing`` (k, j, i) mm exactly as inference does. Returns (raw image, 0/1 label or None, z-score
    mean, std, crop box)."""
    data = image.array.astype(np.float32)[None]
    box, _ = nonzero_bbox(data)
    data = data[(slice(None), *box)]
    mean, std = float(data.mean()), max(float(data.std()), 1e-8)
    spacing = list(image.spacing[::-1])
    shape = new_shape_for_spacing(data.shape[1:], spacing, target_spacing)
    raw = resample(data, shape, spacing, target_spacing, **DATA_RESAMPLING)[0]
    out_label = None
    if label is not None:
        fraction = resample(label[box][None].astype(np.float32), shape, spacing, target_spacing, **LABEL_RESAMPLING)
        out_label = (fraction[0] >= 0.5).astype(np.uint8)
    return raw.astype(np.float32), out_label, mean, std, box


def fixed_case(name: str, image: Volume, label: np.ndarray, target_spacing: list[float], modality: str = "",
               prior: Volume | None = None, seed: int = 0) -> FixedCase:
    """A FixedCase from an image and its label (vessel = label > 0, or a volume fraction >= 0.5); CTA bone
    (> 700 HU) voxels become hard-negative centres; ``prior`` an extra channel on the image's grid."""
    if label.shape != image.shape:
        raise CerebroError(f"case {name}: label shape {label.shape} differs from image shape {image.shape}; "
                           "give a label on the image's grid")
    binary = label.astype(np.float32) if label.dtype.kind == "f" else (label > 0).astype(np.float32)
    raw, lab, mean, std, box = preprocess(image, binary, target_spacing)
    assert lab is not None
    bone = np.zeros((0, 3), np.int64)
    if modality == "cta":
        bone = np.argwhere(raw > BONE_HU)
        if len(bone) > MAX_BONE_CENTRES:
            bone = bone[np.random.default_rng(seed).choice(len(bone), MAX_BONE_CENTRES, replace=False)]
    prior_array = None
    if prior is not None:
        spacing = list(image.spacing[::-1])
        cropped = prior.array[box][None].astype(np.float32)
        prior_array = resample(cropped, raw.shape, spacing, target_spacing, **DATA_RESAMPLING)[0]
    return FixedCase(name, raw, lab, mean, std, np.argwhere(lab > 0), bone, prior_array)


def dataset_cases(cases: list, target_spacing: list[float], centreline_channel: bool = False,
                  progress: Progress | None = None) -> list[FixedCase]:
    """Read and preprocess the labelled cases of a manifest (``cerebro.datasets.Case`` list)."""
    from cerebro.datasets import load_label
    from cerebro.io import read_volume
    from cerebro.vesselness import centreline_prior

    progress = progress or Progress()
    out = []
    for n, case in enumerate(cases):
        progress.update(n / max(len(cases), 1), f"reading {case.case_id}")
        if case.label_path is None:
            raise CerebroError(f"case {case.case_id} has no label; training needs labelled cases")
        image = read_volume(case.image_path)
        image.require_finite()
        label = load_label(case)
        prior = centreline_prior(image) if centreline_channel else None  # as inference makes it
        out.append(fixed_case(case.case_id, image, label.array, target_spacing, case.modality, prior, n))
    progress.update(1.0, f"{len(out)} cases ready")
    return out
