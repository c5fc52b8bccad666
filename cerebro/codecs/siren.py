"""Implicit-neural-representation codecs: ``siren`` (sine MLP) and ``inr-hashgrid`` (hash grid + ReLU MLP).

Encoding fits a network to the volume (see :mod:`cerebro.inr.fit`), quantises its weights and zstd-packs
them (:mod:`cerebro.inr.quantize`); ``Encoded.chunks`` is that one blob and ``Encoded.meta`` the architecture,
intensity normalisation and coordinate scale. Decoding evaluates the network on the full grid in batches.
Mode ``ratio`` sizes the network from a target compression ratio; mode ``explicit`` takes the architecture.
torch is imported on first use, so listing codecs (the command line's start-up) stays fast.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cerebro.codecs.base import Codec, Encoded, Mode, Setting, register
from cerebro.codecs.meta import corrupt, meta_choice, meta_dict, meta_float, meta_int, require_chunk_count
from cerebro.errors import CerebroError
from cerebro.inr.arch import QUANT_BITS, max_levels, parameter_count
from cerebro.inr.sizing import measured_keep, size_hashgrid, size_siren
from cerebro.progress import Progress
from cerebro.volume import Volume

FORMAT_VERSION = 1
MAX_WEIGHTS_PER_VOXEL_BYTE = 4
"""A file's network may hold at most this many bytes of float32 weights per byte of the volume (+16 MiB): a
coordinate network larger than the voxels it encodes is never written, so a header asking for one is refused
before the network is built."""
REFIT_BELOW = 0.9  # mode ratio: refit a larger network when the weights fill less of the byte budget


def _training_settings(steps: int, lr: float) -> tuple[Setting, ...]:
    """Settings shared by every mode: step budget, optimiser, quantisation, seed, time limit and device."""
    return (
        Setting("steps", int, steps, 1, 10_000_000, help="training steps (mini-batches)"),
        Setting("batch_size", int, 8192, 64, 2**22, unit="voxels", help="random voxels per step"),
        Setting("lr", float, lr, 1e-6, 1.0, help="peak Adam learning rate (cosine decay)"),
        Setting("quant_bits", int, 8, choices=QUANT_BITS, help="bits per stored weight (16 = float16)"),
        Setting("qat_fraction", float, 0.1, 0.0, 0.9, help="final fraction of steps trained quantisation-aware"),
        Setting("seed", int, 0, 0, 2**31 - 1, help="seed of the initialisation and the voxel sampling"),
        Setting("time_limit", float, 0.0, 0.0, 1e6, unit="s",
                help="stop training after this many seconds (0 = step budget only; >0 is not reproducible "
                     "and fits one network only)"),
        Setting("device", str, "auto", choices=("auto", "cpu", "cuda"), help="where to train and evaluate"),
    )


_RATIO = Setting("ratio", float, 50.0, 1.5, 100_000.0, help="target compression ratio (original bytes / file bytes)")


class _INRCodec(Codec):
    """Shared encode/decode of the coordinate-network codecs; subclasses choose the architecture."""

    requires = ("torch", "imagecodecs")

    @abstractmethod
    def _architecture(self, volume: Volume, mode: str, settings: dict[str, Any], budget_bytes: float,
                      keep: float | None = None) -> dict:
        """The network for ``volume``: sized to ``budget_bytes`` of weights in mode ``ratio`` (``keep``: the
        fraction of integer-code bytes zstd keeps, see :func:`cerebro.inr.sizing.weight_bytes`), else as set."""

    def encode(self, volume: Volume, mode: str, settings: dict[str, Any], progress: Progress | None = None,
               file_overhead: Callable[[dict[str, Any]], int] | None = None) -> Encoded:
        """Fit, quantise and pack a network for ``volume`` (settings resolved by ``resolve_settings``).

        In mode ``ratio``, when the packed weights fill less than REFIT_BELOW of the byte budget at full
        precision (zstd kept less than the sizing expected), a network sized with the measured zstd fraction
        is fitted once more, so the file lands near the target ratio instead of far above it. ``file_overhead``
        (given by :func:`cerebro.cbv.compress.compress_volume`): the bytes the file adds around the weights, for a meta.
        """

        from cerebro.device import resolve_device
        from cerebro.inr.fit import coordinate_scale

        volume.require_finite()
        resolve_device(settings["device"], mps=False)  # a missing GPU is an error before the fit, not after
        lo, hi = float(volume.array.min()), float(volume.array.max())
        scale = coordinate_scale(volume.shape, tuple(volume.spacing[::-1]))
        bits = settings["quant_bits"]
        meta: dict[str, Any] = {"format": FORMAT_VERSION, "lo": lo, "hi": hi, "scale": scale}
        budget = float("inf")
        if mode == "ratio":
            budget = volume.nbytes / settings["ratio"] - _file_overhead(file_overhead, meta)
        may_refit = mode == "ratio" and bits != 16 and settings["time_limit"] == 0
        target = _normalise(volume.array, lo, hi)
        arch = self._architecture(volume, mode, settings, budget)
        first = _sub(progress, 0.0, 0.5 if may_refit else 0.97)
        fitted, levels, blob = _fit_and_pack(arch, target, scale, settings, budget, first)
        fits = 1
        if may_refit and levels == max_levels(bits) and len(blob) < REFIT_BELOW * budget:
            keep = measured_keep(arch, bits, len(blob))
            larger = self._architecture(volume, mode, settings, budget, keep)
            if parameter_count(larger) > parameter_count(arch):
                if progress is not None:
                    progress.update(0.5, f"the weights filled {len(blob) / budget:.0%} of the byte budget; "
                                         "fitting a larger network")
                arch = larger
                fitted, levels, blob = _fit_and_pack(arch, target, scale, settings, budget,
                                                            _sub(progress, 0.5, 0.97))
                fits = 2
        meta["arch"] = arch
        meta["quant_levels"] = levels
        meta["steps_done"] = fitted.steps_done
        meta["fits"] = fits
        meta["train_psnr_db"] = round(fitted.train_psnr_db, 3) if np.isfinite(fitted.train_psnr_db) else None
        if progress is not None:
            progress.update(1.0, f"packed {parameter_count(arch)} weights into {len(blob)} bytes")
        return Encoded(self.name, mode, dict(settings), [blob], meta)

    def decode(self, encoded: Encoded, shape: tuple[int, int, int], dtype: np.dtype,
               progress: Progress | None = None) -> np.ndarray:
        """Rebuild the network from the blob and evaluate it at every voxel; array of ``shape`` and ``dtype``."""
        from cerebro.inr.fit import evaluate_grid
        from cerebro.inr.model import build_network
        from cerebro.inr.quantize import unpack_weights

        meta = encoded.meta
        model = build_network(meta["arch"], 0)
        unpack_weights(model, encoded.chunks[0], meta["quant_levels"])
        device = str(encoded.settings.get("device", "auto"))
        values = evaluate_grid(model, tuple(shape), meta["scale"], device="cpu" if device == "cpu" else "auto",
                               progress=progress)
        return _denormalise(values, float(meta["lo"]), float(meta["hi"]), np.dtype(dtype))

    def validate_meta(self, meta: dict[str, Any], shape: tuple[int, int, int], dtype: np.dtype,
                      chunk_sizes: Sequence[int]) -> None:
        """Format, intensity range, coordinate scale, quantisation and an architecture this codec can build
        (each size within its setting's range), whose weights are no larger than the volume itself."""
        if meta.get("format") != FORMAT_VERSION:
            raise CerebroError(f"unsupported {self.name} data (format {str(meta.get('format'))[:20]!r}); "
                               "re-compress with this version of cerebro")
        require_chunk_count(chunk_sizes, 1, self.name)
        if meta_float(meta, "lo", self.name) > meta_float(meta, "hi", self.name):
            raise corrupt(self.name, "lo", "at most hi", meta["lo"])
        scale = meta.get("scale")
        if not isinstance(scale, list) or len(scale) != 3 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1 for v in scale):
            raise corrupt(self.name, "scale", "3 numbers in (0, 1]", scale)
        meta_int(meta, "quant_levels", 0, max(max_levels(bits) for bits in QUANT_BITS), self.name)
        arch = meta_dict(meta, "arch", self.name)
        meta_choice(arch, "kind", [self._kind], f"{self.name} arch")
        for name, low, high in self._arch_ranges(shape):
            meta_int(arch, name, low, high, f"{self.name} arch")
        weight_bytes = 4 * parameter_count(arch)
        if weight_bytes > MAX_WEIGHTS_PER_VOXEL_BYTE * math.prod(shape) * np.dtype(dtype).itemsize + (1 << 24):
            raise corrupt(self.name, "arch", "a network no larger than the volume it encodes",
                          f"{weight_bytes} bytes of weights")

    @abstractmethod
    def _arch_ranges(self, shape: tuple[int, int, int]) -> list[tuple[str, int, int]]:
        """(field, minimum, maximum) of each integer field of this codec's architecture."""


