"""Read and write volumes (NIfTI, NRRD, MetaImage, DICOM series) through SimpleITK, keeping dtype and geometry."""

from __future__ import annotations

import errno
import gzip
import os
import re
import sys
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from cerebro.errors import CerebroError
from cerebro.fsutil import (
    WRITE_MARGIN_BYTES,
    atomic_dir,
    atomic_path,
    free_bytes,
    require_free_space,
    require_input_file,
    require_output_suffix,
)
from cerebro.volume import Volume

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


def volume_from_sitk(image: sitk.Image, source: str = "") -> Volume:
    """Convert a SimpleITK image to a Volume (LPS geometry, array [k, j, i]); rejects vector/complex images."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise CerebroError(
            f"{source or 'image'} has {image.GetNumberOfComponentsPerPixel()} components per voxel "
            f"({image.GetPixelIDTypeAsString()}); only single-channel scalar volumes are supported — "
            "extract one channel or convert to grayscale first"
        )
    if image.GetDimension() != 3:
        raise CerebroError(
            f"{source or 'image'} is {image.GetDimension()}D; a 3D volume is needed"
        )
    if "complex" in image.GetPixelIDTypeAsString():
        raise CerebroError(f"{source or 'image'} has complex voxels; take the magnitude first")
    array = sitk.GetArrayFromImage(image)
    metadata = {"source": source} if source else {}
    for key in image.GetMetaDataKeys():
        value = image.GetMetaData(key)
        if len(value) < 256:
            metadata.setdefault("header", {})[key] = value
    return Volume(
        array=array,
        spacing=image.GetSpacing(),
        origin=image.GetOrigin(),
        direction=np.asarray(image.GetDirection()).reshape(3, 3),
        metadata=metadata,
    )


def volume_to_sitk(volume: Volume) -> sitk.Image:
    """Convert a Volume to a SimpleITK image with the same dtype and geometry."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.array), isVector=False)
    image.SetSpacing(volume.spacing)
    image.SetOrigin(volume.origin)
    image.SetDirection(tuple(float(v) for v in volume.direction.ravel()))
    return image


def read_volume(path: str | os.PathLike[str]) -> Volume:
    """Read a volume file (.nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd) or a DICOM series folder."""
    p = require_input_file(path, "input volume")
    try:
        if p.is_dir():
            image = _read_dicom_series(p)
        else:
            if p.name.lower().endswith((".nii", ".nii.gz")):
                check_nifti_data(p)
            image = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise CerebroError(f"cannot read {p}: {_itk_reason(str(exc))}; check that it is a complete image file "
                           "(copy or export it again)") from None
    return volume_from_sitk(image, source=str(p))


def image_geometry(path: str | os.PathLike[str]) -> tuple[tuple[int, int, int], tuple[float, float, float]] | None:
    """(shape (k, j, i), spacing (si, sj, sk) mm) of a volume file from its header alone, without reading the
    voxels; None for a DICOM folder or a file whose header cannot be read."""
    p = Path(path)
    if p.is_dir():
        return None
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(p))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None
    size = tuple(int(n) for n in reader.GetSize())
    if len(size) != 3:
        return None
    return (size[2], size[1], size[0]), tuple(float(s) for s in reader.GetSpacing())


