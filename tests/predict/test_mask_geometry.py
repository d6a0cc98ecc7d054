"""Masks that travel (issue 25 item 3): NIfTI with the radiograph's geometry, NIfTI masks read by their
affine, DICOM SEG round trip, a result keyed by UIDs; segment takes folders."""
from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from sijscan.cli.main import main
from sijscan.errors import InputError
from sijscan.io.geometry import Geometry, dicom_geometry
from sijscan.io.labelmap import read_label_map
from sijscan.modelfolder import save_model
from test_standins import ThresholdSegmenter, draw_pelvis, seg_recipe

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from cohort_helpers import write_tiny_dicom  # noqa: E402

POSITION = ["-120.5", "-80.25", "310.0"]


@pytest.fixture
def segmenter(tmp_path: Path) -> Path:
    return save_model(tmp_path / "seg", network=ThresholdSegmenter(0.6), kind="segmenter", arch="predict-test-seg",
                      init_args={"threshold": 0.6}, labels={0: "background", 1: "sacrum", 2: "hip_l", 3: "hip_r"},
                      recipe=seg_recipe(), provenance={"test": True})


@pytest.fixture
def dicoms(tmp_path: Path) -> Path:
    img, _ = draw_pelvis(seed=2)
    root = tmp_path / "export"
    write_tiny_dicom(root / "a" / "IMG0001", patient_id="P1", study_uid="1.2.3.1", accession="A1", study_date="20200101",
                     pixels=np.round(img * 4000), spacing=("0.82", "0.82"), position=POSITION)
    write_tiny_dicom(root / "b" / "IMG0001", patient_id="P2", study_uid="1.2.3.2", accession="A2", study_date="20200101",
                     pixels=np.round(img[:, ::-1] * 4000), spacing=("0.7", "0.6"))
    return root


