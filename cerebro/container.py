"""The ``.cbv`` compressed-volume file: a ZIP archive (STORED members) with a JSON header and one member per chunk.

Layout (see docs/file-format.md for the full specification and the reasons for ZIP):

- ``header.json``: format name and version, cerebro version, codec, mode, settings, codec metadata
  (incl. the codec library and its version), dtype, shape, spacing/origin/direction (LPS), the
  original's native size, and for each chunk its member name, size and SHA-256.
- ``chunks/000000.bin``, ``chunks/000001.bin``, ...: the codec's byte chunks, in order.

Every member also carries ZIP's CRC-32. Files are written atomically; reading checks the format name,
the version, every size and every SHA-256 and reports problems in one line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np

import cerebro
from cerebro.codecs.base import Encoded
from cerebro.compress import CompressedVolume
from cerebro.errors import CerebroError
from cerebro.fsutil import atomic_path, require_input_file
from cerebro.volume import SUPPORTED_DTYPES

FORMAT_NAME = "cerebrobench-compressed-volume"
FORMAT_VERSION = 1
SUFFIX = ".cbv"
HEADER_MEMBER = "header.json"
_MAX_HEADER_BYTES = 64 * 1024 * 1024


def _chunk_member(index: int) -> str:
    return f"chunks/{index:06d}.bin"


def _json_safe(metadata: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``metadata`` that survive JSON (others are dropped)."""
    safe = {}
    for key, value in metadata.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        safe[str(key)] = value
    return safe


def build_header(compressed: CompressedVolume) -> dict[str, Any]:
    """The header.json content for ``compressed`` (with per-chunk sizes and SHA-256)."""
    encoded = compressed.encoded
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "cerebro_version": cerebro.__version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "codec": encoded.codec,
        "mode": encoded.mode,
        "settings": encoded.settings,
        "codec_meta": encoded.meta,
        "dtype": np.dtype(compressed.dtype).name,
        "shape": [int(n) for n in compressed.shape],
        "spacing": [float(v) for v in compressed.spacing],
        "origin": [float(v) for v in compressed.origin],
        "direction": [float(v) for v in np.asarray(compressed.direction).ravel()],
        "original_nbytes": compressed.original_nbytes,
        "payload_nbytes": encoded.nbytes,
        "encode_seconds": compressed.encode_seconds,
        "metadata": _json_safe(compressed.metadata),
        "chunks": [
            {"member": _chunk_member(n), "nbytes": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest()}
            for n, chunk in enumerate(encoded.chunks)
        ],
    }


def _write_zip(compressed: CompressedVolume, target: IO[bytes] | Path) -> None:
    header = json.dumps(build_header(compressed), indent=1).encode("utf-8")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        archive.writestr(HEADER_MEMBER, header)
        for n, chunk in enumerate(compressed.encoded.chunks):
            archive.writestr(_chunk_member(n), chunk)


def container_bytes(compressed: CompressedVolume) -> bytes:
    """The exact bytes a .cbv file of ``compressed`` would hold (used for sizes when no file is written)."""
    buffer = io.BytesIO()
    _write_zip(compressed, buffer)
    return buffer.getvalue()


def write_compressed(compressed: CompressedVolume, path: str | os.PathLike[str]) -> Path:
    """Write ``compressed`` to a ``.cbv`` file atomically (temp file + rename); returns the path."""
    target = Path(path)
    if not target.name.lower().endswith(SUFFIX):
        raise CerebroError(f"compressed files must end with {SUFFIX}, got {target.name}; rename the output")
    with atomic_path(target, suffix=SUFFIX) as tmp:
        _write_zip(compressed, tmp)
    return target


def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path, "r")
    except zipfile.BadZipFile:
        raise CerebroError(
            f"{path} is not a CerebroBench .cbv file or is truncated/corrupted (no valid ZIP directory); "
            "re-create it from the original volume"
        ) from None
    except OSError as exc:
        raise CerebroError(f"cannot read {path}: {exc.strerror or exc}; check the path and permissions") from None


