"""DICOM SEG for a segmented DICOM radiograph (highdicom), and reading one back.

The label map (0 background, 1 sacrum, 2 hip bone on the image's left = the PATIENT's right, 3 on
the image's right = the patient's left) becomes a BINARY Segmentation of the source image with
three segments. Codes (SNOMED CT via pydicom): category "Anatomical Structure"; type "Sacrum" for
segment 1 and "Bone structure of pelvis" for the hip bones (pydicom's code list has no code for one
hip bone); the side is in each segment's label. The SEG copies the source's patient and study
modules, as any DICOM object of that study must: treat it as patient data.

Needs ``pip install 'sijscan[dicom-seg]'`` (highdicom).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from sijscan import __version__
from sijscan.errors import InputError

SEGMENTS = {1: ("sacrum", "Sacrum"),
            2: ("hip bone, patient's right (image left)", "BoneStructureOfPelvis"),
            3: ("hip bone, patient's left (image right)", "BoneStructureOfPelvis")}


_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
          "ReferringPhysicianName", "StudyID", "AccessionNumber", "SeriesNumber", "InstanceNumber")


class DicomSegError(InputError):
    """A DICOM SEG cannot be written or read (highdicom missing, source not DICOM, shapes differ)."""


def require_highdicom() -> Any:
    try:
        import highdicom
    except ImportError:
        raise DicomSegError("DICOM SEG needs highdicom: pip install 'sijscan[dicom-seg]'") from None
    return highdicom


def write_dicom_seg(source: str | os.PathLike[str], labels: np.ndarray, out: str | os.PathLike[str], *,
                    model_name: str, model_sha256: str) -> dict[str, str]:
    """Write ``labels`` (rows, columns of ``source``) as a DICOM SEG; return the UIDs that key it."""
    import pydicom
    from pydicom.sr.codedict import codes

    hd = require_highdicom()
    ds = pydicom.dcmread(source)
    for keyword in _TYPE2:  # type-2 attributes highdicom copies: present, possibly empty (as DICOM allows)
        if keyword not in ds:
            setattr(ds, keyword, "")
    if (int(ds.Rows), int(ds.Columns)) != tuple(labels.shape):
        raise DicomSegError(f"{Path(source).name}: label map {labels.shape} differs from the image "
                            f"({ds.Rows}, {ds.Columns})")
    algorithm = hd.AlgorithmIdentificationSequence(name=f"sijscan {model_name}"[:64], version=__version__,
                                                   family=codes.cid7162.ArtificialIntelligence,
                                                   parameters={"model_sha256": model_sha256})
    descriptions = [hd.seg.SegmentDescription(
        segment_number=n, segment_label=text, segmented_property_category=codes.SCT.AnatomicalStructure,
        segmented_property_type=getattr(codes.SCT, code), algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm, tracking_uid=hd.UID(), tracking_id=f"sijscan label {n}")
        for n, (text, code) in SEGMENTS.items()]
    seg = hd.seg.Segmentation(
        source_images=[ds], pixel_array=np.asarray(labels, dtype=np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
        series_instance_uid=hd.UID(), series_number=9901, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="sijscan", manufacturer_model_name=model_name[:64] or "sijscan", software_versions=__version__,
        device_serial_number=model_sha256[:16] or "unknown", series_description="sijscan pelvis segmentation",
        omit_empty_frames=False, pixel_measures=_pixel_measures(hd, ds))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(str(out))
    return {"study_instance_uid": str(ds.StudyInstanceUID), "series_instance_uid": str(ds.SeriesInstanceUID),
            "sop_instance_uid": str(ds.SOPInstanceUID), "seg_series_instance_uid": str(seg.SeriesInstanceUID),
            "seg_sop_instance_uid": str(seg.SOPInstanceUID)}


def _pixel_measures(hd: Any, ds: Any) -> Any:
    """The SEG's Pixel Measures: the source's spacing (PixelSpacing, else the projection's
    ImagerPixelSpacing) and a SliceThickness, which DICOM requires in a SEG with a Frame of Reference
    (CP 1426) and highdicom's reader always asks for. A projection radiograph has no slice: the value is
    nominal, the pixel spacing (so a viewer shows the SEG as one thin plane on the image)."""
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    if not spacing or len(spacing) != 2:
        return None  # highdicom's own default (the source's PixelSpacing, or an error naming it)
    row, col = (float(v) for v in spacing)
    thickness = ds.get("SliceThickness")
    return hd.PixelMeasuresSequence(pixel_spacing=[row, col],
                                    slice_thickness=float(thickness) if thickness else row)


def read_dicom_seg(path: str | os.PathLike[str]) -> tuple[np.ndarray, str]:
    """The label map (rows, columns) of a single-image SEG and the SOPInstanceUID of its source image.

    Read with pydicom (frame i holds segment ``ReferencedSegmentNumber`` of the per-frame groups), so
    reading needs no highdicom; ``highdicom.seg.segread`` reads sijscan's SEGs too (tested)."""
    import pydicom

    ds = pydicom.dcmread(path)
    if str(ds.get("Modality", "")) != "SEG":
        raise DicomSegError(f"{Path(path).name}: not a DICOM SEG (Modality {ds.get('Modality')!r})")
    sources = {ref.ReferencedSOPInstanceUID for item in ds.ReferencedSeriesSequence
               for ref in item.ReferencedInstanceSequence}
    if len(sources) != 1:
        raise DicomSegError(f"{Path(path).name}: refers to {len(sources)} images; sijscan reads single-image SEGs")
    frames = np.asarray(ds.pixel_array)
    frames = frames[None] if frames.ndim == 2 else frames
    labels = np.zeros(frames.shape[1:], dtype=np.uint8)
    for frame, group in zip(frames, ds.PerFrameFunctionalGroupsSequence):
        number = int(group.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        labels[frame > 0] = number
    return labels, sources.pop()
