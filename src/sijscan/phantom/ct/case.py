"""CT cases: one HU volume, one label volume (sacrum, hip bones) and their spacing, in LPS.

Three layouts are read (``load_ct_case`` picks one from the folder's content):

* **bone volumes** (``../shared/real-ct``): ``<name>_SA.nii.gz``, ``<name>_LI.nii.gz``,
  ``<name>_RI.nii.gz`` on one grid, HU inside each bone and 0 elsewhere (no soft tissue);
* **CT NIfTI + TotalSegmentator masks**: one CT ``*.nii[.gz]`` plus ``sacrum.nii.gz``,
  ``hip_left.nii.gz``, ``hip_right.nii.gz`` (in the folder or in ``segmentations/``);
* **DICOM series + masks**: a folder of CT slices (the case folder or ``dicom/``) plus the masks.

Every volume is reoriented with SimpleITK ``DICOMOrient(img, "LPS")``: array axes (z, y, x) then
run inferior -> superior, anterior -> posterior, patient's right -> patient's left. Label volume
values are the PATIENT's sides: 1 sacrum, 2 left hip bone, 3 right hip bone. Bone-only cases are
cropped to the bones plus a margin (memory, speed); full CTs are kept whole.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sijscan.errors import InputError

logger = logging.getLogger(__name__)

VOL_SACRUM, VOL_HIP_LEFT, VOL_HIP_RIGHT = 1, 2, 3
"""Label-volume values (patient's sides)."""
TS_MASKS = {"sacrum": VOL_SACRUM, "hip_left": VOL_HIP_LEFT, "hip_right": VOL_HIP_RIGHT}
BONE_SUFFIXES = {"SA": VOL_SACRUM, "LI": VOL_HIP_LEFT, "RI": VOL_HIP_RIGHT}
CROP_MARGIN_MM = 15.0
MIN_BONE_VOXELS = 1000


class CTCaseError(InputError):
    """A CT case folder or file cannot be used (missing file, wrong layout, empty mask)."""


@dataclass
class CTCase:
    """One CT: ``hu`` (int16, z/y/x in LPS), ``labels`` (uint8, 1 sacrum / 2 left / 3 right hip).

    ``spacing`` is (z, y, x) in mm. ``soft_tissue`` is False for bone-only volumes (HU outside the
    bones is meaningless there, and a synthetic body is added when rendering).
    """

    hu: np.ndarray
    labels: np.ndarray
    spacing: tuple[float, float, float]
    name: str
    soft_tissue: bool = False
    source: str = ""
    cache: dict = field(default_factory=dict, repr=False)
    """Derived, pose-independent data (joint surfaces, slab volumes), filled on first use."""

    def __post_init__(self) -> None:
        if self.hu.shape != self.labels.shape or self.hu.ndim != 3:
            raise CTCaseError(f"{self.name}: HU {self.hu.shape} and labels {self.labels.shape} must be equal 3-D")
        for value, part in ((VOL_SACRUM, "sacrum"), (VOL_HIP_LEFT, "left hip bone"), (VOL_HIP_RIGHT, "right hip bone")):
            count = int(np.count_nonzero(self.labels == value))
            if count < MIN_BONE_VOXELS:
                raise CTCaseError(f"{self.name}: the {part} mask is empty or tiny ({count} voxels)")


def _sitk():
    import SimpleITK as sitk

    return sitk


def _read(path: Path):
    sitk = _sitk()
    if not path.is_file():
        raise CTCaseError(f"missing file {path}")
    try:
        return sitk.DICOMOrient(sitk.ReadImage(str(path)), "LPS")
    except RuntimeError as exc:
        raise CTCaseError(f"cannot read {path}: {str(exc).strip().splitlines()[-1][:200]}") from exc


def _spacing_zyx(img) -> tuple[float, float, float]:
    sx, sy, sz = img.GetSpacing()
    return float(sz), float(sy), float(sx)


def _crop_to_bones(hu: np.ndarray, labels: np.ndarray, spacing) -> tuple[np.ndarray, np.ndarray]:
    nz = np.argwhere(labels > 0)
    margin = np.ceil(CROP_MARGIN_MM / np.asarray(spacing)).astype(int)
    lo = np.maximum(nz.min(axis=0) - margin, 0)
    hi = np.minimum(nz.max(axis=0) + margin + 1, labels.shape)
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    return np.ascontiguousarray(hu[sl]), np.ascontiguousarray(labels[sl])


def load_bone_volumes(folder: str | Path, *, name: str | None = None) -> CTCase:
    """Read the ``<name>_SA/_LI/_RI.nii.gz`` layout (bone HU, 0 outside) into one :class:`CTCase`."""
    sitk = _sitk()
    folder = Path(folder)
    found = {}
    for suffix in BONE_SUFFIXES:
        hits = sorted(folder.glob(f"*_{suffix}.nii.gz")) + sorted(folder.glob(f"*_{suffix}.nii"))
        if len(hits) != 1:
            raise CTCaseError(f"{folder}: expected one *_{suffix}.nii.gz, found {len(hits)}")
        found[suffix] = hits[0]
    ref = _read(found["SA"])
    hu = np.zeros(sitk.GetArrayViewFromImage(ref).shape, np.int16)
    labels = np.zeros(hu.shape, np.uint8)
    for suffix, value in BONE_SUFFIXES.items():
        img = ref if suffix == "SA" else _read(found[suffix])
        arr = sitk.GetArrayViewFromImage(img)
        if arr.shape != hu.shape or not np.allclose(img.GetSpacing(), ref.GetSpacing(), atol=1e-3):
            raise CTCaseError(f"{found[suffix]}: grid {arr.shape} differs from {found['SA'].name} {hu.shape}")
        inside = arr != 0
        labels[inside & (labels == 0)] = value
        hu[inside] = np.clip(arr[inside], -1024, 3071).astype(np.int16)
    spacing = _spacing_zyx(ref)
    if labels.any():
        hu, labels = _crop_to_bones(hu, labels, spacing)
    stem = found["SA"].name.split("_SA")[0]
    return CTCase(hu=hu, labels=labels, spacing=spacing, name=name or stem, soft_tissue=False, source=str(folder))


def _masks_on(ref, masks_dir: Path) -> np.ndarray:
    """TotalSegmentator masks resampled (nearest) onto ``ref``'s grid -> label volume."""
    sitk = _sitk()
    labels = np.zeros(sitk.GetArrayViewFromImage(ref).shape, np.uint8)
    for stem, value in TS_MASKS.items():
        path = masks_dir / f"{stem}.nii.gz"
        if not path.is_file():
            path = masks_dir / f"{stem}.nii"
        img = _read(path if path.is_file() else masks_dir / f"{stem}.nii.gz")
        img = sitk.Resample(img, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        labels[(sitk.GetArrayViewFromImage(img) > 0) & (labels == 0)] = value
    return labels


def _masks_dir(folder: Path) -> Path:
    sub = folder / "segmentations"
    return sub if sub.is_dir() else folder


def _from_image(ct, masks_dir: Path, *, name: str, source: str) -> CTCase:
    sitk = _sitk()
    hu = np.clip(sitk.GetArrayFromImage(ct), -1024, 3071).astype(np.int16)
    labels = _masks_on(ct, masks_dir)
    return CTCase(hu=hu, labels=labels, spacing=_spacing_zyx(ct), name=name, soft_tissue=True, source=source)


def load_nifti_with_masks(ct_path: str | Path, masks_dir: str | Path, *, name: str | None = None) -> CTCase:
    """A CT NIfTI (HU) plus TotalSegmentator ``sacrum``/``hip_left``/``hip_right`` masks."""
    ct_path = Path(ct_path)
    ct = _read(ct_path)
    stem = ct_path.name.split(".nii")[0]
    return _from_image(ct, Path(masks_dir), name=name or stem, source=str(ct_path))


def load_dicom_with_masks(series_dir: str | Path, masks_dir: str | Path, *, name: str | None = None) -> CTCase:
    """A CT DICOM series folder (the first series found) plus TotalSegmentator masks."""
    sitk = _sitk()
    series_dir = Path(series_dir)
    if not series_dir.is_dir():
        raise CTCaseError(f"missing DICOM folder {series_dir}")
    ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(series_dir))
    if not ids:
        raise CTCaseError(f"{series_dir}: no DICOM series found")
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(series_dir), ids[0])
    if len(files) < 2:
        raise CTCaseError(f"{series_dir}: the DICOM series has {len(files)} slice(s); a CT volume needs more")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    try:
        ct = sitk.DICOMOrient(reader.Execute(), "LPS")
    except RuntimeError as exc:
        raise CTCaseError(f"cannot read the DICOM series in {series_dir}: {str(exc).strip()[:200]}") from exc
    return _from_image(ct, Path(masks_dir), name=name or series_dir.name, source=str(series_dir))


