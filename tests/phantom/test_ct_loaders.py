"""CT case loaders: the three layouts on tiny volumes written in tmp, reoriented to LPS; bad input
is one-line CTCaseError."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from sijscan.phantom.ct.case import CTCaseError, load_ct_case
from sijscan.phantom.ct.synthetic import toy_case

FLIP_X = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)  # an RAS-like direction: arrays stored flipped


def _img(arr: np.ndarray, spacing: float, flipped: bool):
    """An image whose world geometry is the toy's LPS one, stored with flipped x/y axes if asked."""
    if flipped:
        arr = arr[:, ::-1, ::-1]
    img = sitk.GetImageFromArray(np.ascontiguousarray(arr))
    img.SetSpacing((spacing,) * 3)
    if flipped:
        n = arr.shape
        img.SetDirection(FLIP_X)
        img.SetOrigin(((n[2] - 1) * spacing, (n[1] - 1) * spacing, 0.0))
    return img


def _expect_same(case, toy):
    assert case.labels.shape[0] <= toy.labels.shape[0]
    for v in (1, 2, 3):
        assert (case.labels == v).sum() == (toy.labels == v).sum()
    xs = {v: np.nonzero(case.labels == v)[2].mean() for v in (1, 2, 3)}
    assert xs[3] < xs[1] < xs[2]  # right hip at low x, left hip at high x (LPS)


@pytest.mark.parametrize("flipped", [False, True])
def test_bone_volume_layout(tmp_path, flipped):
    toy = toy_case(spacing=2.0)
    for suffix, value in (("SA", 1), ("LI", 2), ("RI", 3)):
        arr = np.where(toy.labels == value, toy.hu, 0).astype(np.int16)
        sitk.WriteImage(_img(arr, 2.0, flipped), str(tmp_path / f"007_{suffix}.nii.gz"))
    case = load_ct_case(tmp_path)
    assert case.name == "007" and not case.soft_tissue and case.spacing == (2.0, 2.0, 2.0)
    _expect_same(case, toy)


def _write_masks(folder, toy, flipped):
    folder.mkdir(parents=True, exist_ok=True)
    for stem, value in (("sacrum", 1), ("hip_left", 2), ("hip_right", 3)):
        sitk.WriteImage(_img((toy.labels == value).astype(np.uint8), 2.0, flipped), str(folder / f"{stem}.nii.gz"))


def test_nifti_with_totalsegmentator_masks(tmp_path):
    toy = toy_case(spacing=2.0)
    ct = np.where(toy.labels > 0, 400, 30).astype(np.int16)
    sitk.WriteImage(_img(ct, 2.0, True), str(tmp_path / "ct.nii.gz"))
    _write_masks(tmp_path / "segmentations", toy, flipped=False)  # masks stored differently: resampled
    case = load_ct_case(tmp_path)
    assert case.soft_tissue and case.hu[case.labels == 0].max() == 30
    _expect_same(case, toy)


def test_dicom_series_with_masks(tmp_path):
    toy = toy_case(spacing=2.0)
    ct = np.where(toy.labels > 0, 400, 30).astype(np.int16)
    series = tmp_path / "dicom"
    series.mkdir()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(ct.shape[0]):
        sl = sitk.GetImageFromArray(ct[k:k + 1])[:, :, 0]
        sl.SetSpacing((2.0, 2.0))
        for tag, value in (("0008|0060", "CT"), ("0020|000d", "1.2.826.0.1.3680043.2.1125.1"),
                           ("0020|000e", "1.2.826.0.1.3680043.2.1125.2"), ("0020|0013", str(k + 1)),
                           ("0020|0032", f"0\\0\\{2.0 * k}"), ("0020|0037", "1\\0\\0\\0\\1\\0"),
                           ("0018|0050", "2.0"), ("0028|0030", "2.0\\2.0"),
                           ("0008|0018", f"1.2.826.0.1.3680043.2.1125.3.{k + 1}")):
            sl.SetMetaData(tag, value)
        writer.SetFileName(str(series / f"{k:03d}.dcm"))
        writer.Execute(sl)
    _write_masks(tmp_path / "segmentations", toy, flipped=True)
    case = load_ct_case(tmp_path)
    assert case.soft_tissue and case.spacing == pytest.approx((2.0, 2.0, 2.0))
    _expect_same(case, toy)


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(CTCaseError, match="does not exist"):
        load_ct_case(tmp_path / "nope")
    with pytest.raises(CTCaseError, match="not a CT case"):
        load_ct_case(tmp_path)
    toy = toy_case(spacing=2.0)
    for suffix, value in (("SA", 1), ("LI", 2)):
        sitk.WriteImage(_img(np.where(toy.labels == value, 300, 0).astype(np.int16), 2.0, False),
                        str(tmp_path / f"009_{suffix}.nii.gz"))
    with pytest.raises(CTCaseError, match="_RI"):
        load_ct_case(tmp_path)
    sitk.WriteImage(_img(np.zeros_like(toy.hu), 2.0, False), str(tmp_path / "009_RI.nii.gz"))
    with pytest.raises(CTCaseError, match="right hip bone mask is empty") as err:
        load_ct_case(tmp_path)
    assert "\n" not in str(err.value)
