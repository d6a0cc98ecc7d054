"""Segment a batch of radiographs with a model folder: the loop behind ``sijscan segment`` and
``sijscan.segment`` (:mod:`sijscan.anatomy.api`), writing its outputs to a folder, keeping them in
memory, or both."""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sijscan import jsonio
from sijscan.anatomy.crop import SIJNotFoundError, crop_sij, scale_box
from sijscan.anatomy.localize import locate_sij
from sijscan.anatomy.metrics import dice_per_structure, parse_box, sij_hit, summarise
from sijscan.anatomy.outputs import (dicom_result_row, expand_folders, output_stems, write_dicom_results,
                                     write_outputs)
from sijscan.anatomy.segment import Segmentation, Segmenter
from sijscan.errors import InputError, SijscanError
from sijscan.io import read_radiograph
from sijscan.io.dicomseg import require_highdicom
from sijscan.io.geometry import image_geometry
from sijscan.runinfo import check_and_write_run, model_identity

log = logging.getLogger(__name__)


@dataclass
class SegmentedImage:
    """One segmented radiograph, kept in memory (``segment_files(..., keep=True)``)."""

    path: Path
    """The input file."""
    segmentation: Segmentation
    """Label map at the radiograph's size (0 background, 1 sacrum, 2 hip bone on the image's left,
    3 on the image's right), the SIJ location, timings, the display pixels."""
    summary: dict[str, Any]
    """What ``<stem>.json`` holds: SIJ boxes, QC flags, confidence, timings."""
    crop: np.ndarray | None = field(default=None, repr=False)
    """The SIJ crop (None when no joint was found)."""
    files: list[Path] = field(default_factory=list)
    """The files written for it (none without an output folder)."""

    @property
    def labels(self) -> np.ndarray:
        return self.segmentation.labels


