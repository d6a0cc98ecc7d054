"""Reading a label map someone made (a phantom's truth, or masks corrected in 3D Slicer / ITK-SNAP).

sijscan's labels: 0 background, 1 sacrum, 2 hip bone on the image's left, 3 hip bone on the image's
right, in standard display orientation. PNG/TIFF (8/16-bit grey; a colour PNG's first channel) and
2-D NIfTI (``.nii``/``.nii.gz``, oriented by its affine: see :func:`read_label_map`) are read.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from sijscan.errors import CorruptImageError, FileMissingError, InputError
from sijscan.io.geometry import Geometry, reorient_to_grid

log = logging.getLogger(__name__)

LABEL_SUFFIXES = (".png", ".tif", ".tiff", ".nii", ".nii.gz")


class LabelMapError(InputError):
    """A label map that cannot be used: unreadable, not 2-D, or with values outside 0-3."""


def read_label_map(path: str | os.PathLike[str], *, reference: "Geometry | None" = None) -> np.ndarray:
    """The label map at ``path`` as uint8 (H, W); one-line errors for a missing, broken or odd file.

    A NIfTI's affine is honoured: its voxel axes are matched to the radiograph's grid (``reference``,
    default ITK's 2-D convention, which ``segment --nifti`` writes for PNG/JPEG and most DX files),
    so a mask stored RAS-oriented, flipped or with swapped axes is read the right way round (said
    in the log) and an oblique one is refused; never silently mirrored.
    """
    p = Path(path)
    if not p.is_file():
        raise FileMissingError(f"{p.name}: label map not found")
    name = p.name.lower()
    try:
        if name.endswith((".nii", ".nii.gz")):
            import nibabel as nib

            img = nib.load(str(p))
            arr = np.asarray(img.dataobj)
            while arr.ndim > 2 and arr.shape[-1] == 1:
                arr = arr[..., 0]
            if arr.ndim == 2:
                try:
                    arr, note = reorient_to_grid(arr, img.affine, reference=reference or Geometry(), label=p.name)
                except ValueError as exc:
                    raise LabelMapError(str(exc)) from None
                if note:
                    log.warning("%s: read by its affine (%s)", p.name, note)
        else:
            from PIL import Image

            with Image.open(p) as im:
                arr = np.asarray(im)
            if arr.ndim == 3:
                arr = arr[..., 0]
    except (OSError, ValueError, SyntaxError) as exc:
        raise CorruptImageError(f"{p.name}: unreadable label map ({type(exc).__name__})") from exc
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise LabelMapError(f"{p.name}: a label map must be 2-D, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer) and not np.all(np.equal(np.mod(arr, 1), 0)):
        raise LabelMapError(f"{p.name}: label map holds non-integer values")
    if arr.size and (arr.min() < 0 or arr.max() > 3):
        raise LabelMapError(f"{p.name}: label values must be 0-3 (0 background, 1 sacrum, 2/3 hip bones), "
                            f"found {int(arr.min())}-{int(arr.max())}")
    return arr.astype(np.uint8)


def find_mask(folder: str | os.PathLike[str], image_name: str) -> Path | None:
    """The label map in ``folder`` for an image named ``image_name`` (a relative name): the same
    relative path with any label-map extension, or ``<stem>_mask.<ext>``; None when there is none."""
    rel = Path(image_name)
    stem = rel.name[:-len(".nii.gz")] if rel.name.lower().endswith(".nii.gz") else rel.stem
    base = Path(folder) / rel.parent
    for candidate in (stem, f"{stem}_mask"):
        for ext in LABEL_SUFFIXES:
            f = base / f"{candidate}{ext}"
            if f.is_file():
                return f
    return None
