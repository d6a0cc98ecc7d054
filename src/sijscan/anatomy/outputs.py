"""Files written per segmented radiograph: mask PNG/NIfTI, overlay, crop, JSON summary."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sijscan import jsonio


log = logging.getLogger(__name__)

# BGR colours per class for the overlay: sacrum yellow, hip bones cyan and magenta.
_COLOURS = {1: (0, 220, 255), 2: (255, 200, 0), 3: (255, 0, 200)}


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Min-max scale any grey array to uint8 for display (constant -> 0)."""
    a = np.asarray(img, dtype=np.float32)
    if a.size == 0:
        return np.zeros(a.shape, np.uint8)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if not np.isfinite(lo) or hi <= lo:
        return np.zeros(a.shape, np.uint8)
    return np.clip((a - lo) / (hi - lo) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def overlay(image: np.ndarray, labels: np.ndarray, *, box: list[int] | None,
            side_boxes: dict[str, list[int] | None] | None = None, alpha: float = 0.35) -> np.ndarray:
    """BGR uint8 image with coloured masks, per-side boxes (thin) and the SIJ box (thick red)."""
    grey = to_uint8(image)
    rgb = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    colour = np.zeros_like(rgb)
    for cls, c in _COLOURS.items():
        colour[labels == cls] = c
    mask = labels > 0
    rgb[mask] = (rgb[mask] * (1 - alpha) + colour[mask] * alpha).astype(np.uint8)
    thick = max(1, int(round(max(image.shape) / 300)))
    for b in (side_boxes or {}).values():
        if b is not None:
            cv2.rectangle(rgb, (b[0], b[1]), (b[2] - 1, b[3] - 1), (0, 255, 0), thick)
    if box is not None:
        cv2.rectangle(rgb, (box[0], box[1]), (box[2] - 1, box[3] - 1), (0, 0, 255), 2 * thick)
    return rgb


def write_nifti_mask(path: Path, labels: np.ndarray) -> None:
    """Write a 2-D label map as NIfTI that 3D Slicer overlays on the source PNG/JPG.

    Slicer (ITK) reads a 2-D raster with index i = column, j = row, unit spacing, origin 0, in LPS
    coordinates; NIfTI is RAS, so the array is stored (column, row, 1) with affine diag(-1, -1, 1).
    """
    import nibabel as nib

    data = np.ascontiguousarray(labels.astype(np.uint8).T[:, :, None])
    img = nib.Nifti1Image(data, np.diag([-1.0, -1.0, 1.0, 1.0]))
    img.header.set_intent("label")
    nib.save(img, str(path))


def write_outputs(out_dir: Path, stem: str, *, image: np.ndarray, labels: np.ndarray, crop: np.ndarray | None,
                  summary: dict[str, Any], nifti: bool) -> None:
    """Write ``<stem>_mask.png``, ``_overlay.png``, ``_crop.png`` (if any), ``.json``, ``_mask.nii.gz``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_dir / f"{stem}_mask.png"), labels.astype(np.uint8))
    cv2.imwrite(str(out_dir / f"{stem}_overlay.png"),
                overlay(image, labels, box=summary.get("sij_box"), side_boxes=summary.get("sij_boxes")))
    if crop is not None and crop.size:
        cv2.imwrite(str(out_dir / f"{stem}_crop.png"), to_uint8(crop))
    if nifti:
        write_nifti_mask(out_dir / f"{stem}_mask.nii.gz", labels)
    (out_dir / f"{stem}.json").write_text(jsonio.dumps(summary, indent=2) + "\n", encoding="utf-8")
