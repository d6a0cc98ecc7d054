"""Issue 26 item 2: orientation. Every rigid turn or flip of a pelvis is withheld by QC, except a mirror
image (which the anatomy cannot tell: it is said by DICOM PatientOrientation when present); EXIF
orientations of PNG and JPEG are applied on reading, as viewers do.

The trained-network checks (all eight rigid transforms of held-out phantom radiographs through the
pipeline with a real U-Net) are in ``tests/anatomy/test_learning.py``; here: the QC rule, the
header flags and the readers.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from rel_helpers import write_dicom
from sijscan.anatomy.orientation import OrientationCheck, foreground_confidence
from sijscan.cli.main import main
from sijscan.predict.qc import assess
from rel_helpers import draw_pelvis  # noqa: F811


def _qc(orientation: OrientationCheck):
    img, lab = draw_pelvis()
    from sijscan.anatomy.localize import locate_sij

    return assess(img, labels=lab, location=locate_sij(lab), orientation=orientation)


def test_row2_qc_withholds_when_the_segmenter_prefers_the_image_turned() -> None:
    assert _qc(OrientationCheck(0.94, 0.86, 0.85)).passed  # upright: surest as given
    down = _qc(OrientationCheck(0.86, 0.94, 0.85))
    assert not down.passed and "upside_down" in down.flags and "0.940 against 0.860" in " ".join(down.reasons)
    side = _qc(OrientationCheck(0.86, 0.84, 0.93))
    assert not side.passed and "rotated_90" in side.flags and "turned by 90 degrees" in " ".join(side.reasons)
    assert _qc(OrientationCheck(0.90, 0.915, 0.91)).passed  # within the margin (0.02): no flag
    assert _qc(OrientationCheck(0.90, 0.95, None)).flags == ["upside_down"]  # no quarter turns on a non-square grid


def test_row2_foreground_confidence_is_the_mean_top_class_over_the_foreground() -> None:
    import torch

    logits = torch.zeros(2, 4, 2, 2)
    logits[:, 0] = 10.0  # background everywhere ...
    logits[0, 0, 0, 1] = logits[0, 0, 1, 0] = logits[0, 0, 1, 1] = 0.0  # ... but for three pixels of image 0
    logits[0, 1, 0, 1] = logits[0, 2, 1, 0] = logits[0, 3, 1, 1] = float(np.log(3 * 9.0))  # p(top) = 0.9 there
    got = foreground_confidence(logits)
    assert got[0] == pytest.approx(0.9, abs=1e-6) and got[1] == 0.0  # image 1: no foreground at all


@pytest.mark.parametrize("orientation,flag", [(["R", "F"], "mirrored"), (["L", "H"], "upside_down"),
                                              (["R", "H"], "mirrored"), (["L", "F"], None), (["A", "F"], None)])
def test_row2_dicom_patient_orientation_says_mirror_and_upside_down(pipeline, tmp_path, orientation, flag) -> None:
    path = write_dicom(tmp_path / "po.dcm", PatientOrientation=orientation)
    pred = pipeline.predict(str(path), name="po")
    if flag is None:
        assert pred.qc_passed and pred.decision is not None, pred.qc_flags
    else:
        assert not pred.qc_passed and pred.decision is None and flag in pred.qc_flags
        assert any("PatientOrientation" in r for r in pred.qc_reasons)


def _upright() -> np.ndarray:
    """An asymmetric grey test image (no two rigid transforms of it are equal)."""
    img = (draw_pelvis(48, 64)[0] * 200).astype(np.uint8)
    img[2:8, 2:20] = 255  # a bright bar at the top left
    return img


def _with_exif(kind: str, stored: np.ndarray, orientation: int) -> bytes:
    from PIL import Image

    im = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    if kind == "png":
        im.save(buf, format="PNG", exif=exif)
    else:
        im.save(buf, format="JPEG", exif=exif, quality=100, subsampling=0)
    return buf.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_row2_exif_orientation_is_applied_as_viewers_do(tmp_path: Path, kind: str, orientation: int) -> None:
    from PIL import Image, ImageOps

    from sijscan.io import read_radiograph

    data = _with_exif(kind, _upright(), orientation)
    path = tmp_path / f"o{orientation}.{kind}"
    path.write_bytes(data)
    with Image.open(io.BytesIO(data)) as im:
        shown = np.asarray(ImageOps.exif_transpose(im), dtype=np.float64)  # what a viewer shows
    rad = read_radiograph(path)
    want = shown / 255.0  # 8-bit files: the nominal range
    assert rad.pixels.shape == want.shape
    np.testing.assert_allclose(rad.pixels, want, atol=0.02 if kind == "jpeg" else 1e-6)
    assert rad.metadata.get("exif_orientation", 1) == orientation


def test_row2_exif_orientation_of_a_16_bit_colour_png(tmp_path: Path) -> None:
    """The 16-bit colour path decodes with OpenCV (which ignores eXIf): the orientation is applied too."""
    import struct
    import zlib

    import cv2
    from PIL import Image

    from sijscan.io import read_radiograph

    grey = _upright().astype(np.uint16) * 257
    rgb = np.dstack([grey, grey, grey])
    ok, buf = cv2.imencode(".png", rgb)
    png = buf.tobytes()
    exif = Image.Exif()
    exif[0x0112] = 3
    payload = exif.tobytes()
    payload = payload[6:] if payload.startswith(b"Exif\0\0") else payload
    chunk = struct.pack(">I", len(payload)) + b"eXIf" + payload + struct.pack(">I", zlib.crc32(b"eXIf" + payload))
    at = png.index(b"IDAT") - 4
    (tmp_path / "c16.png").write_bytes(png[:at] + chunk + png[at:])
    rad = read_radiograph(tmp_path / "c16.png")
    want = grey[::-1, ::-1].astype(np.float64)
    np.testing.assert_allclose(rad.pixels, want / 65535.0, atol=1e-4)  # grey from RGB: luminance rounding
    assert rad.metadata["exif_orientation"] == 3