def load_ct_case(folder: str | Path, *, name: str | None = None) -> CTCase:
    """Read a case folder in any of the three layouts (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CTCaseError(f"CT case folder {folder} does not exist")
    if any(folder.glob("*_SA.nii*")):
        return load_bone_volumes(folder, name=name)
    masks = _masks_dir(folder)
    mask_names = {f"{s}.nii.gz" for s in TS_MASKS} | {f"{s}.nii" for s in TS_MASKS}
    cts = [p for p in sorted(folder.glob("*.nii*")) if p.name not in mask_names]
    if len(cts) == 1:
        return load_nifti_with_masks(cts[0], masks, name=name or folder.name)
    if len(cts) > 1:
        raise CTCaseError(f"{folder}: several CT NIfTI files ({', '.join(p.name for p in cts)}); keep one")
    dicom = folder / "dicom"
    if dicom.is_dir() or any(folder.glob("*.dcm")):
        return load_dicom_with_masks(dicom if dicom.is_dir() else folder, masks, name=name or folder.name)
    raise CTCaseError(
        f"{folder}: not a CT case (expected *_SA/_LI/_RI.nii.gz bone volumes, a CT .nii.gz with "
        "sacrum/hip_left/hip_right masks, or a DICOM series in dicom/ with those masks)"
    )