class SirenCodec(_INRCodec):
    """SIREN: sine-activated MLP on (z, y, x), first layer omega_0 = 30 (Sitzmann et al. 2020)."""

    name = "siren"
    description = "SIREN implicit neural representation: a sine MLP fitted to the volume, int-k weights + zstd"
    modes = {
        "ratio": Mode("ratio", (_RATIO, Setting("depth", int, 3, 2, 12, help="sine layers"),
                                *_training_settings(2000, 1e-3)),
                      help="width chosen so the file meets the target compression ratio"),
        "explicit": Mode("explicit", (Setting("width", int, 64, 4, 4096, help="units per sine layer"),
                                      Setting("depth", int, 3, 2, 12, help="sine layers"),
                                      *_training_settings(2000, 1e-3)),
                         help="the architecture is given"),
    }

    _kind = "siren"

    def _arch_ranges(self, shape: tuple[int, int, int]) -> list[tuple[str, int, int]]:
        return [("width", 1, 4096), ("depth", 2, 12)]

    def _architecture(self, volume: Volume, mode: str, settings: dict[str, Any], budget_bytes: float,
                      keep: float | None = None) -> dict:
        if mode == "ratio":
            return size_siren(budget_bytes, settings["depth"], settings["quant_bits"], keep)
        return {"kind": "siren", "width": settings["width"], "depth": settings["depth"]}


