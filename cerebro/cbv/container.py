"""The ``.cbv`` compressed-volume file: a ZIP archive (STORED members) with a JSON header and one member per chunk.

Layout (see docs/file-format.md for the full specification and the reasons for ZIP):

- ``header.sha256``: the SHA-256 (hex) of header.json's bytes (format version 2 on).
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
import re
import struct
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np

import cerebro
from cerebro.cbv.compressed import CompressedVolume
from cerebro.cbv.header import chunk_member, validate_header
from cerebro.codecs.base import Encoded
from cerebro.errors import CerebroError
from cerebro.fsutil import atomic_path, require_input_file
from cerebro.resources import require_memory
from cerebro.volume import Volume

FORMAT_NAME = "cerebrobench-compressed-volume"
FORMAT_VERSION = 2
"""2: ``header.sha256`` covers the header (version 1 files, without it, are still read)."""
SUFFIX = ".cbv"
HEADER_MEMBER = "header.json"
HEADER_DIGEST_MEMBER = "header.sha256"
_MAX_HEADER_BYTES = 64 * 1024 * 1024
DECODE_WORK_BYTES_PER_VOXEL = 12
"""Working memory of the most demanding decoder beyond the output (an INR: float32 network output + float64
intensities), checked against the memory available before a file is decoded."""


_DICOM_TAG = re.compile(r"^[0-9a-fA-F]{4}\|[0-9a-fA-F]{4}$")


def _portable_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``metadata`` that survive JSON, without DICOM tags (they may identify the patient)."""
    safe: dict[str, Any] = {}
    for key, value in metadata.items():
        if key == "header" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if not _DICOM_TAG.match(str(k))}
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
        "metadata": _portable_metadata(compressed.metadata),
        "chunks": [
            {"member": chunk_member(n), "nbytes": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest()}
            for n, chunk in enumerate(encoded.chunks)
        ],
    }


def _write_zip(compressed: CompressedVolume, target: IO[bytes] | Path) -> None:
    header = json.dumps(build_header(compressed), indent=1).encode("utf-8")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        archive.writestr(HEADER_MEMBER, header)
        archive.writestr(HEADER_DIGEST_MEMBER, hashlib.sha256(header).hexdigest())
        for n, chunk in enumerate(compressed.encoded.chunks):
            archive.writestr(chunk_member(n), chunk)


def container_bytes(compressed: CompressedVolume) -> bytes:
    """The exact bytes a .cbv file of ``compressed`` would hold (used for sizes when no file is written)."""
    buffer = io.BytesIO()
    _write_zip(compressed, buffer)
    return buffer.getvalue()


def overhead_nbytes(volume: Volume, codec: str, mode: str, settings: dict[str, Any], meta: dict[str, Any],
                    encode_seconds: float = 1e6 + 1 / 3) -> int:
    """Bytes of a .cbv file of ``volume`` beyond its payload: header (with this codec meta), digest and ZIP
    records, for one chunk (what a codec that must fit a file size budget subtracts first)."""
    empty = CompressedVolume(Encoded(codec, mode, dict(settings), [b""], meta), volume.dtype.name, volume.shape,
                             volume.spacing, volume.origin, volume.direction, dict(volume.metadata),
                             encode_seconds=encode_seconds)
    return len(container_bytes(empty))


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
    except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError, UnicodeDecodeError, struct.error):
        # a damaged central directory: zipfile raises any of these ("zip file version 6.4" is NotImplementedError)
        raise CerebroError(
            f"{path} is not a CerebroBench .cbv file or is truncated/corrupted (no valid ZIP directory); "
            "re-create it from the original volume"
        ) from None
    except OSError as exc:
        raise CerebroError(f"cannot read {path}: {exc.strerror or exc}; check the path and permissions") from None


