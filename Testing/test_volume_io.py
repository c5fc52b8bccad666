"""Volume type and file I/O: dtype and geometry survive every format; bad input gets one clear line."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import SimpleITK as sitk

from cerebro.errors import CerebroError
from cerebro.io import check_nifti_data, read_volume, write_volume
from cerebro.volume import Volume, same_geometry


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".nrrd", ".mha", ".mhd"])
@pytest.mark.parametrize("dtype", ["int16", "uint16", "uint8", "float32"])
def test_file_round_trip_keeps_dtype_and_geometry(tmp_path, ct_volume, suffix, dtype):
    volume = ct_volume.with_array(ct_volume.array.astype(dtype))
    path = write_volume(volume, tmp_path / f"v{suffix}")
    back = read_volume(path)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.array, volume.array)
    assert same_geometry(back, volume, atol_mm=1e-4, atol_direction=1e-5) is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_dicom_series_folder(tmp_path, ct_volume):
    image = sitk.GetImageFromArray(ct_volume.array)
    image.SetSpacing(ct_volume.spacing)
    image.SetOrigin(ct_volume.origin)
    folder = tmp_path / "dicom"
    folder.mkdir()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(image.GetDepth()):
        slice_ = image[:, :, k]
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        for tag, value in {
            "0020|0032": "\\".join(f"{v:.6f}" for v in position),
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0020|000e": "1.2.826.0.1.3680043.2.1125.1",
            "0020|0013": str(k),
            "0008|0060": "CT",
        }.items():
            slice_.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{k:03d}.dcm"))
        writer.Execute(slice_)
    back = read_volume(folder)
    np.testing.assert_array_equal(back.array, ct_volume.array)
    np.testing.assert_allclose(back.spacing, ct_volume.spacing, atol=1e-4)
    np.testing.assert_allclose(back.origin, ct_volume.origin, atol=1e-4)


def test_index_to_lps_matches_simpleitk(ct_volume):
    from cerebro.io import volume_to_sitk

    image = volume_to_sitk(ct_volume)
    ijk = (3, 5, 7)
    expected = image.TransformIndexToPhysicalPoint(ijk)
    np.testing.assert_allclose((ct_volume.index_to_lps() @ [*ijk, 1])[:3], expected, atol=1e-9)


def test_missing_file(tmp_path):
    with pytest.raises(CerebroError, match="not found"):
        read_volume(tmp_path / "nope.nii.gz")


def test_unreadable_file(tmp_path):
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(CerebroError, match="cannot read"):
        read_volume(bad)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_truncated_nifti_is_refused_not_zero_filled(tmp_path, ct_volume, suffix):
    """ITK's NIfTI reader silently zero-fills missing voxel data; we check the data length ourselves."""
    whole = write_volume(ct_volume, tmp_path / f"whole{suffix}")
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CerebroError, match="truncated or damaged.*copy or export the file again"):
        read_volume(cut)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_nan_is_refused_not_read_as_zero(tmp_path, suffix):
    """ITK's NIfTI reader reads NaN as 0; other formats keep it (the Volume users then refuse it)."""
    array = np.ones((6, 7, 9), np.float64)
    array[5, 6, 8] = np.nan  # the last voxel: the scan must carry partial items across its small chunks
    path = tmp_path / f"nan{suffix}"
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    with pytest.raises(CerebroError, match="1 NaN/Inf voxels.*replace them"):
        check_nifti_data(path, chunk_bytes=37)
    with pytest.raises(CerebroError, match="NaN"):
        read_volume(path)
    sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / "nan.nrrd"))
    assert np.isnan(read_volume(tmp_path / "nan.nrrd").array).sum() == 1


def test_nifti_check_reads_multi_member_gzip(tmp_path, ct_volume):
    """A .nii.gz made of several gzip members (as parallel compressors write) is whole, not truncated."""
    raw = write_volume(ct_volume, tmp_path / "v.nii", compress=False).read_bytes()
    half = len(raw) // 2
    path = tmp_path / "members.nii.gz"
    path.write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    check_nifti_data(path, chunk_bytes=64)
    np.testing.assert_array_equal(read_volume(path).array, ct_volume.array)


def test_vector_image_rejected(tmp_path):
    image = sitk.Image([4, 4, 4], sitk.sitkVectorFloat32, 3)
    sitk.WriteImage(image, str(tmp_path / "rgb.nrrd"))
    with pytest.raises(CerebroError, match="components per voxel"):
        read_volume(tmp_path / "rgb.nrrd")


def test_unsupported_dtype_and_shape():
    with pytest.raises(CerebroError, match="unsupported voxel type"):
        Volume(np.zeros((2, 2, 2), dtype=np.complex64))
    with pytest.raises(CerebroError, match="3D"):
        Volume(np.zeros((2, 2)))


def test_nan_rejected_on_request():
    array = np.zeros((2, 2, 2), np.float32)
    array[0, 0, 0] = np.nan
    with pytest.raises(CerebroError, match="NaN"):
        Volume(array).require_finite()


def test_unknown_output_format(tmp_path, ct_volume):
    with pytest.raises(CerebroError, match="must end with one of"):
        write_volume(ct_volume, tmp_path / "v.png")


def test_geometry_mismatch_is_described(ct_volume):
    other = Volume(ct_volume.array, spacing=(1, 1, 1), origin=ct_volume.origin, direction=ct_volume.direction)
    assert "spacing" in same_geometry(ct_volume, other)
