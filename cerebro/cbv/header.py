"""Validation of a ``.cbv`` header: every field checked for type, range and consistency before anything uses it.

A header may come from a damaged or crafted file. :func:`validate_header` returns the fields in the types the
reader needs, or raises one :class:`~cerebro.errors.CerebroError` line naming the field; the codec checks its
own ``codec_meta`` (:meth:`cerebro.codecs.base.Codec.validate_meta`). Nothing here allocates more than the
header itself.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from cerebro.codecs.base import get_codec
from cerebro.codecs.meta import MAX_DIMENSION
from cerebro.errors import CerebroError
from cerebro.volume import SUPPORTED_DTYPES

MAX_VOXELS = 2**40
"""The most voxels a header may declare (a 10^4-cube); larger shapes are refused as corrupt."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def chunk_member(index: int) -> str:
    """The archive member name of chunk ``index``."""
    return f"chunks/{index:06d}.bin"


def _bad(path: Path, field: str, requirement: str, value: Any) -> CerebroError:
    shown = str(repr(value))[:60]
    return CerebroError(f"{path}: header field {field} must be {requirement}, got {shown}; the file is corrupt, "
                        "re-create it from the original")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _numbers(header: dict[str, Any], field: str, count: int, path: Path, positive: bool = False) -> tuple[float, ...]:
    value = header.get(field)
    if not isinstance(value, list) or len(value) != count or not all(
            _is_number(v) and (v > 0 or not positive) for v in value):
        raise _bad(path, field, f"{count} finite{' positive' if positive else ''} numbers", value)
    return tuple(float(v) for v in value)


def _shape(header: dict[str, Any], path: Path) -> tuple[int, int, int]:
    value = header.get("shape")
    if not isinstance(value, list) or len(value) != 3 or not all(
            isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_DIMENSION for n in value):
        raise _bad(path, "shape", f"3 integers from 1 to {MAX_DIMENSION}", value)
    if math.prod(value) > MAX_VOXELS:
        raise _bad(path, "shape", f"at most {MAX_VOXELS} voxels in all", value)
    return (value[0], value[1], value[2])


def _chunks(header: dict[str, Any], path: Path) -> list[tuple[str, int, str]]:
    entries = header.get("chunks")
    if not isinstance(entries, list) or len(entries) > MAX_DIMENSION:
        raise _bad(path, "chunks", "a list", entries)
    chunks = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("member") != chunk_member(n):
            raise _bad(path, f"chunks[{n}]", f"an entry with member {chunk_member(n)}", entry)
        nbytes, sha256 = entry.get("nbytes"), entry.get("sha256")
        if not isinstance(nbytes, int) or isinstance(nbytes, bool) or nbytes < 0:
            raise _bad(path, f"chunks[{n}].nbytes", "a non-negative integer", nbytes)
        if not isinstance(sha256, str) or not _SHA256.match(sha256):
            raise _bad(path, f"chunks[{n}].sha256", "64 lowercase hex digits", sha256)
        chunks.append((chunk_member(n), nbytes, sha256))
    return chunks


def validate_header(header: dict[str, Any], path: Path) -> dict[str, Any]:
    """The checked fields of a parsed header.json: dtype (np.dtype), shape, spacing, origin, direction (3x3),
    codec, mode, settings, codec_meta, original_nbytes, chunks [(member, nbytes, sha256)], metadata,
    encode_seconds, cerebro_version. CerebroError names the first field that is wrong."""
    dtype_name = header.get("dtype")
    if not isinstance(dtype_name, str) or dtype_name not in {np.dtype(d).name for d in SUPPORTED_DTYPES}:
        raise _bad(path, "dtype", "one of " + " ".join(np.dtype(d).name for d in SUPPORTED_DTYPES), dtype_name)
    dtype = np.dtype(dtype_name)
    shape = _shape(header, path)
    spacing = _numbers(header, "spacing", 3, path, positive=True)
    origin = _numbers(header, "origin", 3, path)
    direction = np.asarray(_numbers(header, "direction", 9, path), dtype=np.float64).reshape(3, 3)
    if abs(np.linalg.det(direction)) < 1e-6:
        raise _bad(path, "direction", "an invertible 3x3 matrix", header["direction"])
    original_nbytes = header.get("original_nbytes")
    if original_nbytes != math.prod(shape) * dtype.itemsize or isinstance(original_nbytes, bool):
        raise _bad(path, "original_nbytes", f"shape x itemsize = {math.prod(shape) * dtype.itemsize}", original_nbytes)
    chunks = _chunks(header, path)
    payload = header.get("payload_nbytes", sum(n for _, n, _ in chunks))
    if payload != sum(n for _, n, _ in chunks) or isinstance(payload, bool):
        raise _bad(path, "payload_nbytes", f"the sum of the chunk sizes ({sum(n for _, n, _ in chunks)})", payload)
    for field in ("codec", "mode"):
        if not isinstance(header.get(field), str):
            raise _bad(path, field, "a string", header.get(field))
    for field in ("settings", "codec_meta"):
        if not isinstance(header.get(field), dict):
            raise _bad(path, field, "an object", header.get(field))
    try:
        codec = get_codec(header["codec"])
        settings = codec.resolve_settings(header["mode"], header["settings"])
    except CerebroError as exc:
        raise CerebroError(f"{path}: {exc}; the file is corrupt or was written by another cerebro") from None
    codec.validate_meta(header["codec_meta"], shape, dtype, [n for _, n, _ in chunks])
    metadata = header.get("metadata", {})
    if not isinstance(metadata, dict):
        raise _bad(path, "metadata", "an object", metadata)
    encode_seconds = header.get("encode_seconds", 0.0)
    if not _is_number(encode_seconds) or encode_seconds < 0:
        raise _bad(path, "encode_seconds", "a non-negative number", encode_seconds)
    version = header.get("cerebro_version", "")
    if not isinstance(version, str):
        raise _bad(path, "cerebro_version", "a string", version)
    return {"dtype": dtype, "shape": shape, "spacing": spacing, "origin": origin, "direction": direction,
            "codec": codec.name, "mode": header["mode"], "settings": settings, "codec_meta": header["codec_meta"],
            "original_nbytes": original_nbytes, "chunks": chunks, "metadata": metadata,
            "encode_seconds": float(encode_seconds), "cerebro_version": version}
