"""Where a radiograph's pixels lie in the patient (DICOM LPS), so masks open aligned in 3D Slicer.

A 2-D radiograph's pixel (row j, column i) sits at the LPS point
``origin + i * col_spacing * row_cosine + j * row_spacing * column_cosine`` (DICOM PS3.3 C.7.6.2):

* spacing (row, column mm): as ITK/GDCM and so 3D Slicer read it (for CR/DX: ``ImagerPixelSpacing``;
  1 mm without it, which is also what they assume for a PNG/JPEG/TIFF);
* origin: ``ImagePositionPatient`` when present (projection radiographs usually have none), else 0;
* direction: ``ImageOrientationPatient`` (row cosine, column cosine) when present, else the
  identity: columns run to the patient's left (+x), rows to posterior (+y), as ITK/Slicer do.

NIfTI is RAS: its affine is ``diag(-1, -1, 1) @ LPS`` and its array axes are (i, j, k), so a label
map (j, i) is stored transposed with a singleton third axis (:func:`nifti_affine`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sijscan.io.detect import HEAD_BYTES, sniff_format

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Geometry:
    """Row/column spacing (mm), LPS origin of pixel (0, 0) and direction columns (i, j, normal)."""

    spacing_row_col: tuple[float, float] = (1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[tuple[float, ...], ...] = field(default=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)))
    """Rows of the 3x3 direction matrix whose COLUMNS are the i (column), j (row) and normal axes."""
    source: str = "default (1 mm, origin 0, identity)"

    @property
    def matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=float)

    def lps_affine(self) -> np.ndarray:
        """4x4: (i, j, k, 1) -> LPS mm."""
        out = np.eye(4)
        row_mm, col_mm = self.spacing_row_col
        out[:3, :3] = self.matrix @ np.diag([col_mm, row_mm, 1.0])
        out[:3, 3] = self.origin
        return out


def nifti_affine(geometry: Geometry) -> np.ndarray:
    """The RAS affine of a NIfTI whose array is (i, j, 1) = ``labels.T[:, :, None]``."""
    out = geometry.lps_affine()
    out[:3, :] = LPS_TO_RAS @ out[:3, :]
    return out


def _floats(value: object, n: int) -> list[float] | None:
    try:
        items = [float(v) for v in value]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return items if len(items) == n and all(np.isfinite(items)) else None


def dicom_geometry(path: str | os.PathLike[str]) -> Geometry:
    """The :class:`Geometry` of a DICOM radiograph (header only)."""
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    spacing, source = (1.0, 1.0), ["spacing 1 mm (no ImagerPixelSpacing/PixelSpacing)"]
    for keyword in ("ImagerPixelSpacing", "PixelSpacing"):  # GDCM's order for CR/DX
        values = _floats(ds.get(keyword), 2)
        if values and all(v > 0 for v in values):
            spacing, source = (values[0], values[1]), [keyword]
            break
    origin = _floats(ds.get("ImagePositionPatient"), 3)
    source.append("ImagePositionPatient" if origin else "origin 0")
    cosines = _floats(ds.get("ImageOrientationPatient"), 6)
    direction = np.eye(3)
    if cosines:
        row, col = np.asarray(cosines[:3]), np.asarray(cosines[3:])
        normal = np.cross(row, col)
        if np.linalg.norm(normal) > 0.5:
            direction = np.stack([row, col, normal / np.linalg.norm(normal)], axis=1)
            source.append("ImageOrientationPatient")
    return Geometry(spacing_row_col=spacing, origin=tuple(origin or (0.0, 0.0, 0.0)),  # type: ignore[arg-type]
                    direction=tuple(tuple(float(v) for v in r) for r in direction), source=", ".join(source))


def itk_geometry(path: str | os.PathLike[str]) -> Geometry | None:
    """The geometry ITK (GDCM) reads from a DICOM header, as 3D Slicer does; None when it cannot.

    For CR/DX objects GDCM takes the spacing from ImagerPixelSpacing (1 mm without it, even when
    PixelSpacing is set) and uses ImagePositionPatient / ImageOrientationPatient when present."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO("GDCMImageIO")
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None
    size = reader.GetSize()
    if len(size) == 3 and size[2] != 1:
        return None
    sp, org, d = reader.GetSpacing(), reader.GetOrigin(), reader.GetDirection()
    n = len(sp)
    matrix = np.eye(3)
    matrix[:n, :n] = np.asarray(d, dtype=float).reshape(n, n)
    if n == 2:  # a 2-D reading: complete the normal
        matrix[:, 2] = np.cross(matrix[:, 0], matrix[:, 1])
    origin = tuple(float(v) for v in (list(org) + [0.0] * 3)[:3])
    return Geometry(spacing_row_col=(float(sp[1]), float(sp[0])), origin=origin,  # type: ignore[arg-type]
                    direction=tuple(tuple(float(v) for v in r) for r in matrix), source="ITK (GDCM) header reading")


def image_geometry(path: str | os.PathLike[str]) -> Geometry:
    """DICOM files: as ITK/3D Slicer read their header (:func:`itk_geometry`, else :func:`dicom_geometry`);
    any other raster: ITK's default for a 2-D image (1 mm, origin 0, identity)."""
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    if sniff_format(p, head) in ("dicom", "dicom-raw"):
        return itk_geometry(p) or dicom_geometry(p)
    return Geometry()


def reorient_to_grid(data: np.ndarray, affine: np.ndarray, *, reference: Geometry, label: str) -> tuple[np.ndarray, str]:
    """A 2-D NIfTI array (axes 0, 1 = its voxel axes) as (row, column) on ``reference``'s pixel grid.

    Each voxel axis must run along the reference's column (i) or row (j) axis, either way; the
    array is transposed and flipped accordingly. An oblique axis raises ``ValueError`` (one line).
    Returns the array and a note saying what was done ("" when it was stored as sijscan writes it).
    """
    lps = LPS_TO_RAS @ np.asarray(affine, dtype=float)[:3, :3]
    ref = reference.matrix
    picks: list[tuple[int, float]] = []  # per voxel axis: (reference axis 0 = i / 1 = j, sign)
    for axis in (0, 1):
        v = lps[:, axis]
        norm = float(np.linalg.norm(v))
        if norm == 0:
            raise ValueError(f"{label}: the NIfTI affine has a zero axis {axis}")
        cos = ref[:, :2].T @ (v / norm)
        best = int(np.argmax(np.abs(cos)))
        if abs(cos[best]) < 0.99:
            raise ValueError(f"{label}: voxel axis {axis} runs obliquely to the image (cos {abs(cos[best]):.2f}); "
                             "resample the mask onto the radiograph's grid")
        picks.append((best, float(np.sign(cos[best]))))
    if picks[0][0] == picks[1][0]:
        raise ValueError(f"{label}: both voxel axes run along the same image axis; not a mask of this image")
    notes = []
    out = data
    for axis, (_, sign) in enumerate(picks):
        if sign < 0:
            out = np.flip(out, axis=axis)
            notes.append(f"voxel axis {axis} flipped")
    if picks[0][0] == 0:  # axis 0 runs along the columns (i): stored (i, j) as ITK/Slicer write it
        out = out.T
    else:
        notes.append("axes swapped")
    return np.ascontiguousarray(out), "; ".join(notes)
