"""Crafted ``.cbv`` files for the reliability suite: valid seed files of every codec family, and mutations of
their header (with the digests recomputed, as an attacker would) or of their bytes.

Shared by the property tests (hypothesis), the coverage-guided fuzz target (``scripts/fuzz_cbv.py``, atheris)
and the replay of the corpus it found (``Testing/fuzz_corpus/``). :func:`decode_file` is the contract: a file
decodes to the original voxels or raises CerebroError, never anything else.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from cerebro.cbv.compress import compress_volume, decompress
from cerebro.cbv.container import container_bytes, read_compressed
from cerebro.cbv.isolated import decompress_isolated
from cerebro.errors import CerebroError
from cerebro.volume import Volume

SEED_CODECS = (("zfp", "rate", {"rate": 8}), ("zfp", "accuracy", {"tolerance": 2}), ("zstd", "lossless", {}),
               ("blosc2", "lossless", {}), ("sz3", "abs", {"tolerance": 2}), ("sperr", "pwe", {"tolerance": 2}),
               ("lerc", "maxerror", {"tolerance": 2}), ("jpeg2000", "lossless", {}), ("jpegls", "lossless", {}),
               ("htj2k", "lossless", {}), ("jpegxl", "lossless", {}),
               ("roi", "vesselness", {"tolerance": 2, "roi_tolerance": 1, "threshold": 0.3, "margin": 0}))


def seed_volume() -> Volume:
    """A small int16 CT-like volume (12 x 10 x 9) whose every seed file decodes back within 2 HU."""
    rng = np.random.default_rng(7)
    array = (rng.normal(40, 30, (12, 10, 9)) + np.linspace(-500, 800, 9)).astype(np.int16)
    return Volume(array, spacing=(0.5, 0.5, 0.8))


def seed_files() -> dict[str, bytes]:
    """``{"codec/mode": .cbv bytes}`` of :func:`seed_volume` for each codec of :data:`SEED_CODECS` installed."""
    from cerebro.codecs.base import available_codecs

    volume, installed = seed_volume(), available_codecs()
    return {f"{codec}/{mode}": container_bytes(compress_volume(volume, codec, mode, settings, workers=1))
            for codec, mode, settings in SEED_CODECS if codec in installed}


def members(data: bytes) -> dict[str, bytes]:
    """The members of a .cbv (ZIP) file's bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rebuild(parts: dict[str, bytes], header: Any = None, digests: bool = True) -> bytes:
    """A ZIP of ``parts`` (``header`` replacing header.json when given); with ``digests`` the header's chunk
    sizes, SHA-256s and header.sha256 are recomputed so the file passes every checksum (a crafted file)."""
    parts = dict(parts)
    if header is not None:
        if digests and isinstance(header, dict) and isinstance(header.get("chunks"), list):
            for entry in header["chunks"]:
                if isinstance(entry, dict) and isinstance(entry.get("member"), str) and entry["member"] in parts:
                    entry["sha256"] = hashlib.sha256(parts[entry["member"]]).hexdigest()
                    entry["nbytes"] = len(parts[entry["member"]])
            if "payload_nbytes" in header:
                header["payload_nbytes"] = sum(e.get("nbytes", 0) for e in header["chunks"] if isinstance(e, dict)
                                               and isinstance(e.get("nbytes"), int))
        parts["header.json"] = header if isinstance(header, bytes) else json.dumps(header).encode()
    if digests:
        parts["header.sha256"] = hashlib.sha256(parts["header.json"]).hexdigest().encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, value in parts.items():
            archive.writestr(name, value)
    return buffer.getvalue()


def set_path(header: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    """A copy of ``header`` with the field at ``path`` (keys / list indices) set to ``value`` (created if absent)."""
    copy = json.loads(json.dumps(header))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


def field_paths(header: Any, prefix: list[Any] | None = None) -> list[list[Any]]:
    """Every key / index path into ``header`` (objects and lists, at most 40 entries per list)."""
    prefix = prefix or []
    paths: list[list[Any]] = []
    items = header.items() if isinstance(header, dict) else enumerate(header[:40]) if isinstance(header, list) else []
    for key, value in items:
        paths.append([*prefix, key])
        paths.extend(field_paths(value, [*prefix, key]))
    return paths


def decode_file(data: bytes, folder: Path, isolated: bool = False) -> np.ndarray | None:
    """Read and decode ``data`` as a .cbv file: the voxels, or None when it raised CerebroError. Any other
    exception propagates (a bug the suite must catch). ``isolated``: decode as the commands do, in a child
    process (:mod:`cerebro.cbv.isolated`) where a codec library may crash; else in this process (fast; a library
    crash kills it, which is what the fuzz target looks for)."""
    path = folder / "crafted.cbv"
    path.write_bytes(data)
    try:
        compressed = read_compressed(path)
        return (decompress_isolated(compressed, workers=1) if isolated else decompress(compressed, workers=1)).array
    except CerebroError:
        return None
