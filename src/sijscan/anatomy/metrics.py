"""Segmentation and localisation metrics: Dice per structure, SIJ-box hit rate. NaN-safe."""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Sequence

import numpy as np

STRUCTURES = {1: "sacrum", 2: "hip_a", 3: "hip_b"}


def dice(pred: np.ndarray, true: np.ndarray, *, label: int) -> float:
    """Dice of one class; NaN when the class is absent from both maps."""
    p, t = np.asarray(pred) == label, np.asarray(true) == label
    denom = int(p.sum()) + int(t.sum())
    return float("nan") if denom == 0 else 2.0 * int((p & t).sum()) / denom


def dice_per_structure(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Dice for sacrum and the two hip bones; the hip bones are matched by image side.

    Hip-bone classes 2/3 are compared as "hip_image_left"/"hip_image_right" after assigning
    each class of each map to the side its centroid lies on (so a model whose 2/3 convention is
    mirrored, like the published one, is not penalised for naming).
    """
    out = {"sacrum": dice(pred, true, label=1)}
    ps, ts = _hips_by_side(pred), _hips_by_side(true)
    for side in ("image_left", "image_right"):
        p, t = ps.get(side), ts.get(side)
        pm = np.zeros(np.shape(true), bool) if p is None else p
        tm = np.zeros(np.shape(true), bool) if t is None else t
        denom = int(pm.sum()) + int(tm.sum())
        out[f"hip_{side}"] = float("nan") if denom == 0 else 2.0 * int((pm & tm).sum()) / denom
    return out


def _hips_by_side(lab: np.ndarray) -> dict[str, np.ndarray]:
    lab = np.asarray(lab)
    w = lab.shape[1]
    out: dict[str, np.ndarray] = {}
    for cls, default in ((2, "image_left"), (3, "image_right")):
        m = lab == cls
        if not m.any():
            continue
        side = "image_left" if np.nonzero(m)[1].mean() < (w - 1) / 2 else "image_right"
        if side in out:
            side = default
        out[side] = m
    return out


def box_contains(outer: Sequence[float] | None, inner: Sequence[float] | None, *, tol: float = 0.0) -> bool:
    """True when ``inner`` [x0, y0, x1, y1] lies inside ``outer`` (with ``tol`` pixels of slack)."""
    if outer is None or inner is None:
        return False
    return (outer[0] - tol <= inner[0] and outer[1] - tol <= inner[1]
            and inner[2] <= outer[2] + tol and inner[3] <= outer[3] + tol)


def sij_hit(pred_box: Sequence[float] | None, true_joint_boxes: Iterable[Sequence[float] | None], *,
            tol: float = 0.0) -> bool:
    """A hit: every true joint box lies inside the predicted SIJ box."""
    joints = [b for b in true_joint_boxes]
    return pred_box is not None and bool(joints) and all(box_contains(pred_box, b, tol=tol) for b in joints)


def summarise(per_image: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean Dice per structure (NaN-skipping) and the hit rate over images with a verdict."""
    keys = sorted({k for r in per_image for k in r.get("dice", {})})
    mean_dice = {}
    for k in keys:
        vals = [r["dice"][k] for r in per_image if not math.isnan(r["dice"].get(k, float("nan")))]
        mean_dice[k] = float(np.mean(vals)) if vals else float("nan")
    hits = [bool(r["sij_hit"]) for r in per_image if r.get("sij_hit") is not None]
    return {
        "n_images": len(per_image),
        "dice_mean": mean_dice,
        "sij_hit_rate": float(np.mean(hits)) if hits else float("nan"),
        "n_hit_evaluated": len(hits),
    }


def box_share_inside(outer: Sequence[float] | None, inner: Sequence[float] | None) -> float:
    """Share of ``inner``'s area [x0, y0, x1, y1] (exclusive ends) that lies inside ``outer``.

    0.0 when there is no ``outer`` box (nothing was cropped); NaN when ``inner`` is missing or empty.
    """
    if inner is None:
        return float("nan")
    area = max(0.0, float(inner[2]) - float(inner[0])) * max(0.0, float(inner[3]) - float(inner[1]))
    if area <= 0:
        return float("nan")
    if outer is None:
        return 0.0
    w = min(float(outer[2]), float(inner[2])) - max(float(outer[0]), float(inner[0]))
    h = min(float(outer[3]), float(inner[3])) - max(float(outer[1]), float(inner[1]))
    return max(0.0, w) * max(0.0, h) / area


def parse_box(text: Any, *, number: Callable[[float], Any] = int) -> tuple[Any, Any, Any, Any] | None:
    """A manifest's box column (``field_box``, ``sij_box_image_left``...: "x0 y0 x1 y1", pixels, end exclusive;
    commas may separate too) -> four ``number`` s (int: truncated; float keeps fractions); None when absent,
    malformed or empty (x1 <= x0 or y1 <= y0)."""
    if not isinstance(text, str):
        return None
    parts = text.replace(",", " ").split()
    if len(parts) != 4:
        return None
    try:
        values = [float(v) for v in parts]
    except ValueError:
        return None
    if not all(math.isfinite(v) for v in values):
        return None
    x0, y0, x1, y1 = (number(v) for v in values)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def visible_labels(labels: np.ndarray, field_box: Sequence[int] | None) -> np.ndarray:
    """``labels`` with everything outside the exposed field ``field_box`` (x0, y0, x1, y1) set to background.

    A phantom's label map is the anatomy's exact projection, also where the collimator kept the beam off
    the detector and the radiograph shows a flat border; a reader annotating the radiograph can only
    outline the bone it shows. ``field_box`` None: ``labels`` unchanged."""
    if field_box is None:
        return labels
    x0, y0, x1, y1 = (int(v) for v in field_box)
    out = np.zeros_like(labels)
    out[max(y0, 0):y1, max(x0, 0):x1] = labels[max(y0, 0):y1, max(x0, 0):x1]
    return out
