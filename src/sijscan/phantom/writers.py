"""File writers for phantom images: uncompressed DICOM (DX/CR), 16-bit grey PNG, uint8 label PNG.

Only synthetic identifiers are written: PatientName ``PHANTOM^<COHORT>``, PatientID like
``PH-gespic-0001``, UIDs derived deterministically from (seed, cohort, index, visit).
"""
from __future__ import annotations

import hashlib
import logging
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from sijscan.errors import SijscanError

logger = logging.getLogger(__name__)


class PhantomWriteError(SijscanError):
    """An output file could not be written."""


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png16(path: Path, display: np.ndarray, *, pixel_spacing_mm: float, compression: int = 1) -> Path:
    """Write ``display`` ([0, 1], bone bright) as a 16-bit grey PNG with its pixel spacing.

    The spacing goes in the standard ``pHYs`` chunk (pixels per metre) and a ``tEXt`` chunk
    ``PixelSpacing`` (mm). OpenCV encodes (fast); the chunks are inserted after ``IHDR``.
    """
    values = (np.clip(display, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    # run-length strategy: string matching finds little in a noisy radiograph, so zlib's default
    # strategy spends its time for nothing (about 1.7x slower and a slightly larger file at 2048 px)
    params = [cv2.IMWRITE_PNG_COMPRESSION, int(compression), cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    ok, buf = cv2.imencode(".png", values, params)
    if not ok:
        raise PhantomWriteError(f"cannot encode {path}")
    data = buf.tobytes()
    ppm = int(round(1000.0 / pixel_spacing_mm))
    extra = _png_chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1))
    extra += _png_chunk(b"tEXt", b"PixelSpacing\x00" + f"{pixel_spacing_mm:.6f}".encode())
    extra += _png_chunk(b"tEXt", b"Software\x00sijscan phantom")
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    try:
        Path(path).write_bytes(data[:ihdr_end] + extra + data[ihdr_end:])
    except OSError as exc:
        raise PhantomWriteError(f"cannot write {path}: {exc}") from exc
    return Path(path)


def write_labels(path: Path, labels: np.ndarray) -> Path:
    """Write a uint8 label map (0 background, 1 sacrum, 2 hip image-left, 3 hip image-right)."""
    if not cv2.imwrite(str(path), labels.astype(np.uint8)):
        raise PhantomWriteError(f"cannot write {path}")
    return path


def write_display_dicom(path: Path, display: np.ndarray, *, pixel_spacing_mm: float = 0.14,
                        modality: str = "CR") -> Path:
    """Write a display image ([0, 1], bone bright) as a minimal 16-bit MONOCHROME2 DICOM file.

    For pictures that did not come from :func:`acquire` (drawings in tests, benchmark inputs): no
    window, no patient fields beyond the phantom's placeholders, deterministic UIDs from the pixels.
    """
    img = np.clip(np.asarray(display, dtype=np.float64), 0.0, 1.0)
    if img.ndim != 2:
        raise PhantomWriteError(f"cannot write {path}: expected a 2-D image, got shape {img.shape}")
    stored = np.round(img * 65535.0).astype(np.uint16)
    meta = {"photometric": "MONOCHROME2", "bits_stored": 16, "pixel_spacing_mm": pixel_spacing_mm,
            "kvp": 0.0, "mas": 0.0, "window_center": 32767.5, "window_width": 65536.0}
    digest = hashlib.sha256(stored.tobytes()).hexdigest()[:16]
    return write_dicom(Path(path), stored, meta=meta, patient_id="PHANTOM", cohort="drawing", uid_entropy=[digest],
                       age=50, sex="O", modality=modality, manufacturer_model="drawing")


def write_dicom(
    path: Path, stored: np.ndarray, *, meta: dict, patient_id: str, cohort: str, uid_entropy: list,
    age: float, sex: str, modality: str, manufacturer_model: str, study_description: str = "PELVIS AP",
) -> Path:
    """Write ``stored`` (uint16, already in ``meta['photometric']``) as an uncompressed DICOM file."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import (
        ComputedRadiographyImageStorage,
        DigitalXRayImageStorageForPresentation,
        ExplicitVRLittleEndian,
        generate_uid,
    )

    sop_class = DigitalXRayImageStorageForPresentation if modality == "DX" else ComputedRadiographyImageStorage
    ent = [str(v) for v in uid_entropy]
    file_meta = FileMetaDataset()
    file_meta.MediaStorageSOPClassUID = sop_class
    file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=ent + ["sop"])
    file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=file_meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=ent + ["study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=ent + ["series"])
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=ent + ["frame"])
    ds.Modality = modality
    ds.PatientName = f"PHANTOM^{cohort.upper()}"
    ds.PatientID = patient_id
    ds.PatientSex = sex
    ds.PatientAge = f"{int(age):03d}Y"
    ds.StudyDescription = study_description
    ds.StudyID = str(meta.get("study_number", "0"))[:16]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Manufacturer = "sijscan phantom"
    ds.ManufacturerModelName = manufacturer_model
    ds.BodyPartExamined = "PELVIS"
    ds.ViewPosition = "AP"
    ds.PatientOrientation = ["L", "F"]  # standard AP display: rows toward the patient's left, columns to the feet
    ds.ImageType = ["DERIVED", "PRIMARY"] if modality == "DX" else ["ORIGINAL", "PRIMARY"]
    if modality == "DX":
        ds.PresentationIntentType = "FOR PRESENTATION"
    ds.KVP = f"{meta['kvp']:.0f}"
    ds.Exposure = int(round(meta["mas"]))
    ds.ExposureInuAs = int(round(meta["mas"] * 1000))
    spacing = f"{meta['pixel_spacing_mm']:.6f}"
    ds.PixelSpacing = [spacing, spacing]
    ds.ImagerPixelSpacing = [spacing, spacing]
    rows, cols = stored.shape
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = meta["photometric"]
    ds.BitsAllocated = 16
    ds.BitsStored = int(meta["bits_stored"])
    ds.HighBit = int(meta["bits_stored"]) - 1
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.WindowCenter = f"{meta['window_center']:.1f}"
    ds.WindowWidth = f"{meta['window_width']:.1f}"
    ds.PixelData = np.ascontiguousarray(stored.astype(np.uint16)).tobytes()
    try:
        ds.save_as(path, enforce_file_format=True)
    except (OSError, ValueError) as exc:
        raise PhantomWriteError(f"cannot write {path}: {exc}") from exc
    return path