def _read_member(archive: zipfile.ZipFile, name: str, path: Path, max_bytes: int | None = None) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise CerebroError(f"{path} is missing the member {name}; the file is incomplete or not a .cbv file") from None
    if max_bytes is not None and info.file_size > max_bytes:
        raise CerebroError(f"{path}: member {name} is implausibly large ({info.file_size} bytes); the file is corrupt")
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise CerebroError(f"{path} is corrupted ({name}: {str(exc)[:80]}); re-create it from the original") from None


def _header_from(archive: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    raw = _read_member(archive, HEADER_MEMBER, path, _MAX_HEADER_BYTES)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CerebroError(f"{path} has an unreadable header.json; the file is corrupt") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise CerebroError(f"{path} is a ZIP file but not a CerebroBench .cbv file (format is not {FORMAT_NAME})")
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise CerebroError(f"{path} has an invalid format_version {version!r}; the file is corrupt")
    if version > FORMAT_VERSION:
        raise CerebroError(
            f"{path} uses .cbv format version {version}, newer than this cerebro {cerebro.__version__} reads "
            f"(up to {FORMAT_VERSION}); upgrade cerebrobench"
        )
    return header


def _chunk_entries(entries: list[Any], path: Path) -> list[tuple[str, int, str]]:
    """(member, nbytes, sha256) of each chunk listed in the header."""
    try:
        return [(str(e["member"]), int(e["nbytes"]), str(e["sha256"])) for e in entries]
    except (KeyError, TypeError, ValueError):
        raise CerebroError(f"{path} has an invalid chunk list in its header; the file is corrupt") from None


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header of a .cbv file (format and version checked; chunks not read)."""
    p = require_input_file(path, "compressed file")
    with _open(p) as archive:
        return _header_from(archive, p)


def read_compressed(path: str | os.PathLike[str]) -> CompressedVolume:
    """Read a .cbv file, verifying every chunk's size and SHA-256; raise a one-line CerebroError if not intact."""
    p = require_input_file(path, "compressed file")
    with _open(p) as archive:
        header = _header_from(archive, p)
        try:
            entries = list(header["chunks"])
            dtype = np.dtype(header["dtype"])
            shape = tuple(int(n) for n in header["shape"])
            direction = np.asarray(header["direction"], dtype=np.float64).reshape(3, 3)
            spacing, origin = tuple(header["spacing"]), tuple(header["origin"])
            encoded_fields = (str(header["codec"]), str(header["mode"]), dict(header["settings"]),
                              dict(header["codec_meta"]))
        except (KeyError, TypeError, ValueError):
            raise CerebroError(f"{p} has an incomplete header (missing or invalid fields); the file is corrupt") \
                from None
        if dtype not in SUPPORTED_DTYPES or len(shape) != 3:
            raise CerebroError(f"{p} declares an unsupported volume ({dtype}, shape {shape}); the file is corrupt")
        chunks = []
        for n, (member, nbytes, sha256) in enumerate(_chunk_entries(entries, p)):
            data = _read_member(archive, member, p, nbytes)
            if len(data) != nbytes or hashlib.sha256(data).hexdigest() != sha256:
                raise CerebroError(f"{p} is corrupted: chunk {n} fails its SHA-256 check; "
                                   "re-create it from the original")
            chunks.append(data)
    codec, mode, settings, meta = encoded_fields
    return CompressedVolume(
        encoded=Encoded(codec=codec, mode=mode, settings=settings, chunks=chunks, meta=meta),
        dtype=dtype.name, shape=shape, spacing=spacing, origin=origin, direction=direction,
        metadata=dict(header.get("metadata", {})), cerebro_version=str(header.get("cerebro_version", "")),
        encode_seconds=float(header.get("encode_seconds", 0.0)),
    )
