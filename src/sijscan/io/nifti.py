"""Read a 2-D NIfTI image (a crop or radiograph saved by a research pipeline).

Accepted shapes: (X, Y) or (X, Y, 1) (trailing singleton axes are dropped). NIfTI stores the
first axis (i, "x") fastest, so the array is transposed to (row, column) = (j, i): this is the
array ITK, SimpleITK and MONAI had before they saved the image, and what 3D Slicer displays for
their default 2-D direction (affine diag(-1, -1, 1): i runs to the patient's left = screen right,
j to posterior = screen down). The affine itself is NOT applied (no flips): files whose affine
orders the axes differently (e.g. nibabel's identity default, which Slicer would show rotated by
180 degrees) are shown as stored. The axis codes are kept in ``metadata["axcodes"]`` so callers can
tell.

Scaling: NIfTI ``scl_slope``/``scl_inter`` are applied (by nibabel); then ``cal_min``/``cal_max``
as a display window when the header sets them, otherwise a min-max rescale. Spacing comes from
the zooms of the two in-plane axes, in mm (unknown units are taken as mm, as ITK does).
"""
from __future__ import annotations

import gzip
import logging
from pathlib import Path
from typing import Any

import numpy as np

from sijscan.errors import CorruptImageError, InputError, UnsupportedFormatError, VolumeNotSupportedError, one_line
from sijscan.io.radiograph import Radiograph, check_finite, check_size, min_max, scale_to_unit, to_grey

logger = logging.getLogger(__name__)

_UNIT_TO_MM = {"mm": 1.0, "meter": 1000.0, "micron": 0.001, "unknown": 1.0}


def _load(path: Path, *, label: str, gz: bool) -> tuple[Any, np.ndarray]:
    """The header image object and the decoded (scaled) data, with the shape checked first."""
    import nibabel as nib

    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as f:
            head = f.read(8)
            f.seek(0)
            klass = nib.Nifti2Image if 540 in (int.from_bytes(head[:4], "little"), int.from_bytes(head[:4], "big")) else nib.Nifti1Image
            if head and f.read(348)[344:347] == b"ni1":
                raise UnsupportedFormatError(f"{label}: a NIfTI .hdr/.img pair is not supported; save it as a single .nii file")
            f.seek(0)
            file_map = klass.make_file_map({"image": f, "header": f})
            img = klass.from_file_map(file_map)
            _check_shape(img.shape, label=label)
            data = np.asanyarray(img.dataobj)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - nibabel/gzip raise many types on broken files
        raise CorruptImageError(f"{label}: cannot read NIfTI data: {one_line(exc)}") from exc
    return img, data


def _check_shape(shape: tuple[int, ...], *, label: str) -> None:
    dims = list(shape)
    while len(dims) > 2 and dims[-1] == 1:
        dims.pop()
    if len(dims) != 2:
        raise VolumeNotSupportedError(
            f"{label}: NIfTI of shape {tuple(shape)} is not a single 2-D image "
            "(expected (X, Y) or (X, Y, 1)); sijscan reads 2-D radiographs, not volumes"
        )
    check_size(int(dims[1]), int(dims[0]), label=label)


def read_nifti(path: Path, *, label: str, gz: bool) -> Radiograph:
    img, data = _load(path, label=label, gz=gz)
    header = img.header
    while data.ndim > 2:
        data = data[..., 0]
    if data.dtype.names:  # RGB24 / RGBA32 structured voxels
        data = np.stack([data[name] for name in data.dtype.names[:3]], axis=-1)
        grey = to_grey(data, label=label)
    else:
        grey = data
    grey = np.asarray(grey).T  # (X, Y) -> (row = j, column = i)
    check_finite(grey, label=label)
    cal_min, cal_max = float(header["cal_min"]), float(header["cal_max"])
    if np.isfinite(cal_min) and np.isfinite(cal_max) and cal_max > cal_min:
        min_max(grey, label=label)  # raises ConstantImageError for a constant image
        pixels = scale_to_unit(grey, low=cal_min, high=cal_max, label=label)
        windowing: dict[str, Any] = {
            "method": "window", "center": (cal_min + cal_max) / 2, "width": cal_max - cal_min,
            "source": "cal_min/cal_max",
        }
    else:
        pixels, windowing = min_max(grey, label=label)
    zooms = [float(z) for z in header.get_zooms()[:2]]
    unit = header.get_xyzt_units()[0]
    factor = _UNIT_TO_MM.get(unit, 1.0)
    spacing_row_col = [zooms[1] * factor, zooms[0] * factor] if len(zooms) == 2 else []
    spacing = None
    if spacing_row_col and all(s > 0 for s in spacing_row_col):
        if abs(spacing_row_col[0] - spacing_row_col[1]) > 1e-6 * max(spacing_row_col):
            logger.warning("%s: non-square pixels %s (row, column mm); using their mean", label, spacing_row_col)
        spacing = float(np.mean(spacing_row_col))
    import nibabel as nib

    metadata = {
        "nifti_shape": [int(n) for n in img.shape],
        "dtype": str(header.get_data_dtype()),
        "axcodes": "".join(str(c) for c in nib.aff2axcodes(img.affine)),
        "spatial_unit": unit,
        "spacing_row_col_mm": spacing_row_col,
        "orientation": "transposed (row=j, column=i); affine not applied",
    }
    dtype = header.get_data_dtype()
    return Radiograph(
        pixels=pixels,
        path=path,
        source_format="nifti",
        bits_stored=int(dtype.itemsize * 8),
        photometric="RGB" if dtype.names else "MONOCHROME2",
        pixel_spacing_mm=spacing,
        windowing={**windowing, "inverted": False},
        metadata=metadata,
    )
