"""Scan a folder of radiographs (nested, extensionless DICOM files welcome) into one row per image.

DICOM headers are read with pydicom up to the pixel data (``stop_before_pixels``), only the tags
needed to join and describe; PatientName is never read. Non-DICOM radiographs (PNG, JPEG, TIFF,
NIfTI, recognised by content) are rows with their file name only. Everything else is counted and
named in the summary, never silently dropped.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sijscan.io.detect import HEAD_BYTES, sniff_format

log = logging.getLogger(__name__)

#: Tags read from each DICOM file (nothing that names the patient).
TAGS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "AccessionNumber",
        "StudyDate", "StudyTime", "Modality", "Rows", "PatientSex", "PatientAge", "KVP", "ViewPosition")
RADIOGRAPH_MODALITIES = ("CR", "DX", "RG", "OT", "")
IMAGE_COLUMNS = ("path", "rel", "name", "format", "patient_id", "study_uid", "sop_uid", "accession", "study_date",
                 "study_time", "sex", "age", "kvp", "view")


@dataclass
class FolderScan:
    """The images found under ``root`` and what was left aside (relative paths, with a reason)."""

    root: Path
    images: pd.DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)
    n_files: int = 0


def _text(ds: Any, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _age_years(text: str) -> float | None:
    """DICOM AS ('045Y', '006M', '010W', '100D') in years."""
    if len(text) == 4 and text[:3].isdigit() and text[3] in "YMWD":
        return round(int(text[:3]) / {"Y": 1, "M": 12, "W": 52.18, "D": 365.25}[text[3]], 2)
    return None


def _date(text: str) -> pd.Timestamp | None:
    try:
        return pd.Timestamp(pd.to_datetime(text, format="%Y%m%d")) if len(text) == 8 else None
    except (ValueError, TypeError):
        return None


def _dicom_row(path: Path, *, rel: str) -> tuple[dict[str, Any] | None, str | None]:
    """The row of one DICOM file, or (None, reason) when it is not a radiograph sijscan can use."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(TAGS), force=True)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError) as exc:
        return None, f"unreadable DICOM header ({type(exc).__name__})"
    modality = _text(ds, "Modality").upper()
    if modality not in RADIOGRAPH_MODALITIES:
        return None, f"DICOM Modality {modality} (not a radiograph)"
    if ds.get("Rows") is None:
        return None, "DICOM without an image (no Rows)"
    kvp = _text(ds, "KVP")
    try:
        kvp_value: float | None = float(kvp) if kvp else None
    except ValueError:
        kvp_value = None
    return {"path": str(path), "rel": rel, "name": path.name, "format": "dicom",
            "patient_id": _text(ds, "PatientID") or None, "study_uid": _text(ds, "StudyInstanceUID") or None,
            "sop_uid": _text(ds, "SOPInstanceUID") or None, "accession": _text(ds, "AccessionNumber") or None,
            "study_date": _date(_text(ds, "StudyDate")), "study_time": _text(ds, "StudyTime"),
            "sex": _text(ds, "PatientSex").upper() or None, "age": _age_years(_text(ds, "PatientAge")),
            "kvp": kvp_value, "view": _text(ds, "ViewPosition") or None}, None


def scan_folder(root: str | os.PathLike[str]) -> FolderScan:
    """Every radiograph under ``root`` (recursive): a DataFrame with :data:`IMAGE_COLUMNS`."""
    base = Path(root)
    rows: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    files = sorted(p for p in base.rglob("*") if p.is_file())
    for path in files:
        rel = path.relative_to(base).as_posix()
        if path.name.startswith(".") or path.name.upper() == "DICOMDIR":
            skipped.append((rel, "hidden file or DICOMDIR index"))
            continue
        try:
            with open(path, "rb") as fh:
                head = fh.read(HEAD_BYTES)
        except OSError as exc:
            skipped.append((rel, f"unreadable ({exc.strerror or exc})"))
            continue
        kind = sniff_format(path, head)
        if kind in ("dicom", "dicom-raw"):
            row, reason = _dicom_row(path, rel=rel)
            if row is None:
                skipped.append((rel, str(reason)))
                continue
            rows.append(row)
        elif kind is not None:
            rows.append({"path": str(path), "rel": rel, "name": path.name, "format": kind})
        else:
            skipped.append((rel, "not an image (no DICOM, PNG, JPEG, TIFF or NIfTI content)"))
    images = pd.DataFrame(rows, columns=list(IMAGE_COLUMNS))
    log.info("%s: %d image(s) in %d file(s), %d skipped", base, len(images), len(files), len(skipped))
    return FolderScan(root=base, images=images, skipped=skipped, n_files=len(files))