def test_segment_folder_nifti_and_dicom_seg_round_trip(segmenter: Path, dicoms: Path, tmp_path: Path, capsys) -> None:
    highdicom = pytest.importorskip("highdicom")
    from sijscan.io.dicomseg import read_dicom_seg

    out = tmp_path / "out"
    assert main(["segment", str(dicoms), "--model", str(segmenter), "--out", str(out), "--nifti", "--dicom-seg"]) == 0
    assert "segmented 2 image(s)" in capsys.readouterr().out  # a folder, searched recursively (extensionless files)
    # both files are named IMG0001 (one per study folder): outputs are named by their path under the folder
    for stem, source in (("a__IMG0001", dicoms / "a" / "IMG0001"), ("b__IMG0001", dicoms / "b" / "IMG0001")):
        labels = np.asarray(read_label_map(out / f"{stem}_mask.png"))
        assert set(np.unique(labels)) == {0, 1, 2, 3}
        mask = sitk.ReadImage(str(out / f"{stem}_mask.nii.gz"))  # as 3D Slicer (ITK) reads it
        dicom = sitk.ReadImage(str(source))  # and the radiograph itself, through GDCM
        assert np.array_equal(sitk.GetArrayFromImage(mask)[0], labels)
        assert mask.GetSpacing()[:2] == pytest.approx(dicom.GetSpacing()[:2], abs=1e-6)
        assert mask.GetOrigin() == pytest.approx(dicom.GetOrigin(), abs=1e-4)
        assert mask.GetDirection() == pytest.approx(dicom.GetDirection(), abs=1e-6)
        seg_labels, source_uid = read_dicom_seg(out / f"{stem}_seg.dcm")
        assert np.array_equal(seg_labels, labels)
        assert source_uid == str(__import__("pydicom").dcmread(source, stop_before_pixels=True).SOPInstanceUID)
        # and highdicom's own reader (what other tools build on): same labels, the source's pixel spacing
        seg = highdicom.seg.segread(str(out / f"{stem}_seg.dcm"))
        combined = seg.get_pixels_by_source_instance(source_sop_instance_uids=[source_uid], combine_segments=True)
        assert np.array_equal(np.asarray(combined)[0], labels)
        measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
        assert [float(v) for v in measures.PixelSpacing] == pytest.approx(dicom.GetSpacing()[1::-1], abs=1e-6)
    ig = sitk.ReadImage(str(out / "a__IMG0001_mask.nii.gz"))
    assert ig.GetSpacing()[:2] == pytest.approx((0.82, 0.82)) and ig.GetOrigin() == pytest.approx(tuple(map(float, POSITION)))
    assert sitk.ReadImage(str(out / "b__IMG0001_mask.nii.gz")).GetSpacing()[:2] == pytest.approx((0.6, 0.7))  # (column, row)
    with open(out / "dicom_results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["study_instance_uid"] for r in rows] == ["1.2.3.1", "1.2.3.2"]
    assert [r["seg_file"] for r in rows] == ["a__IMG0001_seg.dcm", "b__IMG0001_seg.dcm"]
    assert all(r["sop_instance_uid"] and r["seg_sop_instance_uid"] and r["model_sha256"] for r in rows)
    assert "NOT^IN^MANIFEST" not in (out / "dicom_results.csv").read_text()


def test_dicom_geometry_follows_position_and_orientation(tmp_path: Path) -> None:
    f = write_tiny_dicom(tmp_path / "X", patient_id="P", study_uid="1.2", accession="A", study_date="20200101",
                         spacing=("0.5", "0.25"), position=POSITION, orientation=["0", "1", "0", "0", "0", "-1"])
    g = dicom_geometry(f)
    lps = g.lps_affine() @ [2, 3, 0, 1]  # column 2, row 3
    assert lps[:3] == pytest.approx(np.asarray(POSITION, float) + 2 * 0.25 * np.array([0, 1, 0]) + 3 * 0.5 * np.array([0, 0, -1]))
    img = sitk.ReadImage(str(f))
    assert img.TransformIndexToPhysicalPoint((2, 3, 0)) == pytest.approx(tuple(lps[:3]), abs=1e-4)


def _nifti(path: Path, data: np.ndarray, affine: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def test_a_ras_oriented_or_flipped_mask_is_read_by_its_affine(tmp_path: Path, caplog) -> None:
    from sijscan.anatomy.outputs import write_nifti_mask

    _, labels = draw_pelvis(seed=1)
    labels = labels.astype(np.uint8)
    write_nifti_mask(tmp_path / "lps.nii.gz", labels)
    assert np.array_equal(read_label_map(tmp_path / "lps.nii.gz"), labels)
    ras = nib.as_closest_canonical(nib.load(str(tmp_path / "lps.nii.gz")))  # what a RAS-resampling tool stores
    nib.save(ras, str(tmp_path / "ras.nii.gz"))
    assert not np.array_equal(np.squeeze(np.asarray(ras.dataobj)).T, labels)  # read without the affine: mirrored
    with caplog.at_level(logging.WARNING):
        assert np.array_equal(read_label_map(tmp_path / "ras.nii.gz"), labels)
    assert "read by its affine (voxel axis 0 flipped; voxel axis 1 flipped)" in caplog.text
    swapped = np.diag([-1.0, -1.0, 1.0, 1.0])[:, [1, 0, 2, 3]]  # axis 0 runs down the rows: stored (row, column)
    assert np.array_equal(read_label_map(_nifti(tmp_path / "rc.nii.gz", labels[:, :, None], swapped)), labels)
    oblique = np.eye(4)
    oblique[:2, :2] = [[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]]
    with pytest.raises(InputError, match="runs obliquely to the image"):
        read_label_map(_nifti(tmp_path / "ob.nii.gz", labels.T[:, :, None], oblique))


def test_dicom_seg_needs_its_extra(segmenter: Path, dicoms: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "highdicom", None)
    assert main(["segment", str(dicoms), "--model", str(segmenter), "--out", str(tmp_path / "o"), "--dicom-seg"]) == 2
    assert "DICOM SEG needs highdicom: pip install 'sijscan[dicom-seg]'" in capsys.readouterr().err


def test_geometry_is_the_one_itk_and_slicer_read(tmp_path: Path) -> None:
    """A DX with PixelSpacing but no ImagerPixelSpacing: GDCM (so 3D Slicer) places it at 1 mm; the mask follows."""
    from sijscan.io.geometry import image_geometry

    f = write_tiny_dicom(tmp_path / "X", patient_id="P", study_uid="1.2", accession="A", study_date="20200101",
                         spacing=("0.5", "0.5"), imager_spacing=False)
    assert sitk.ReadImage(str(f)).GetSpacing()[:2] == (1.0, 1.0)
    assert image_geometry(f).spacing_row_col == (1.0, 1.0)
    assert dicom_geometry(f).spacing_row_col == (0.5, 0.5)  # the header's own value, used only where ITK cannot read


def test_output_stems_are_distinct():
    from sijscan.anatomy.outputs import output_stems

    assert output_stems(["/d/x.png", "/d/y.png"], ["/d"]) == ["x", "y"]
    assert output_stems(["/d/s1/IMG", "/d/s2/IMG", "/d/z.dcm"], ["/d"]) == ["s1__IMG", "s2__IMG", "z"]
    assert output_stems(["/a/x.png", "/b/x.png"]) == ["x", "x-2"]  # files given one by one, same name
