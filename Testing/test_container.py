"""The .cbv container: carries any codec's output and the geometry; rejects damaged or newer files."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cerebro.cbv.compress import compress_volume, decompress
from cerebro.cbv.container import (
    FORMAT_NAME,
    FORMAT_VERSION,
    container_bytes,
    read_compressed,
    read_header,
    write_compressed,
)
from cerebro.errors import CerebroError
from cerebro.volume import Volume


@pytest.fixture
def cbv_file(ct_volume: Volume, tmp_path: Path) -> Path:
    compressed = compress_volume(ct_volume, "zfp", "accuracy", {"tolerance": 5.0}, workers=1)
    return write_compressed(compressed, tmp_path / "ct.cbv")


def test_file_round_trip_keeps_everything(ct_volume: Volume, tmp_path: Path) -> None:
    compressed = compress_volume(ct_volume, "zfp", "reversible", workers=1)
    path = write_compressed(compressed, tmp_path / "ct.cbv")
    loaded = read_compressed(path)
    assert loaded.encoded.chunks == compressed.encoded.chunks
    assert loaded.encoded.meta == compressed.encoded.meta and loaded.encoded.settings == compressed.encoded.settings
    assert (loaded.dtype, loaded.shape) == ("int16", ct_volume.shape)
    restored = decompress(loaded, workers=1)
    assert np.array_equal(restored.array, ct_volume.array)
    assert restored.spacing == ct_volume.spacing and restored.origin == ct_volume.origin
    assert np.array_equal(restored.direction, ct_volume.direction)  # exact: JSON keeps float64 round trip
    assert path.stat().st_size == len(container_bytes(compressed))


def test_header_is_self_describing(cbv_file: Path) -> None:
    header = read_header(cbv_file)
    assert header["format"] == FORMAT_NAME and header["format_version"] == FORMAT_VERSION
    assert (header["codec"], header["mode"], header["settings"]) == ("zfp", "accuracy", {"tolerance": 5.0})
    assert header["codec_meta"]["library"]["name"] == "zfpy" and header["codec_meta"]["library"]["version"]
    assert header["dtype"] == "int16" and header["shape"] == [24, 28, 32] and len(header["direction"]) == 9
    with zipfile.ZipFile(cbv_file) as archive:  # any ZIP reader opens it; members are STORED
        assert archive.namelist()[0] == "header.json"
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
        for entry in header["chunks"]:
            assert hashlib.sha256(archive.read(entry["member"])).hexdigest() == entry["sha256"]


def test_metadata_keeps_what_json_holds_without_dicom_tags(tmp_path: Path) -> None:
    volume = Volume(np.arange(24, dtype=np.float32).reshape(2, 3, 4), spacing=(1.0, 2.0, 3.0),
                    metadata={"bad": object(), "ok": 1, "header": {"0010|0010": "Doe^Jane", "x": "1"}})
    compressed = compress_volume(volume, "zstd", "lossless")
    loaded = read_compressed(write_compressed(compressed, tmp_path / "s.cbv"))
    assert loaded.encoded == compressed.encoded and loaded.metadata == {"ok": 1, "header": {"x": "1"}}


def _rewrite(path: Path, header_change: dict | None = None, chunk: bytes | None = None) -> None:
    """Rebuild the ZIP (valid CRCs) with a changed header and/or first chunk."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = json.loads(members["header.json"])
    header.update(header_change or {})
    members["header.json"] = json.dumps(header).encode()
    members["header.sha256"] = hashlib.sha256(members["header.json"]).hexdigest().encode()  # a crafted file
    if chunk is not None:
        members["chunks/000000.bin"] = chunk
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_truncated_file_is_rejected(cbv_file: Path) -> None:
    cbv_file.write_bytes(cbv_file.read_bytes()[: cbv_file.stat().st_size // 2])
    with pytest.raises(CerebroError, match="truncated"):
        read_compressed(cbv_file)


def test_flipped_byte_is_caught_by_the_checksum(cbv_file: Path) -> None:
    data = bytearray(cbv_file.read_bytes())
    data[2000] ^= 0xFF  # inside the first chunk
    cbv_file.write_bytes(bytes(data))
    with pytest.raises(CerebroError, match="corrupted"):
        read_compressed(cbv_file)


def test_replaced_chunk_fails_sha256(cbv_file: Path) -> None:
    _rewrite(cbv_file, chunk=b"\x00" * 100)
    with pytest.raises(CerebroError, match="SHA-256"):
        read_compressed(cbv_file)


def test_newer_format_version_is_rejected(cbv_file: Path) -> None:
    _rewrite(cbv_file, {"format_version": FORMAT_VERSION + 1})
    with pytest.raises(CerebroError, match="newer .* upgrade"):
        read_header(cbv_file)


@pytest.mark.parametrize("change", [{"format": "something-else"}, {"shape": "abc"}, {"chunks": [{"x": 1}]},
                                    {"dtype": "complex64"}, {"spacing": None}, {"format_version": "1"}])
def test_foreign_or_broken_headers_are_rejected(cbv_file: Path, change: dict) -> None:
    _rewrite(cbv_file, change)
    with pytest.raises(CerebroError):
        read_header(cbv_file)
    with pytest.raises(CerebroError):
        read_compressed(cbv_file)


def test_non_cbv_inputs_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(CerebroError, match="not found"):
        read_compressed(tmp_path / "missing.cbv")
    (tmp_path / "noise.cbv").write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(CerebroError, match="not a CerebroBench"):
        read_header(tmp_path / "noise.cbv")
    with zipfile.ZipFile(tmp_path / "other.cbv", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CerebroError, match="missing the member header.json"):
        read_header(tmp_path / "other.cbv")


def test_writes_are_atomic_and_need_the_suffix(ct_volume: Volume, cbv_file: Path) -> None:
    before = cbv_file.read_bytes()
    broken = compress_volume(ct_volume, "zfp", "reversible", workers=1)
    broken.encoded.chunks.append(None)  # type: ignore[arg-type]  # makes the writer fail midway
    with pytest.raises(TypeError):
        write_compressed(broken, cbv_file)
    assert cbv_file.read_bytes() == before and sorted(p.name for p in cbv_file.parent.iterdir()) == ["ct.cbv"]
    with pytest.raises(CerebroError, match="must end with .cbv"):
        write_compressed(broken, cbv_file.with_suffix(".zip"))


def test_decodes_with_nothing_but_zipfile_and_zfpy(tmp_path: Path) -> None:
    """The recipe of docs/file-format.md: no cerebro code involved in decoding."""
    import zfpy

    from cerebro.codecs.zfp import ZfpCodec

    array = (np.random.default_rng(3).normal(size=(20, 9, 10)) * 300).astype(np.int16)
    volume = Volume(array)
    compressed = compress_volume(volume, "zfp", "accuracy", {"tolerance": 2.0}, workers=1)
    compressed.encoded = ZfpCodec().encode(volume, "accuracy", {"tolerance": 2.0}, workers=1, slices_per_chunk=8)
    path = write_compressed(compressed, tmp_path / "scan.cbv")
    with zipfile.ZipFile(path) as z:
        h = json.loads(z.read("header.json"))
        out = np.empty(h["shape"], dtype=h["dtype"])
        for (start, stop), entry in zip(h["codec_meta"]["chunk_slices"], h["chunks"]):
            slab = zfpy.decompress_numpy(z.read(entry["member"]))
            if out.dtype.kind in "iu" and slab.dtype.kind == "f":
                info = np.iinfo(out.dtype)
                slab = np.clip(np.rint(slab), info.min, info.max)
            out[start:stop] = slab
    assert len(h["chunks"]) == 3 and np.abs(out.astype(int) - array).max() <= 2


def test_format_version_1_files_without_a_header_digest_are_still_read(cbv_file: Path, capsys) -> None:
    from cerebro.cli.main import main

    with zipfile.ZipFile(cbv_file) as archive:
        members = {name: archive.read(name) for name in archive.namelist() if name != "header.sha256"}
    members["header.json"] = json.dumps({**json.loads(members["header.json"]), "format_version": 1}).encode()
    with zipfile.ZipFile(cbv_file, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    assert list(read_compressed(cbv_file).shape) == read_header(cbv_file)["shape"]
    assert main(["info", "--verify", str(cbv_file)]) == 0
    assert "the header has no digest (format version 1)" in capsys.readouterr().out


def test_a_version_2_file_without_its_header_digest_is_corrupt(cbv_file: Path) -> None:
    with zipfile.ZipFile(cbv_file) as archive:
        members = {name: archive.read(name) for name in archive.namelist() if name != "header.sha256"}
    with zipfile.ZipFile(cbv_file, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(CerebroError, match="missing the member header.sha256"):
        read_header(cbv_file)
