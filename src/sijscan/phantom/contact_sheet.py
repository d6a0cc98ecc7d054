"""Contact sheets: a grid of thumbnails with grades and label under each (for eyes, not for models)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from sijscan.errors import SijscanError
from sijscan.phantom.writers import PhantomWriteError

logger = logging.getLogger(__name__)


class ContactSheetError(SijscanError):
    """A contact sheet could not be made or written."""


def make_contact_sheet(
    images: Sequence[np.ndarray], captions: Sequence[str], *, thumb: int = 256, columns: int = 6,
    caption_px: int = 22,
) -> np.ndarray:
    """Return a uint8 grid: each image (float [0, 1] or uint8) fitted into ``thumb`` x ``thumb``."""
    if len(images) != len(captions) or not images:
        raise ContactSheetError("need the same, non-zero number of images and captions")
    columns = max(1, min(columns, len(images)))
    rows = (len(images) + columns - 1) // columns
    thumbs = []
    for img in images:
        arr = np.asarray(img)
        if arr.dtype != np.uint8:
            arr = np.rint(np.clip(arr.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
        h, w = arr.shape[:2]
        scale = (thumb - 4) / max(h, w)
        thumbs.append(cv2.resize(arr, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA))
    img_h = max(t.shape[0] for t in thumbs) + 4
    cell_h = img_h + caption_px
    sheet = np.full((rows * cell_h, columns * thumb), 255, np.uint8)
    for i, (small, text) in enumerate(zip(thumbs, captions)):
        r, c = divmod(i, columns)
        y0 = r * cell_h + (img_h - small.shape[0]) // 2
        x0 = c * thumb + (thumb - small.shape[1]) // 2
        sheet[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
        cv2.putText(sheet, text, (c * thumb + 4, r * cell_h + img_h + caption_px - 7),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.42, 0, 1, cv2.LINE_AA)
    return sheet


def cohort_contact_sheet(manifest_path: Path, out_path: Path, *, max_images: int = 24, thumb: int = 256) -> Path:
    """Contact sheet of the first ``max_images`` rows of a phantom manifest (PNG or DICOM images)."""
    import pandas as pd

    manifest_path = Path(manifest_path)
    df = pd.read_csv(manifest_path).head(max_images)
    images, captions = [], []
    for _, row in df.iterrows():
        path = manifest_path.parent / str(row["image"])
        images.append(read_display(path))
        captions.append(f"L{row['grade_left']} R{row['grade_right']} {'pos' if row['label'] else 'neg'}"
                        f" {row.get('site', '')}")
    sheet = make_contact_sheet(images, captions, thumb=thumb)
    if not cv2.imwrite(str(out_path), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise PhantomWriteError(f"cannot write {out_path}")
    return Path(out_path)


def read_display(path: Path) -> np.ndarray:
    """Bone-bright float image from a phantom PNG or DICOM (kept independent of sijscan.io)."""
    if path.suffix.lower() == ".dcm":
        import pydicom

        ds = pydicom.dcmread(path)
        arr = ds.pixel_array.astype(np.float32) / float((1 << int(ds.BitsStored)) - 1)
        return 1.0 - arr if ds.PhotometricInterpretation == "MONOCHROME1" else arr
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ContactSheetError(f"cannot read {path}")
    return arr.astype(np.float32) / (65535.0 if arr.dtype == np.uint16 else 255.0)


def folder_contact_sheet(folder: Path, out_path: Path, *, pattern: str = "*.jpg", thumb: int = 256) -> Path:
    """Contact sheet of every image matching ``pattern`` in ``folder`` (captioned with file names)."""
    paths = sorted(Path(folder).glob(pattern))
    if not paths:
        raise ContactSheetError(f"no files matching {pattern!r} in {folder}")
    images = []
    for path in paths:
        arr = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if arr is None:
            raise ContactSheetError(f"cannot read {path}")
        images.append(arr)
    sheet = make_contact_sheet(images, [p.stem for p in paths], thumb=thumb, columns=5)
    if not cv2.imwrite(str(out_path), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise ContactSheetError(f"cannot write {out_path}")
    return Path(out_path)