@dataclass
class SegmentRun:
    """What a batch run produced: per-image summaries, failures (path, reason), metrics, and with
    ``keep`` the segmented images themselves, in input order."""

    done: list[dict[str, Any]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    images: list[SegmentedImage] = field(default_factory=list)


def _truth_for(row: Any) -> tuple[str | None, list[list[int] | None] | None]:
    mask = row.get("mask") if row is not None else None
    if not mask or (isinstance(mask, float) and math.isnan(mask)):
        return None, None
    boxes = None
    if "sij_box_image_left" in row and "sij_box_image_right" in row:
        parsed = [parse_box(row["sij_box_image_left"]), parse_box(row["sij_box_image_right"])]
        boxes = None if any(b is None for b in parsed) else [list(b) for b in parsed]  # type: ignore[union-attr]
    return str(mask), boxes


def _evaluate(summary: dict[str, Any], labels: np.ndarray, mask_path: str,
              true_boxes: list[list[int] | None] | None) -> dict[str, Any]:
    import cv2

    true = cv2.imread(mask_path, cv2.IMREAD_UNCHANGED)
    if true is None:
        raise InputError(f"{mask_path}: cannot read true mask")
    if true.ndim == 3:
        true = true[..., 0]
    pred = labels
    if pred.shape != true.shape:
        pred = cv2.resize(labels, (true.shape[1], true.shape[0]), interpolation=cv2.INTER_NEAREST)
    if true_boxes is None:
        true_boxes = list(locate_sij(true, margin_frac=0.0).boxes.values())
    box = summary.get("sij_box")
    if box is not None and tuple(labels.shape) != tuple(true.shape):
        box = scale_box(box, from_shape=labels.shape, to_shape=true.shape)
    return {"image": summary["image"], "dice": dice_per_structure(pred, true),
            "sij_hit": sij_hit(box, true_boxes) if all(b is not None for b in true_boxes) else None}


def segment_files(
    images: Sequence[str | os.PathLike[str]],
    *,
    model_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None,
    nifti: bool = False,
    manifest: str | os.PathLike[str] | None = None,
    paper_crop: bool = False,
    device: str = "cpu",
    dicom_seg: bool = False,
    keep: bool = False,
) -> SegmentRun:
    """Segment each image (folders: every radiograph under them), write its outputs under ``out_dir``;
    continue past bad files.

    With ``manifest`` (rows with a ``mask``), also compute Dice per structure and the SIJ-box hit
    rate and write ``out_dir/metrics.json``. With no ``images``, every manifest image is used.
    ``nifti``: ``<stem>_mask.nii.gz`` with the radiograph's geometry (:mod:`sijscan.io.geometry`).
    ``dicom_seg``: for DICOM inputs ``<stem>_seg.dcm`` (:mod:`sijscan.io.dicomseg`) and
    ``dicom_results.csv``, one row per DICOM input keyed by its StudyInstanceUID/SOPInstanceUID.
    ``out_dir=None``: nothing is written (``nifti``/``dicom_seg`` then refused); ``keep``: each
    image's :class:`SegmentedImage` (label map, location, crop, files) goes into ``SegmentRun.images``.
    """
    if out_dir is None and (nifti or dicom_seg):
        raise InputError("NIfTI and DICOM SEG masks are files: give an output folder")
    rows: dict[str, Any] = {}
    if manifest is not None:
        from sijscan.io import read_manifest  # lazy: pandas

        df = read_manifest(manifest, check_files=False)
        rows = {str(Path(r["image"]).resolve()): r for r in df.to_dict("records")}
        if not images:
            images = list(df["image"])
    roots = [Path(i) for i in images if Path(i).is_dir()]
    images = expand_folders(images)
    stems = output_stems(images, roots)
    if not images:
        raise InputError("no images given (pass IMAGE paths or folders, or --manifest)")
    if dicom_seg:
        require_highdicom()  # one line before any work, not one error per file
    seg = Segmenter.load(model_dir, device=device)
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        check_and_write_run(out, command="segment", identity={"segmenter": model_identity(seg.card),
                                                              "settings": {"paper_crop": bool(paper_crop)}},
                            arguments={"n_images": len(images), "nifti": bool(nifti), "device": device}, resume=False)
    run = SegmentRun()
    evals: list[dict[str, Any]] = []
    dicom_rows: list[dict[str, Any]] = []
    for path, stem in zip(images, stems):
        p = Path(path)
        try:
            item, radiograph = _segment_one(seg, p, model_dir=model_dir, paper_crop=paper_crop)
            if out is not None:
                item.files = write_outputs(out, stem, image=radiograph.pixels, labels=item.labels, crop=item.crop,
                                           summary=item.summary, nifti=nifti,
                                           geometry=image_geometry(p) if nifti else None)
                if dicom_seg and radiograph.source_format == "dicom":
                    dicom_rows.append(dicom_result_row(p, item.labels, item.summary, out=out, card=seg.card, stem=stem))
                    item.files.append(out / dicom_rows[-1]["seg_file"])
            mask_path, true_boxes = _truth_for(rows.get(str(p.resolve())))
            if mask_path:
                evals.append(_evaluate(item.summary, item.labels, mask_path, true_boxes))
            run.done.append(item.summary)
            if keep:
                run.images.append(item)
        except (SijscanError, OSError) as exc:
            run.failed.append((str(p), str(exc)))
            log.info("skipped %s (%s)", p, exc)
    if dicom_rows and out is not None:
        write_dicom_results(out / "dicom_results.csv", dicom_rows)
    if evals:
        run.metrics = {**summarise(evals), "per_image": evals, "model": str(model_dir), "manifest": str(manifest)}
        if out is not None:
            (out / "metrics.json").write_text(jsonio.dumps(run.metrics, indent=2, default=str) + "\n", encoding="utf-8")
    return run


def _segment_one(seg: Segmenter, p: Path, *, model_dir: str | os.PathLike[str],
                 paper_crop: bool) -> tuple[SegmentedImage, Any]:
    """Read, segment, locate and crop one radiograph; the image (no files) and the radiograph read."""
    t0 = time.perf_counter()
    radiograph = read_radiograph(p)
    t1 = time.perf_counter()
    res = seg.run(radiograph)
    display = radiograph.pixels
    t2 = time.perf_counter()
    try:
        source = res.crop_grey() if paper_crop else display
        crop = crop_sij(source, res.location, paper_variant=paper_crop)
    except SIJNotFoundError:
        crop = None
    t3 = time.perf_counter()
    summary: dict[str, Any] = {
        "image": str(p.resolve()), "model": str(Path(model_dir).resolve()),
        "sij_box": res.location.box, "sij_boxes": dict(res.location.boxes),  # input-size pixels
        "image_shape": list(display.shape), "qc_flags": res.location.qc_flags,
        "fallback_used": res.location.fallback_used, "confidence": res.location.confidence,
        "notes": res.location.notes, "crop_shape": None if crop is None else list(crop.shape),
        "timings": {"read_s": round(t1 - t0, 4), **{k: round(v, 4) for k, v in res.timings.items()},
                    "crop_s": round(t3 - t2, 4)},
    }
    if res.field_box is not None:  # a recipe with border: fill found a collimated border (sijscan.anatomy.border)
        summary["exposed_field"] = list(res.field_box)
    return SegmentedImage(path=p, segmentation=res, summary=summary, crop=crop), radiograph
