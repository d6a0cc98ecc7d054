"""Build a nested folder of small extensionless DICOM radiographs for the cohort-import tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_tiny_dicom(path: Path, *, patient_id: str, study_uid: str, accession: str, study_date: str,
                     modality: str = "DX", size: int = 16, seed: int = 0, pixels: np.ndarray | None = None,
                     spacing: tuple[str, str] = ("0.5", "0.5"), position: list[str] | None = None,
                     orientation: list[str] | None = None, imager_spacing: bool = True) -> Path:
    """A DX radiograph; ``pixels`` (uint16) replace the random ones; ``position``/``orientation`` set
    ImagePositionPatient / ImageOrientationPatient."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(path)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[str(path), "series"])
    ds.PatientName = "NOT^IN^MANIFEST"
    ds.PatientID = patient_id
    ds.PatientSex = "F"
    ds.PatientAge = "041Y"
    ds.AccessionNumber = accession
    ds.StudyDate = study_date
    ds.StudyTime = "101500"
    ds.Modality = modality
    ds.ViewPosition = "AP"
    ds.PixelSpacing = list(spacing)
    if imager_spacing:
        ds.ImagerPixelSpacing = list(spacing)
    if position is not None:
        ds.ImagePositionPatient = position
    if orientation is not None:
        ds.ImageOrientationPatient = orientation
    arr = (np.random.default_rng(seed).integers(0, 4095, (size, size), dtype=np.uint16) if pixels is None
           else np.asarray(pixels, dtype=np.uint16))
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.ascontiguousarray(arr).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def nested_cohort(root: Path, *, n_patients: int = 8, followup: bool = True) -> list[dict]:
    """``n_patients`` patients, each a baseline study (2020) and with ``followup`` one (2022), stored as
    ``root/<site>/<patient>/<study>/IMG0001`` (no extension); plus a text file and a CT slice."""
    made = []
    for p in range(n_patients):
        pid = f"P{p:03d}"
        for v, date in enumerate(["20200301", "20220315"] if followup else ["20200301"]):
            study = f"1.2.826.0.1.3680043.10.{p}.{v}"
            acc = f"ACC{p:03d}{v}"
            path = root / f"site{p % 2}" / pid / f"study{v}" / "IMG0001"
            write_tiny_dicom(path, patient_id=pid, study_uid=study, accession=acc, study_date=date, seed=p * 10 + v)
            made.append({"patient_id": pid, "study_uid": study, "accession": acc, "date": date, "visit": v,
                         "rel": path.relative_to(root).as_posix(), "path": path})
    (root / "README.txt").write_text("export notes\n")
    write_tiny_dicom(root / "site0" / "ct" / "CT0001", patient_id="P000", study_uid="9.9", accession="X",
                     study_date="20200301", modality="CT")
    return made