class HashGridCodec(_INRCodec):
    """Multi-resolution hash-grid encoding + small ReLU MLP (Instant-NGP style, pure PyTorch)."""

    name = "inr-hashgrid"
    description = "Hash-grid implicit neural representation: multi-resolution feature grids + small MLP, int-k + zstd"
    _grid = (
        Setting("levels", int, 8, 1, 24, help="grid resolutions, geometric from 4 to the largest dimension"),
        Setting("features", int, 2, 1, 8, help="features per grid vertex"),
        Setting("width", int, 32, 4, 1024, help="units per hidden MLP layer"),
        Setting("depth", int, 2, 1, 8, help="hidden MLP layers"),
    )
    modes = {
        "ratio": Mode("ratio", (_RATIO, *_grid, *_training_settings(1000, 1e-2)),
                      help="hash-table size chosen so the file meets the target compression ratio"),
        "explicit": Mode("explicit", (Setting("log2_table_size", int, 14, 3, 24, help="log2 of entries per level"),
                                      *_grid, *_training_settings(1000, 1e-2)),
                         help="the architecture is given"),
    }

    _kind = "hashgrid"

    def _arch_ranges(self, shape: tuple[int, int, int]) -> list[tuple[str, int, int]]:
        return [("levels", 1, 24), ("features", 1, 8), ("table_size", 1, 2**24), ("max_resolution", 1, max(shape)),
                ("width", 1, 1024), ("depth", 1, 8)]

    def _architecture(self, volume: Volume, mode: str, settings: dict[str, Any], budget_bytes: float,
                      keep: float | None = None) -> dict:
        grid = (settings["levels"], settings["features"], settings["width"], settings["depth"], max(volume.shape))
        if mode == "ratio":
            return size_hashgrid(budget_bytes, *grid, settings["quant_bits"], keep)
        levels, features, width, depth, max_resolution = grid
        return {"kind": "hashgrid", "levels": levels, "features": features,
                "table_size": 2 ** settings["log2_table_size"], "max_resolution": max_resolution,
                "width": width, "depth": depth}


