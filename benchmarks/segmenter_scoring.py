"""Scoring of a trained segmenter on CT-route renders, shared by benchmarks/sim_to_real.py and the
benchmarks built on it (stress_ct, segmenter_mirror, sim_to_real_nested): Dice per structure against the
whole label map and against the bone inside the exposed field, and the SIJ-box share inside the crop;
one figure set from several training seeds. Loaded by file path (benchmarks are scripts, not a package);
``sim_to_real`` re-exports every name."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

TARGET_INSIDE = 0.90
"""A joint counts as inside the crop when this share of its true box is (issue 17's and 24's threshold)."""


def evaluate(model: Path, manifest: Path, *, mirror: bool | None = None) -> dict[str, Any]:
    """Segment every radiograph of ``manifest``; Dice per structure and SIJ-box share inside the crop.
    ``dice_visible``: Dice against the true bone inside the render's exposed field (``field_box``) only:
    outside it the collimator left the detector unexposed, the radiograph shows a flat border, and no
    reader (or segmenter) can see the bone there; the prediction is scored whole, so bone painted into
    the border counts against it. ``mirror``: mirrored test-time augmentation on / off (None: as the
    model's card says)."""
    import cv2

    from sijscan.anatomy.metrics import box_share_inside, dice_per_structure, parse_box, visible_labels
    from sijscan.anatomy.segment import Segmenter
    from sijscan.io import read_manifest, read_radiograph

    seg = Segmenter.load(model, mirror=mirror)
    df = read_manifest(manifest)
    dice: dict[str, list[float]] = {}
    visible: dict[str, list[float]] = {}  # against the bone inside the exposed field only (field_box)
    inside: dict[str, list[float]] = {"image_left": [], "image_right": []}
    flagged = 0
    for row in df.to_dict("records"):
        res = seg.run(read_radiograph(row["image"]))
        true = cv2.imread(str(row["mask"]), cv2.IMREAD_UNCHANGED)
        for k, v in dice_per_structure(res.labels, true).items():
            dice.setdefault(k, []).append(v)
        for k, v in dice_per_structure(res.labels, visible_labels(true, parse_box(row.get("field_box")))).items():
            visible.setdefault(k, []).append(v)
        box = res.location.box  # in the radiograph's pixels
        for side in inside:
            inside[side].append(box_share_inside(box, parse_box(row.get(f"sij_box_{side}"))))
        flagged += bool(res.location.qc_flags)

    def stats(vals: list[float]) -> dict[str, float]:
        v = np.asarray([x for x in vals if not math.isnan(x)], float)
        if v.size == 0:
            return {"mean": float("nan"), "min": float("nan")}
        return {"mean": round(float(v.mean()), 4), "min": round(float(v.min()), 4),
                "share_ge_90": round(float((v >= TARGET_INSIDE).mean()), 4)}

    both = np.minimum(np.nan_to_num(inside["image_left"], nan=0.0), np.nan_to_num(inside["image_right"], nan=0.0))
    return {"n_images": len(df), "qc_flagged": flagged,
            "both_joints_ge_90": round(float((both >= TARGET_INSIDE).mean()), 4) if len(both) else float("nan"),
            "dice": {k: stats(v) for k, v in dice.items()},
            "dice_visible": {k: stats(v) for k, v in visible.items()},
            "sij_inside_crop": {k: stats(v) for k, v in inside.items()}}


def pool_seeds(evals: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """One figure set from the same fold trained with several seeds.

    ``mean``: the mean over seeds of each seed's mean (what the target is judged on); ``min``: the
    worst image of any seed; ``share_ge_90``: over all images of all seeds; ``seed_means``: per seed,
    in seed order, so a reader sees the spread; ``worst_seed_mean``: the lowest of them.
    """
    seeds = sorted(evals)
    first = evals[seeds[0]]
    out: dict[str, Any] = {"n_images": sum(int(evals[s]["n_images"]) for s in seeds), "seeds": seeds,
                           "qc_flagged": sum(int(evals[s]["qc_flagged"]) for s in seeds),
                           "both_joints_ge_90": round(float(np.mean([evals[s]["both_joints_ge_90"] for s in seeds])), 4)}
    for group in ("dice", "dice_visible", "sij_inside_crop"):
        if group not in first:  # results written before dice_visible existed
            continue
        out[group] = {}
        for k in first[group]:
            per = [evals[s][group][k] for s in seeds]
            means = [float(e["mean"]) for e in per]
            shares = [float(e.get("share_ge_90", float("nan"))) for e in per]
            out[group][k] = {"mean": round(float(np.mean(means)), 4), "min": round(min(float(e["min"]) for e in per), 4),
                             "share_ge_90": round(float(np.mean(shares)), 4), "seed_means": means,
                             "worst_seed_mean": round(min(means), 4)}
    return out
