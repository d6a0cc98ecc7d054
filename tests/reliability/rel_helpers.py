"""Helpers of the reliability tests (a module name of its own: ``conftest`` is ambiguous across folders)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predict"))

from test_standins import draw_pelvis  # noqa: E402


def write_png(path: Path, *, seed: int = 0) -> Path:
    import cv2

    img, _ = draw_pelvis(seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", (img * 255).astype(np.uint8))  # cv2.imwrite crashes on non-UTF-8 names
    path.write_bytes(data.tobytes())
    return path


def write_dicom(path: Path, **tags: Any) -> Path:
    """The drawn pelvis as a 12-bit MONOCHROME2 DICOM (Modality CR unless ``tags`` say otherwise)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ComputedRadiographyImageStorage, ExplicitVRLittleEndian, generate_uid

    img, _ = draw_pelvis()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ComputedRadiographyImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.PatientName, ds.PatientID = "Doe^Jane", "PID-123456"
    ds.Modality, ds.SOPClassUID, ds.SOPInstanceUID = "CR", meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = img.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = (img * 4095).astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)
    return path


def rows(out: Path) -> dict[str, dict[str, str]]:
    import csv

    with open(out / "predictions.csv", newline="", encoding="utf-8") as fh:
        return {r["image"]: r for r in csv.DictReader(fh)}
