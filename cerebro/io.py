"""Read and write volumes (NIfTI, NRRD, MetaImage, DICOM series) through SimpleITK, keeping dtype and geometry."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from cerebro.errors import CerebroError
from cerebro.fsutil import atomic_dir, atomic_path, require_input_file
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
            image = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = next((line for line in first if "ERROR" in line or "Exception" in line), first[-1] if first else "")
        raise CerebroError(f"cannot read {p}: not a readable image ({detail.strip()[:160]})") from None
    return volume_from_sitk(image, source=str(p))


def write_volume(volume: Volume, path: str | os.PathLike[str], compress: bool = True) -> Path:
    """Write a volume atomically; the format follows the extension (.nii.gz, .nrrd, .mha, .mhd, ...)."""
    target = Path(path)
    name = target.name.lower()
    if not name.endswith(VOLUME_SUFFIXES):
        raise CerebroError(
            f"unknown volume format for {target.name}; use one of: {', '.join(VOLUME_SUFFIXES)}"
        )
    image = volume_to_sitk(volume)
    if name.endswith((".mhd", ".nhdr")):
        with atomic_dir(target.parent) as tmp:
            sitk.WriteImage(image, str(tmp / target.name), compress)
    else:
        with atomic_path(target) as tmp:
            sitk.WriteImage(image, str(tmp), compress)
    return target


def _read_dicom_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise CerebroError(f"no DICOM series found in folder {folder}; point to a folder of .dcm files")
    if len(series) > 1:
        raise CerebroError(
            f"{folder} holds {len(series)} DICOM series; point to a folder with a single series"
        )
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder), series[0]))
    return reader.Execute()