def _itk_reason(message: str) -> str:
    """The informative part of an ITK reader exception: its 'ITK ERROR' line without the object address, and
    the library's last line when that adds something (not ITK's stale errno 'Reason:' line)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    error = next((line for line in lines if line.startswith("ITK ERROR")), lines[-1] if lines else "unknown error")
    reason = re.sub(r"^(ITK ERROR: \w+\(0x[0-9a-f]+\): |sitk::ERROR: )", "", error).rstrip(". ")
    if lines and lines[-1] != error and not lines[-1].startswith("Reason:"):
        reason += " " + lines[-1]
    return reason[:240]


def _nifti_layout(path: Path) -> tuple[int, int, np.dtype]:
    """Where the voxel data of the NIfTI file ``path`` starts, how many bytes it has and their type, from its
    header (parsed by nibabel, which reads only the header); CerebroError for a bad header."""
    import nibabel

    try:
        proxy = nibabel.load(str(path)).dataobj
    except Exception as exc:  # nibabel raises several types for a bad header
        raise CerebroError(f"cannot read {path}: not a valid NIfTI header ({str(exc).splitlines()[0][:160]})") from None
    dtype = np.dtype(proxy.dtype)
    return int(proxy.offset), int(np.prod(proxy.shape, dtype=np.int64)) * dtype.itemsize, dtype


def check_nifti_data(path: Path, chunk_bytes: int = 1 << 22) -> None:
    """Refuse a NIfTI file whose voxel data is cut short, or whose float voxels hold NaN/Inf.

    ITK's NIfTI reader fills missing bytes with zeros and reads NaN as 0, so after ``sitk.ReadImage``
    neither could be seen. The data is streamed once (constant memory)."""
    offset, expected, dtype = _nifti_layout(path)
    got = non_finite = 0
    carry = b""
    for block in _bytes_after(path, offset, chunk_bytes):
        block = block[: expected - got]
        got += len(block)
        if dtype.kind in "fc":
            block = carry + block
            usable = len(block) - len(block) % dtype.itemsize
            non_finite += int(np.count_nonzero(~np.isfinite(np.frombuffer(block[:usable], dtype))))
            carry = block[usable:]
        if got >= expected:
            break
    if got < expected:
        raise CerebroError(f"{path} is truncated or damaged: its header announces {expected} bytes of voxel data "
                           f"but only {got} could be read; copy or export the file again")
    if non_finite:
        raise CerebroError(f"{path} has {non_finite} NaN/Inf voxels, which the NIfTI reader would turn into 0; "
                           "replace them (e.g. with the background value) first")


def _bytes_after(path: Path, offset: int, chunk_bytes: int) -> Iterator[bytes]:
    """The bytes of ``path`` after ``offset`` (gunzipped for .gz, every gzip member), in chunks of at most
    ``chunk_bytes``; a cut or damaged gzip stream just ends."""
    gzipped = path.name.lower().endswith(".gz")
    inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
    with open(path, "rb") as raw:
        while data := raw.read(chunk_bytes):
            while data:
                if gzipped:
                    try:
                        block = inflate.decompress(data, chunk_bytes)
                    except zlib.error:
                        return
                    data = inflate.unconsumed_tail
                    if inflate.eof:
                        data, inflate = inflate.unused_data, zlib.decompressobj(zlib.MAX_WBITS | 16)
                else:
                    block, data = data, b""
                skipped = min(offset, len(block))
                offset -= skipped
                if len(block) > skipped:
                    yield block[skipped:]


def write_volume(volume: Volume, path: str | os.PathLike[str], compress: bool = True) -> Path:
    """Write a volume atomically; the format follows the extension (.nii.gz, .nrrd, .mha, .mhd, ...).

    The file is verified before it takes its name: the writer's own complaints (ITK's NIfTI writer only prints
    ``NWAD: wrote only N of M bytes`` on a full disk and returns), the whole file read back (the gzip stream to its
    CRC, the voxel data to the size the header promises) and its voxels compared with ``volume``'s. Uncompressed
    outputs check free space first. Any failure is one CerebroError and leaves no file under ``path``.
    """
    target = Path(path)
    require_output_suffix(target, VOLUME_SUFFIXES)
    name = target.name.lower()
    if not _is_compressed_output(name, compress):
        require_free_space(target, volume.array.nbytes)
    image = volume_to_sitk(volume)
    if name.endswith((".mhd", ".nhdr")):
        with atomic_dir(target.parent, target) as tmp:
            _write_verified(image, tmp / target.name, volume, target, compress)
    else:
        with atomic_path(target) as tmp:
            _write_verified(image, tmp, volume, target, compress)
    return target


def _is_compressed_output(name: str, compress: bool) -> bool:
    """True where the voxel data of a file named ``name`` is gzip-compressed (.nii.gz; NRRD / MetaImage when
    ``compress``), so its size is not known before writing."""
    return name.endswith(".gz") or (compress and not name.endswith(".nii"))


def _write_verified(image: sitk.Image, tmp: Path, volume: Volume, target: Path, compress: bool) -> None:
    """Write ``image`` to ``tmp`` and check it (see :func:`write_volume`); CerebroError naming ``target`` if not."""
    with _library_messages() as said:
        try:
            sitk.WriteImage(image, str(tmp), compress)
            reason = None
        except RuntimeError as exc:
            reason = _itk_reason(str(exc))
    complaints = [line for line in said if re.search(r"error|fail|wrote only", line, re.IGNORECASE)]
    reason = reason or (complaints[0][:200] if complaints else None)
    if reason is None:
        reason = _read_back_problem(tmp, volume)
    if reason is not None:
        free = free_bytes(target.parent)
        if free is not None and (free < WRITE_MARGIN_BYTES or "space" in reason.lower()):
            raise OSError(errno.ENOSPC, reason)  # the atomic writer removes the file, then says how much is free
        raise CerebroError(f"cannot write {target}: {reason}; check the folder, its free space and permissions")


def _read_back_problem(path: Path, volume: Volume) -> str | None:
    """Why the file just written at ``path`` is not ``volume`` (cut, damaged, other voxels), or None."""
    name = path.name.lower()
    try:
        size = path.stat().st_size
        if name.endswith(".gz"):  # to the end of the stream: gzip checks its CRC and length there
            size = 0
            with gzip.open(path, "rb") as stream:
                while chunk := stream.read(1 << 22):
                    size += len(chunk)
        needed = sum(_nifti_layout(path)[:2]) if name.endswith((".nii", ".nii.gz")) else 0
        if size < needed:
            return f"the written file does not read back (cut short: {size} of the {needed} bytes its header needs)"
        image = sitk.ReadImage(str(path))
        back = sitk.GetArrayViewFromImage(image)
    except (OSError, EOFError, zlib.error, RuntimeError, CerebroError) as exc:
        return f"the written file does not read back ({str(exc).strip().splitlines()[-1][:160]})"
    if back.shape != volume.shape or not np.array_equal(back, volume.array, equal_nan=volume.dtype.kind in "fc"):
        return "the written file reads back other voxels"
    return None


@contextmanager
def _library_messages() -> Iterator[list[str]]:
    """Collect what C libraries print on this process's stderr (file descriptor 2) while the block runs, instead of
    letting it reach the user's terminal; the lines are in the yielded list afterwards. A thread drains the pipe, so
    a talkative library never blocks."""
    lines: list[str] = []
    chunks: list[bytes] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read_end, write_end = os.pipe()
    except (OSError, ValueError):  # no stderr to redirect: let the library print
        yield lines
        return

    def drain() -> None:
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield lines
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        reader.join(timeout=5.0)
        os.close(read_end)
        lines.extend(b"".join(chunks).decode("utf-8", errors="replace").splitlines())


def _read_dicom_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise CerebroError(f"no DICOM series found in folder {folder}; point to a folder of .dcm files")
    if len(series) > 1:
        raise CerebroError(
            f"{folder} holds {len(series)} DICOM series; point to a folder with a single series"
        )
    names = list(reader.GetGDCMSeriesFileNames(str(folder), series[0]))
    _require_complete_series(folder, names)
    reader.SetFileNames(names)
    return reader.Execute()


def _is_dicom_file(path: Path) -> bool:
    """A file with the DICOM preamble ("DICM" at byte 128) or a .dcm name."""
    if path.suffix.lower() == ".dcm":
        return True
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _require_complete_series(folder: Path, names: list[str]) -> None:
    """Raise CerebroError if a DICOM file of ``folder`` is left out of the series (unreadable, truncated) or the
    slices' positions leave a gap: a volume with a slice missing is never returned as if complete."""
    used = {Path(n).resolve() for n in names}
    left_out = sorted(p.name for p in folder.iterdir() if p.is_file() and p.resolve() not in used
                      and _is_dicom_file(p))
    if left_out:
        raise CerebroError(f"{len(left_out)} DICOM file(s) of {folder} cannot be read as part of its series "
                           f"({', '.join(left_out[:3])}{', ...' if len(left_out) > 3 else ''}): truncated or "
                           "damaged; copy or export the series again")
    positions = []
    for name in names:
        info = sitk.ImageFileReader()
        info.SetFileName(name)
        info.ReadImageInformation()
        positions.append(np.asarray(info.GetOrigin(), dtype=np.float64))
    if len(positions) >= 3:
        steps = np.linalg.norm(np.diff(np.stack(positions), axis=0), axis=1)
        typical = float(np.median(steps))
        if typical > 0 and float(np.max(np.abs(steps - typical))) > 0.1 * typical:
            gap = int(np.argmax(np.abs(steps - typical)))
            raise CerebroError(f"the DICOM series in {folder} has a gap between slices {gap + 1} and {gap + 2} "
                               f"({steps[gap]:.3g} mm where the others are {typical:.3g} mm apart): a slice is "
                               "missing; copy or export the series again")