def _sub(progress: Progress | None, start: float, stop: float) -> Progress | None:
    """``progress.sub(start, stop)``, or None without a progress."""
    return progress.sub(start, stop) if progress is not None else None


def _fit_and_pack(arch: dict, target: np.ndarray, scale: Any, settings: dict[str, Any], budget: float,
                  progress: Progress | None) -> tuple[Any, int, bytes]:
    """Build ``arch``, fit it to ``target`` (normalised intensities) and pack its weights into ``budget`` bytes.

    Returns (fit result, quantisation levels, zstd blob); ``budget`` is infinite outside mode ``ratio``.
    """
    from cerebro.inr.fit import FitConfig, fit_network
    from cerebro.inr.model import build_network
    from cerebro.inr.quantize import fitting_levels, pack_weights

    bits = settings["quant_bits"]
    model = build_network(arch, settings["seed"])
    config = FitConfig(steps=settings["steps"], batch_size=settings["batch_size"], lr=settings["lr"],
                       seed=settings["seed"], quant_levels=max_levels(bits),
                       qat_fraction=settings["qat_fraction"] if bits != 16 else 0.0,
                       time_limit=settings["time_limit"], device=settings["device"])
    choose = (lambda net: fitting_levels(net, bits, budget)) if np.isfinite(budget) else None
    fitted = fit_network(model, target, scale, config, progress, choose)
    levels = fitted.quant_levels
    blob = pack_weights(model, levels)
    if len(blob) > budget and levels > 1:  # the QAT steps moved the weights: trim levels until it fits
        levels = fitting_levels(model, bits, budget)
        blob = pack_weights(model, levels)
    return fitted, levels, blob


def _normalise(array: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Intensities mapped linearly from [lo, hi] to [-1, 1] (all zeros for a constant volume), float32."""
    span = hi - lo
    if span <= 0:
        return np.zeros(array.shape, dtype=np.float32)
    values = array.astype(np.float64 if array.dtype.itemsize > 2 else np.float32)  # exact for <= 16-bit types
    values -= lo
    values *= 2.0 / span
    values -= 1.0
    return values.astype(np.float32, copy=False)


def _denormalise(values: np.ndarray, lo: float, hi: float, dtype: np.dtype) -> np.ndarray:
    """Network output in [-1, 1] back to [lo, hi] in ``dtype`` (rounded and clipped for integer types)."""
    intensity = values.astype(np.float64)
    intensity += 1.0
    intensity *= 0.5 * (hi - lo)
    intensity += lo
    np.clip(intensity, lo, hi, out=intensity)
    if np.issubdtype(dtype, np.integer):
        return np.rint(intensity).astype(dtype)
    return intensity.astype(dtype)


def _file_overhead(file_overhead: Callable[[dict[str, Any]], int] | None, meta: dict[str, Any]) -> int:
    """Bytes of the .cbv file beyond the weight blob (header JSON, ZIP records), estimated with a long architecture
    and training record so the real file does not exceed the target size; 0 when no file is written around it."""
    if file_overhead is None:
        return 0
    return file_overhead(dict(meta, arch={"kind": "hashgrid", "levels": 24, "features": 8, "table_size": 16777216,
                                          "max_resolution": 100000, "width": 1024, "depth": 8},
                              quant_levels=127, steps_done=10000000, train_psnr_db=-999.999))


register(SirenCodec())
register(HashGridCodec())
