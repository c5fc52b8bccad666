"""A measured round trip: compress -> (.cbv file or its bytes in memory) -> decompress -> sizes, quality, speed."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from cerebro.cbv.compress import compress_volume, decompress
from cerebro.cbv.compressed import MB, CompressedVolume
from cerebro.cbv.container import container_bytes, read_compressed, write_compressed
from cerebro.codecs.base import Codec, get_codec
from cerebro.codecs.setting import CodecSetting
from cerebro.metrics.quality import default_data_range, max_abs_error, psnr, rmse, ssim3d_details
from cerebro.progress import Progress
from cerebro.volume import Volume


@dataclass
class RoundTripReport:
    """Sizes, quality and speed of one compress -> (file) -> decompress round trip.

    ``compression_ratio`` = original native bytes / ``compressed_nbytes``; ``size_basis`` says whether
    that is the real file on disk or the .cbv container serialised in memory. PSNR uses
    ``psnr_data_range`` (the original's max - min). Throughputs are MB/s (10^6 bytes) of native data.
    """

    codec: str
    mode: str
    settings: dict[str, Any]
    dtype: str
    shape: tuple[int, int, int]
    original_nbytes: int
    compressed_nbytes: int
    size_basis: str
    compression_ratio: float
    bits_per_voxel: float
    psnr_db: float
    psnr_data_range: float
    ssim: float
    ssim_method: str
    max_abs_error: float
    rmse: float
    error_bound: str
    encode_seconds: float
    decode_seconds: float
    encode_mb_s: float
    decode_mb_s: float
    write_seconds: float | None = None
    read_seconds: float | None = None
    region_share: float | None = None
    psnr_region_db: float | None = None
    psnr_outside_db: float | None = None
    max_abs_error_region: float | None = None
    max_abs_error_outside: float | None = None
    """The region fields are set for codecs that code a region of the volume more tightly (``roi``): the share of
    voxels in it, and PSNR (same data range) and max abs error inside and outside it."""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; a non-finite PSNR (identical volumes: inf) or SSIM (n/a: nan) becomes ``None``."""
        data = asdict(self)
        data["shape"] = list(self.shape)
        for key in ("psnr_db", "ssim", "psnr_region_db", "psnr_outside_db"):
            if data[key] is not None and not math.isfinite(data[key]):
                data[key] = None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundTripReport:
        """The report back from :meth:`as_dict` (e.g. read from a ``cerebro compress --report`` JSON result)."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["shape"] = tuple(values["shape"])
        if values.get("psnr_db") is None:
            values["psnr_db"] = math.inf if values.get("max_abs_error") == 0 else math.nan
        if values.get("ssim") is None:
            values["ssim"] = math.nan
        return cls(**values)

    def to_text(self) -> str:
        """A short human-readable table."""
        psnr_text = "inf (identical)" if math.isinf(self.psnr_db) else f"{self.psnr_db:.2f} dB"
        rows = [
            ("codec", f"{self.codec} / {self.mode} {_settings_text(self.settings)}".rstrip()),
            ("volume", f"{'x'.join(map(str, self.shape))} {self.dtype}, {self.original_nbytes / MB:.2f} MB native"),
            ("compressed", f"{self.compressed_nbytes / MB:.3f} MB ({self.size_basis})"),
            ("compression ratio", f"{self.compression_ratio:.2f} : 1"),
            ("bits per voxel", f"{self.bits_per_voxel:.3f}"),
            ("PSNR", f"{psnr_text} (data range {self.psnr_data_range:g} = original max - min)"),
            ("SSIM (3D)", f"{self.ssim:.5f} ({self.ssim_method})"),
            ("max abs error", f"{self.max_abs_error:g} (bound: {self.error_bound})"),
            ("RMSE", f"{self.rmse:.4g}"),
            ("encode", f"{self.encode_seconds:.3f} s, {self.encode_mb_s:.1f} MB/s"),
            ("decode", f"{self.decode_seconds:.3f} s, {self.decode_mb_s:.1f} MB/s"),
        ]
        if self.region_share is not None:
            rows += [("region", f"{self.region_share:.1%} of the voxels: PSNR {_psnr_text(self.psnr_region_db)}, "
                                f"max abs error {self.max_abs_error_region:g}"),
                     ("outside the region", f"PSNR {_psnr_text(self.psnr_outside_db)}, "
                                            f"max abs error {self.max_abs_error_outside:g}")]
        if self.write_seconds is not None:
            rows.append(("file write / read", f"{self.write_seconds:.3f} s / {self.read_seconds:.3f} s"))
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _psnr_text(value: float | None) -> str:
    return "inf dB (identical)" if value is None or math.isinf(value) else f"{value:.2f} dB"


def _settings_text(settings: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in settings.items())


def _rate(nbytes: int, seconds: float) -> float:
    return nbytes / MB / seconds if seconds > 0 else math.inf


def region_quality(region: np.ndarray | None, reference: np.ndarray, test: np.ndarray, peak: float
                   ) -> dict[str, float]:
    """The report's region fields: share of voxels, and PSNR (data range ``peak``) and max abs error inside and
    outside ``region`` (bool, the volumes' shape); nothing when there is no region."""
    if region is None:
        return {}
    fields_ = {"region_share": float(region.mean())}
    for where, part in (("region", region), ("outside", ~region)):
        if part.any():
            fields_[f"psnr_{where}_db"] = psnr(reference[part], test[part], peak)
            fields_[f"max_abs_error_{where}"] = max_abs_error(reference[part], test[part])
    return fields_


def round_trip(
    volume: Volume,
    codec: str | Codec | CodecSetting,
    mode: str | None = None,
    settings: dict[str, Any] | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    path: str | Path | None = None,
) -> tuple[Volume, RoundTripReport, CompressedVolume]:
    """Compress (at a CodecSetting, or ``codec``/``mode``/``settings`` as :func:`~cerebro.cbv.compress.compress_volume`
    takes them), (write ``path`` and read it back,) decompress and measure; returns (decoded, report, compressed).

    Without ``path`` the compressed size is that of the .cbv container serialised in memory.
    """
    progress = progress or Progress()
    compressed = compress_volume(volume, codec, mode, settings, progress.sub(0.0, 0.4), workers)
    write_seconds = read_seconds = None
    if path is not None:
        start = time.perf_counter()
        write_compressed(compressed, path)
        write_seconds = time.perf_counter() - start
        size, basis = Path(path).stat().st_size, f"file on disk: {Path(path).name}"
        start = time.perf_counter()
        to_decode = read_compressed(path)
        read_seconds = time.perf_counter() - start
    else:
        size, basis, to_decode = len(container_bytes(compressed)), ".cbv container serialised in memory", compressed
    progress.update(0.45, "decoding")
    start = time.perf_counter()
    decoded = decompress(to_decode, progress.sub(0.45, 0.8), workers)
    decode_seconds = time.perf_counter() - start
    progress.update(0.8, "measuring quality")
    reference, test = volume.array, decoded.array
    data_range = default_data_range(reference)
    peak = data_range if data_range > 0 else 1.0  # a constant volume: PSNR/SSIM relative to 1 intensity unit
    ssim_value, ssim_method = ssim3d_details(reference, test, peak) if min(volume.shape) >= 3 else (math.nan, "n/a")
    progress.update(0.95, "measuring quality")
    report = RoundTripReport(
        codec=compressed.encoded.codec, mode=compressed.encoded.mode, settings=dict(compressed.encoded.settings),
        dtype=compressed.dtype, shape=tuple(compressed.shape), original_nbytes=compressed.original_nbytes,
        compressed_nbytes=size, size_basis=basis, compression_ratio=compressed.original_nbytes / size,
        bits_per_voxel=8.0 * size / compressed.voxel_count, psnr_db=psnr(reference, test, peak),
        psnr_data_range=peak, ssim=ssim_value, ssim_method=ssim_method,
        max_abs_error=max_abs_error(reference, test), rmse=rmse(reference, test),
        error_bound=str(compressed.encoded.meta.get("error_bound", "not stated by the codec")),
        encode_seconds=compressed.encode_seconds, decode_seconds=decode_seconds,
        encode_mb_s=_rate(compressed.original_nbytes, compressed.encode_seconds),
        decode_mb_s=_rate(compressed.original_nbytes, decode_seconds),
        write_seconds=write_seconds, read_seconds=read_seconds,
        **region_quality(get_codec(compressed.encoded.codec).region(to_decode.encoded, tuple(compressed.shape)),
                         reference, test, peak),
    )
    progress.update(1.0, "done")
    return decoded, report, compressed
