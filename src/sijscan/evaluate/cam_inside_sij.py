"""Where a model looks: the share of a Grad-CAM's mass inside the true sacroiliac-joint boxes.

Issue #7. A CAM here is non-negative and radiograph-sized (the anatomy-aware model's CAM mapped
back by ``Prediction.cam_on_radiograph``: zero outside its crop). The true boxes are the two
joints' boxes ``[x0, y0, x1, y1]`` (pixels, ends exclusive) as the segmentation box-hit metric
takes them: the manifest's ``sij_box_image_left``/``sij_box_image_right`` (the phantom
renderer's exact joint boxes), else the joints :func:`sijscan.anatomy.localize.locate_sij` finds
on the exact label map with no margin.

* ``share`` = CAM mass inside the union of the boxes / total CAM mass (NaN for an all-zero CAM:
  no evidence anywhere, so no share);
* ``chance`` = area of that union / image area: the share a CAM spread evenly over the image
  would get;
* ``chance_in_region`` = the same within a region (the anatomy-aware model's crop box): the share
  a CAM spread evenly over the crop would get. A crop model's CAM is zero outside its crop, so its
  share is compared with this, not only with the image-level chance.

Pure functions on arrays, plus :func:`true_sij_boxes` which reads the mask only when the
manifest row has no box columns.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from sijscan.anatomy.localize import locate_sij
from sijscan.anatomy.metrics import parse_box
from sijscan.evaluate.errors import EvaluationInputError

log = logging.getLogger(__name__)

Box = Sequence[float]
BOX_COLUMNS = ("sij_box_image_left", "sij_box_image_right")


class CamShareError(EvaluationInputError):
    """A CAM or a box cannot be used (wrong shape, negative values, malformed box)."""


@dataclass(frozen=True)
class CamShare:
    """One image: CAM share inside the true boxes and the chance levels."""

    share: float
    """CAM mass inside the union of the boxes / total CAM mass; NaN when the CAM is all zero."""
    chance: float
    """Area of the union of the boxes / image area."""
    chance_in_region: float
    """Area of (union of the boxes within the region) / region area; equals ``chance`` without a region."""
    mass: float
    """Total CAM mass (sum of the map)."""


def _int_box(box: Box, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    if len(box) != 4:
        raise CamShareError(f"a box must be [x0, y0, x1, y1], got {list(box)!r}")
    vals = [float(v) for v in box]
    if not all(math.isfinite(v) for v in vals):
        raise CamShareError(f"box has a non-finite coordinate: {vals!r}")
    x0, y0, x1, y1 = (int(round(v)) for v in vals)
    if x1 <= x0 or y1 <= y0:
        raise CamShareError(f"box must have x1 > x0 and y1 > y0, got {[x0, y0, x1, y1]!r}")
    h, w = shape
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def union_mask(boxes: Sequence[Box], shape: Sequence[int]) -> np.ndarray:
    """Boolean ``shape`` map, True inside any of ``boxes`` (clipped to the map)."""
    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), dtype=bool)
    for box in boxes:
        x0, y0, x1, y1 = _int_box(box, (h, w))
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = True
    return mask


def cam_share(cam: np.ndarray, boxes: Sequence[Box], *, region: Box | None = None) -> CamShare:
    """Share of ``cam``'s mass inside the union of ``boxes``, with the chance levels.

    ``cam``: non-negative 2-D map, radiograph-sized. ``boxes``: the true joint boxes (at least
    one). ``region``: an optional box (e.g. the crop the model saw) for ``chance_in_region``.
    """
    arr = np.asarray(cam, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0:
        raise CamShareError(f"cam must be a non-empty 2-D map, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise CamShareError("cam holds NaN or infinite values")
    if (arr < 0).any():
        raise CamShareError(f"cam must be non-negative (Grad-CAM after ReLU), min is {arr.min():.4g}")
    if not boxes:
        raise CamShareError("at least one true box is needed")
    inside = union_mask(boxes, arr.shape)
    total = float(arr.sum())
    share = float(arr[inside].sum()) / total if total > 0 else float("nan")
    chance = float(inside.mean())
    chance_region = chance
    if region is not None:
        rx0, ry0, rx1, ry1 = _int_box(region, arr.shape)
        sub = inside[ry0:ry1, rx0:rx1]
        chance_region = float(sub.mean()) if sub.size else float("nan")
    return CamShare(share=share, chance=chance, chance_in_region=chance_region, mass=total)


def true_sij_boxes(row: Mapping[str, Any], *, image_shape: Sequence[int] | None = None) -> list[list[float]] | None:
    """The true joint boxes of one manifest row, in the pixels of an image of ``image_shape``.

    Manifest box columns first; else ``locate_sij(mask, margin_frac=0)`` on the row's ``mask``
    (as :mod:`sijscan.anatomy.run` does for the box-hit metric). Boxes are given in the mask's
    (= the manifest's ``height``/``width``) pixels and scaled to ``image_shape`` when that differs.
    None when the row has neither usable boxes nor a readable mask.
    """
    parsed = [parse_box(row.get(c), number=float) for c in BOX_COLUMNS] if all(c in row for c in BOX_COLUMNS) else None
    boxes = None if parsed is None else [None if b is None else list(b) for b in parsed]
    src_shape: tuple[int, int] | None = None
    if boxes is not None and all(b is not None for b in boxes):
        src_shape = _shape_of(row)
    else:
        boxes = _boxes_from_mask(row.get("mask"))
        if boxes is None:
            return None
        boxes, src_shape = boxes
    if image_shape is not None and src_shape is not None and tuple(src_shape) != tuple(int(v) for v in image_shape[:2]):
        sy, sx = image_shape[0] / src_shape[0], image_shape[1] / src_shape[1]
        boxes = [[b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy] for b in boxes]  # type: ignore[index]
    return [list(b) for b in boxes]  # type: ignore[union-attr]


def _shape_of(row: Mapping[str, Any]) -> tuple[int, int] | None:
    try:
        h, w = int(row.get("height")), int(row.get("width"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return (h, w) if h > 0 and w > 0 else None


def _boxes_from_mask(mask: Any) -> tuple[list[list[float]], tuple[int, int]] | None:
    if not isinstance(mask, str) or not mask.strip():
        return None
    import cv2

    try:  # from bytes: cv2.imread crashes the process on a path that is not valid UTF-8
        data = np.fromfile(mask, dtype=np.uint8)
        labels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except (OSError, cv2.error):
        labels = None
    if labels is None:
        log.warning("cannot read mask %s; no true SIJ boxes for it", mask)
        return None
    if labels.ndim == 3:
        labels = labels[..., 0]
    found = [b for b in locate_sij(labels, margin_frac=0.0).boxes.values() if b is not None]
    if not found:
        return None
    return [[float(v) for v in b] for b in found], (int(labels.shape[0]), int(labels.shape[1]))


def bootstrap_center(values: Sequence[float], *, n_bootstrap: int, seed: int, level: float = 0.95) -> dict[str, Any]:
    """Mean and median of ``values`` (NaNs dropped) with percentile bootstrap CIs over the images."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(float(x))], dtype=float)
    out: dict[str, Any] = {"n": int(v.size), "mean": float(v.mean()) if v.size else float("nan"),
                           "median": float(np.median(v)) if v.size else float("nan"),
                           "mean_ci": [float("nan")] * 2, "median_ci": [float("nan")] * 2,
                           "n_bootstrap": int(n_bootstrap), "seed": int(seed)}
    if v.size < 2 or n_bootstrap < 1:
        out["ci_reason"] = "fewer than 2 images or no resamples"
        return out
    rng = np.random.default_rng(seed)
    draws = v[rng.integers(0, v.size, size=(int(n_bootstrap), v.size))]
    q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    out["mean_ci"] = [float(x) for x in np.percentile(draws.mean(axis=1), q)]
    out["median_ci"] = [float(x) for x in np.percentile(np.median(draws, axis=1), q)]
    return out


def paired_difference(a: Sequence[float], b: Sequence[float], *, n_bootstrap: int, seed: int,
                      level: float = 0.95) -> dict[str, Any]:
    """Mean of ``b - a`` over images where both are finite, with a percentile bootstrap CI."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise CamShareError(f"paired shares must have the same length, got {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    d = (y - x)[ok]
    res = bootstrap_center(d.tolist(), n_bootstrap=n_bootstrap, seed=seed, level=level)
    return {"n": res["n"], "mean": res["mean"], "mean_ci": res["mean_ci"]}
