"""Batches of augmented training patches.

Per patch: a box from the sampler, the case's raw image there (a new appearance for synthetic cases), with a
probability a **compression round trip** of the raw patch (int16, a random codec setting reached by rate
control at a random ratio), the case's z-score, extra input channels, then MONAI spatial transforms (flips on
every axis, random affine: rotation +-15 degrees, scale 0.85-1.15) on image, label and skeleton together and
MONAI intensity transforms (Gaussian noise, gamma, bias field, scale and shift). A CT model's patches are
normalised with the dataset's fixed statistics (``ct``) instead of the case's z-score. All randomness comes from one
NumPy generator (MONAI's transforms are reseeded from it per patch), so a resumed run draws the same patches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cerebro.errors import CerebroError
from cerebro.train.cases import Case, CTIntensity
from cerebro.train.sampling import PatchSampler

COMPRESSION_CODECS = (("zfp", "rate"), ("sz3", "abs"), ("sperr", "pwe"), ("jpeg2000", "quality"))


@dataclass
class CompressionAugment:
    """Replace a raw patch by its round trip through a random codec of ``codecs`` at a ratio drawn log-uniformly
    from ``ratios`` (X:1 against int16), with probability ``probability``. Codecs that are not installed are
    left out (at least one must be)."""

    probability: float
    ratios: tuple[float, float] = (4.0, 64.0)
    codecs: tuple[tuple[str, str], ...] = COMPRESSION_CODECS

    def __post_init__(self) -> None:
        from cerebro.codecs.base import get_codec

        if not 0 <= self.probability <= 1:
            raise CerebroError(f"the compression probability must be between 0 and 1, got {self.probability}")
        if not 1 < self.ratios[0] <= self.ratios[1]:
            raise CerebroError(f"compression ratios must be a range above 1:1, got {self.ratios}")
        available = []
        for name, mode in self.codecs:
            try:
                codec = get_codec(name)
            except CerebroError:
                continue
            if mode not in codec.modes:
                raise CerebroError(f"codec {name} has no mode '{mode}'")
            available.append((name, mode))
        if self.probability > 0 and not available:
            raise CerebroError("no codec for compression-aware augmentation is installed; "
                               "pip install 'cerebrobench[codecs]'")
        self.available = tuple(available)

    def __call__(self, raw: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str | None]:
        """The (possibly) round-tripped patch (float32) and what was done ('zfp:rate@12.3' or None)."""
        if self.probability == 0 or rng.random() >= self.probability:
            return raw, None
        from cerebro.cbv.compress import compress_volume, decompress
        from cerebro.ratecontrol import TargetUnreachable, search_setting
        from cerebro.volume import Volume

        name, mode = self.available[int(rng.integers(len(self.available)))]
        ratio = float(np.exp(rng.uniform(*np.log(self.ratios))))
        volume = Volume(np.clip(np.rint(raw), -32768, 32767).astype(np.int16))
        try:
            found = search_setting(volume, name, mode, "ratio", ratio, tolerance=0.2, max_iter=10, workers=1)
        except TargetUnreachable as error:
            if error.closest is None:
                return raw, None
            found = error.closest
        decoded = decompress(compress_volume(volume, name, mode, found.settings, workers=1), workers=1)
        return decoded.array.astype(np.float32), f"{name}:{mode}@{found.ratio:.1f}"


def _fit(array: np.ndarray, box: tuple[slice, ...]) -> np.ndarray:
    """``array`` cut by ``box`` from a case smaller than the box: pad at the far end (edge values) to its size."""
    pad = [(0, (b.stop - b.start) - n) for b, n in zip(box, array.shape)]
    return np.pad(array, pad, mode="edge") if any(p for _, p in pad) else array


class BatchMaker:
    """Builds (images (b, c, x, y, z) float32, labels (b, x, y, z) int64, skeletons (b, x, y, z) or None)."""

    def __init__(self, cases: list[Case], sampler: PatchSampler, batch_size: int, compression: CompressionAugment,
                 skeletons: list[np.ndarray] | None = None, affine_probability: float = 0.2,
                 intensity: bool = True, ct: CTIntensity | None = None) -> None:
        from monai.transforms import (
            RandAdjustContrast,
            RandAffine,
            RandBiasField,
            RandGaussianNoise,
            RandScaleIntensity,
            RandShiftIntensity,
        )

        self.cases, self.sampler, self.batch_size = cases, sampler, batch_size
        self.compression, self.skeletons, self.ct = compression, skeletons, ct
        self.affine = RandAffine(prob=affine_probability, rotate_range=(np.pi / 12,) * 3, scale_range=(0.15,) * 3,
                                 padding_mode="border")
        self.intensity = [RandGaussianNoise(prob=0.15, std=0.1), RandAdjustContrast(prob=0.15, gamma=(0.7, 1.5),
                                                                                     retain_stats=True),
                          RandBiasField(prob=0.1, coeff_range=(0.0, 0.2)), RandScaleIntensity(factors=0.2, prob=0.3),
                          RandShiftIntensity(offsets=0.2, prob=0.3)] if intensity else []
        self.compressed = 0

    def batch(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One batch of ``batch_size`` augmented patches."""
        images, labels, skeletons = [], [], []
        for _ in range(self.batch_size):
            image, label, skeleton = self.patch(rng)
            images.append(image)
            labels.append(label)
            skeletons.append(skeleton)
        skeleton_batch = torch.from_numpy(np.stack(skeletons)) if self.skeletons is not None else None
        return (torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(labels).astype(np.int64)),
                skeleton_batch)

    def patch(self, rng: np.random.Generator, augment: bool = True
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One patch: image (c, x, y, z) float32, label (x, y, z) uint8, skeleton (x, y, z) float32 (zeros when
        the recipe needs none)."""
        index, box = self.sampler.draw(rng)
        case = self.cases[index]
        look, mean, std = case.draw(rng)
        raw = _fit(case.raw_patch(box, look, rng), box)
        if augment:
            raw, done = self.compression(raw, rng)
            self.compressed += done is not None
        channels = [self.ct(raw) if self.ct is not None else (raw - mean) / std]
        prior = getattr(case, "prior", None)
        if prior is not None:
            channels.append(_fit(prior[box], box))
        image = np.stack(channels).astype(np.float32)
        label = _fit(case.label[box], box)
        skeleton = (_fit(self.skeletons[index][box], box) if self.skeletons is not None
                    else np.zeros(label.shape, np.float32))
        if not augment:
            return image, np.ascontiguousarray(label), np.ascontiguousarray(skeleton)
        flips = tuple(a for a in range(3) if rng.random() < 0.5)
        if flips:
            image = np.flip(image, tuple(a + 1 for a in flips))
            label, skeleton = np.flip(label, flips), np.flip(skeleton, flips)
        image, label, skeleton = self._affine(np.ascontiguousarray(image), label, skeleton, rng)
        for transform in self.intensity:
            transform.set_random_state(int(rng.integers(2**31)))
            image[:1] = np.asarray(transform(image[:1]), dtype=np.float32)
        return np.ascontiguousarray(image, np.float32), np.ascontiguousarray(label), np.ascontiguousarray(skeleton)

    def _affine(self, image: np.ndarray, label: np.ndarray, skeleton: np.ndarray, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.affine.set_random_state(int(rng.integers(2**31)))
        self.affine.randomize()
        if not self.affine._do_transform:
            return image, label, skeleton
        out = np.asarray(self.affine(image, randomize=False), dtype=np.float32)
        masks = np.stack([label.astype(np.float32), skeleton])
        warped = np.asarray(self.affine(masks, mode="nearest", randomize=False))
        return out, warped[0].astype(np.uint8), warped[1].astype(np.float32)