def _read_member(archive: zipfile.ZipFile, name: str, path: Path, max_bytes: int) -> bytes:
    """The bytes of member ``name``: a STORED member of at most ``max_bytes`` (checked before reading)."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise CerebroError(f"{path} is missing the member {name}; the file is incomplete or not a .cbv file") from None
    if info.compress_type != zipfile.ZIP_STORED:
        raise CerebroError(f"{path}: member {name} is compressed inside the ZIP (method {info.compress_type}); "
                           ".cbv members are stored, the file is corrupt or was not written by cerebro")
    if info.file_size > max_bytes:
        raise CerebroError(f"{path}: member {name} is implausibly large ({info.file_size} bytes, expected at most "
                           f"{max_bytes}); the file is corrupt")
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise CerebroError(f"{path} is corrupted ({name}: {str(exc)[:80]}); re-create it from the original") from None


def _header_from(archive: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    raw = _read_member(archive, HEADER_MEMBER, path, _MAX_HEADER_BYTES)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise CerebroError(f"{path} has an unreadable header.json; the file is corrupt") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise CerebroError(f"{path} is a ZIP file but not a CerebroBench .cbv file (format is not {FORMAT_NAME})")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CerebroError(f"{path} has an invalid format_version {str(version)[:20]!r}; the file is corrupt")
    if version > FORMAT_VERSION:
        raise CerebroError(
            f"{path} uses .cbv format version {version}, newer than this cerebro {cerebro.__version__} reads "
            f"(up to {FORMAT_VERSION}); upgrade cerebrobench"
        )
    if version >= 2:
        digest = _read_member(archive, HEADER_DIGEST_MEMBER, path, 64)
        if digest != hashlib.sha256(raw).hexdigest().encode("ascii"):
            raise CerebroError(f"{path} is corrupted: header.json fails its SHA-256 check ({HEADER_DIGEST_MEMBER}); "
                               "re-create it from the original")
    return header


def _validated(archive: zipfile.ZipFile, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The raw header and its validated fields; also checks the archive holds only the members it lists."""
    header = _header_from(archive, path)
    fields = validate_header(header, path)
    expected = {HEADER_MEMBER, *(m for m, _, _ in fields["chunks"])}
    if header["format_version"] >= 2:
        expected.add(HEADER_DIGEST_MEMBER)
    names = archive.namelist()
    if len(names) != len(set(names)) or set(names) != expected:
        raise CerebroError(f"{path} holds other or repeated members than its header lists; the file is corrupt")
    return header, fields


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header of a .cbv file: format, version, its digest and every field checked (chunks not read)."""
    p = require_input_file(path, "compressed file")
    with _open(p) as archive:
        header, _ = _validated(archive, p)
    return header


def read_compressed(path: str | os.PathLike[str]) -> CompressedVolume:
    """Read a .cbv file, verifying the header and every chunk's size and SHA-256; raise a one-line CerebroError
    if not intact, or if decoding it would need more memory than is available."""
    p = require_input_file(path, "compressed file")
    with _open(p) as archive:
        header, fields = _validated(archive, p)
        voxels = fields["original_nbytes"] // fields["dtype"].itemsize
        require_memory(fields["original_nbytes"] + DECODE_WORK_BYTES_PER_VOXEL * voxels
                       + sum(n for _, n, _ in fields["chunks"]),
                       f"decoding {p.name} ({'x'.join(map(str, fields['shape']))} {fields['dtype']})",
                       "decode it on a machine with more memory")
        chunks = []
        for n, (member, nbytes, sha256) in enumerate(fields["chunks"]):
            data = _read_member(archive, member, p, nbytes)
            if len(data) != nbytes or hashlib.sha256(data).hexdigest() != sha256:
                raise CerebroError(f"{p} is corrupted: chunk {n} fails its SHA-256 check; "
                                   "re-create it from the original")
            chunks.append(data)
    encoded = Encoded(codec=fields["codec"], mode=fields["mode"], settings=fields["settings"], chunks=chunks,
                      meta=fields["codec_meta"])
    return CompressedVolume(
        encoded=encoded, dtype=fields["dtype"].name, shape=fields["shape"], spacing=fields["spacing"],
        origin=fields["origin"], direction=fields["direction"], metadata=dict(fields["metadata"]),
        cerebro_version=fields["cerebro_version"], encode_seconds=fields["encode_seconds"],
    )
