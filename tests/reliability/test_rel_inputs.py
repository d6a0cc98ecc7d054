"""Issue 14, row 9 and the "Smaller" items: DICOM tags read, truncated JPEG 2000, semicolons, transparent images."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rel_helpers import rows, write_dicom
from sijscan.cli.main import main


@pytest.mark.parametrize("modality", ["CT", "MR", "US"])
def test_row9_other_modalities_are_refused_in_one_line(tmp_path: Path, modality: str) -> None:
    from sijscan.errors import ModalityNotSupportedError
    from sijscan.io import read_radiograph

    path = write_dicom(tmp_path / "x.dcm", Modality=modality)
    with pytest.raises(ModalityNotSupportedError) as info:
        read_radiograph(path)
    msg = str(info.value)
    assert "\n" not in msg and f"Modality {modality!r}" in msg and "CR" in msg
    assert read_radiograph(write_dicom(tmp_path / "dx.dcm", Modality="DX")).height == 96


def test_row9_lateral_view_and_other_body_part_are_qc_flags_naming_the_tag(models: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_dicom(folder / "ap.dcm", ViewPosition="AP", BodyPartExamined="PELVIS")
    write_dicom(folder / "lateral.dcm", ViewPosition="LL", BodyPartExamined="PELVIS")
    write_dicom(folder / "chest.dcm", ViewPosition="PA", BodyPartExamined="CHEST")
    write_dicom(folder / "ct.dcm", Modality="CT")
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--model", str(models), "--out", str(out), "--device", "cpu"]) == 1
    got = rows(out)
    assert got["ap.dcm"]["qc_passed"] == "true" and got["ap.dcm"]["decision"] in ("0", "1")
    lat, chest = got["lateral.dcm"], got["chest.dcm"]
    assert lat["qc_passed"] == "false" and lat["decision"] == "" and "view_not_ap" in lat["qc_flags"]
    assert "ViewPosition is 'LL'" in lat["qc_reasons"]
    assert chest["decision"] == "" and "body_part_not_pelvis" in chest["qc_flags"]
    assert "BodyPartExamined is 'CHEST'" in chest["qc_reasons"]
    assert "Modality 'CT'" in got["ct.dcm"]["error"]


def test_row9_header_qc_in_the_web_app_and_in_assess(pipeline, tmp_path: Path) -> None:
    from sijscan.app.app import analyse
    from sijscan.predict.qc import assess, header_flags

    summary, _ = analyse(pipeline, str(write_dicom(tmp_path / "u.dcm", ViewPosition="LL")), max_upload_mb=5)
    assert "withheld" in summary and "ViewPosition" in summary
    assert header_flags({"ViewPosition": "AP", "BodyPartExamined": "pelvis"}) == []
    res = assess(np.random.default_rng(0).random((64, 64)).astype(np.float32), metadata={"BodyPartExamined": "KNEE"})
    assert not res.passed and "body_part_not_pelvis" in res.flags and any("KNEE" in r for r in res.reasons)


def test_truncated_jpeg2000_dicom_says_truncated(tmp_path: Path) -> None:
    import pydicom.data

    from sijscan.errors import CorruptImageError
    from sijscan.io import read_radiograph

    src = Path(pydicom.data.__file__).parent / "test_files" / "MR_small_jp2klossless.dcm"
    if not src.is_file():
        pytest.skip("pydicom does not bundle MR_small_jp2klossless.dcm")
    data = src.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptImageError, match="pixel data is truncated") as info:
        read_radiograph(cut, any_modality=True)
    assert "JPEG 2000" in str(info.value) and "no pixel data" not in str(info.value)


def test_header_only_dicom_still_says_no_pixel_data(tmp_path: Path) -> None:
    import pydicom

    from sijscan.errors import NoPixelDataError
    from sijscan.io import read_radiograph

    path = write_dicom(tmp_path / "x.dcm")
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(NoPixelDataError):
        read_radiograph(path)


@pytest.mark.parametrize("sep,name", [(";", "semicolon"), ("\t", "tab")])
def test_semicolon_manifest_names_the_delimiter(tmp_path: Path, sep: str, name: str) -> None:
    from sijscan.errors import ManifestError
    from sijscan.io import read_manifest

    m = tmp_path / "m.csv"
    m.write_text(sep.join(["image", "label", "split"]) + "\n" + sep.join(["a.png", "1", "train"]) + "\n")
    with pytest.raises(ManifestError, match=f"looks {name}-separated") as info:
        read_manifest(m, check_files=False)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_fully_transparent_image_is_refused(tmp_path: Path, mode: str) -> None:
    from PIL import Image

    from sijscan.errors import ConstantImageError
    from sijscan.io import read_radiograph

    h, w = 32, 40
    grey = (np.arange(h * w).reshape(h, w) % 251).astype(np.uint8)
    planes = [grey] * (3 if mode == "RGBA" else 1) + [np.zeros((h, w), np.uint8)]
    Image.fromarray(np.dstack(planes), mode).save(tmp_path / "clear.png")
    with pytest.raises(ConstantImageError, match="fully transparent"):
        read_radiograph(tmp_path / "clear.png")
    planes[-1] = np.full((h, w), 255, np.uint8)
    Image.fromarray(np.dstack(planes), mode).save(tmp_path / "opaque.png")
    assert read_radiograph(tmp_path / "opaque.png").width == w


def test_row14_all_test_manifest_says_what_is_wrong(tmp_path: Path) -> None:
    import cv2

    from sijscan.anatomy.train import TrainConfig, _load_pairs
    from sijscan.errors import InputError

    lines = ["image,mask,split"]
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"i{i}.png"), np.full((8, 8), 40 * i + 10, np.uint8))
        cv2.imwrite(str(tmp_path / f"m{i}.png"), np.zeros((8, 8), np.uint8))
        lines.append(f"i{i}.png,m{i}.png,test")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="no rows with split train/val") as info:
        _load_pairs(tmp_path / "m.csv", TrainConfig())
    assert "3 of 3 rows with masks are split 'test'" in str(info.value)
