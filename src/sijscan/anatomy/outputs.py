"""Files written per segmented radiograph: mask PNG/NIfTI, overlay, crop, JSON summary."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from sijscan import jsonio
from sijscan.io.detect import HEAD_BYTES, sniff_format
from sijscan.io.dicomseg import write_dicom_seg
from sijscan.io.geometry import Geometry, nifti_affine

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


def write_nifti_mask(path: Path, labels: np.ndarray, geometry: "Geometry | None" = None) -> None:
    """Write a 2-D label map as NIfTI that 3D Slicer overlays on its radiograph.

    The array is stored (column, row, 1) with the RAS affine of the radiograph's geometry
    (:mod:`sijscan.io.geometry`: pixel spacing, ImagePositionPatient and ImageOrientationPatient
    for DICOM; ITK's 1 mm / origin 0 / identity for PNG, JPEG, TIFF), qform and sform both set.
    """
    import nibabel as nib

    affine = nifti_affine(geometry or Geometry())
    data = np.ascontiguousarray(labels.astype(np.uint8).T[:, :, None])
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm")
    img.header.set_intent("label")
    nib.save(img, str(path))


def write_outputs(out_dir: Path, stem: str, *, image: np.ndarray, labels: np.ndarray, crop: np.ndarray | None,
                  summary: dict[str, Any], nifti: bool, geometry: "Geometry | None" = None) -> list[Path]:
    """Write ``<stem>_mask.png``, ``_overlay.png``, ``_crop.png`` (if any), ``.json``, ``_mask.nii.gz``;
    return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / f"{stem}_mask.png", out_dir / f"{stem}_overlay.png"]
    cv2.imwrite(str(written[0]), labels.astype(np.uint8))
    cv2.imwrite(str(written[1]), overlay(image, labels, box=summary.get("sij_box"), side_boxes=summary.get("sij_boxes")))
    if crop is not None and crop.size:
        written.append(out_dir / f"{stem}_crop.png")
        cv2.imwrite(str(written[-1]), to_uint8(crop))
    if nifti:
        written.append(out_dir / f"{stem}_mask.nii.gz")
        write_nifti_mask(written[-1], labels, geometry)
    written.append(out_dir / f"{stem}.json")
    written[-1].write_text(jsonio.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return written


def expand_folders(inputs: Sequence[str | os.PathLike[str]]) -> list[str | os.PathLike[str]]:
    """Files as given; a folder becomes every radiograph under it (recursive, by content; hidden files
    skipped). A folder holding none stays itself, so that reading it gives its one-line error."""
    out: list[str | os.PathLike[str]] = []
    for item in inputs:
        p = Path(item)
        if not p.is_dir():
            out.append(item)
            continue
        before = len(out)
        for f in sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".")):
            try:
                with open(f, "rb") as fh:
                    head = fh.read(HEAD_BYTES)
            except OSError:
                continue
            if sniff_format(f, head) is not None:
                out.append(f)
        if len(out) == before:
            out.append(item)
    return out


def output_stems(paths: Sequence[str | os.PathLike[str]], roots: Sequence[str | os.PathLike[str]] = ()) -> list[str]:
    """One distinct output stem per input: the file's stem, or, where stems repeat (``IMG0001`` in every
    study folder), its path under the folder it was found in with ``/`` as ``__``; ``-2``, ``-3`` last."""
    plain = [Path(p).stem for p in paths]
    counts = {s: plain.count(s) for s in plain}
    stems = []
    for p, stem in zip(paths, plain):
        if counts[stem] > 1:
            path = Path(p)
            root = next((Path(r) for r in roots if Path(r) in path.parents), path.parent)
            rel = path.relative_to(root).with_suffix("") if path.suffix else path.relative_to(root)
            stem = rel.as_posix().replace("/", "__")
        stems.append(stem)
    seen: dict[str, int] = {}
    out = []
    for stem in stems:
        seen[stem] = seen.get(stem, 0) + 1
        out.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return out


DICOM_RESULT_COLUMNS = ("study_instance_uid", "series_instance_uid", "sop_instance_uid", "seg_file",
                        "seg_series_instance_uid", "seg_sop_instance_uid", "sij_box", "sij_box_image_left",
                        "sij_box_image_right", "qc_flags", "confidence", "model", "model_sha256")


def dicom_result_row(path: Path, labels: np.ndarray, summary: dict[str, Any], *, out: Path, card: Any,
                     stem: str | None = None) -> dict[str, Any]:
    """Write ``<stem>_seg.dcm`` for a DICOM input and return its structured result (UIDs, never names)."""
    seg_file = out / f"{stem or path.stem}_seg.dcm"
    model_name = Path(str(card.path)).name if getattr(card, "path", None) else card.arch
    uids = write_dicom_seg(path, labels, seg_file, model_name=f"{card.arch} {model_name}", model_sha256=card.sha256)
    boxes = summary.get("sij_boxes") or {}
    return {**uids, "seg_file": seg_file.name, "sij_box": summary.get("sij_box"),
            "sij_box_image_left": boxes.get("image_left"), "sij_box_image_right": boxes.get("image_right"),
            "qc_flags": ";".join(summary.get("qc_flags") or []), "confidence": summary.get("confidence"),
            "model": card.arch, "model_sha256": card.sha256}


def write_dicom_results(path: Path, rows: list[dict[str, Any]]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(DICOM_RESULT_COLUMNS))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else " ".join(map(str, row[k])) if isinstance(row.get(k), list)
                                 else row[k]) for k in DICOM_RESULT_COLUMNS})
