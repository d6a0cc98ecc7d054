"""Where the models look (issue #7): Grad-CAM mass inside the true SIJ boxes, per evaluation set.

Two halves, one per stage. The predict stage (:func:`score_sets`) runs both models with Grad-CAM
(class "positive") on the positives of every evaluation set whose manifest gives the true joint
boxes (phantom cohorts: box columns or exact masks), at most ``predict.cam_share_images`` of them
(the first in manifest order); each CAM is mapped onto the radiograph and scored with
:func:`sijscan.evaluate.cam_inside_sij.cam_share` (the anatomy-aware model's crop box is the
region for its within-crop chance level), one CSV per set. The evaluate stage (:func:`cam_shares`)
only summarises those tables: bootstrap CIs of the mean and median share, chance levels, the
paired difference between the models.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Mapping

from sijscan.evaluate.cam_inside_sij import BOX_COLUMNS, bootstrap_center, cam_share, paired_difference, true_sij_boxes
from sijscan.evaluate.report import fmt, fmt_ci
from sijscan.study.context import StageContext
from sijscan.study.names import MODELS
from sijscan.study.predicting import StagePipelines, predict_with_bar

log = logging.getLogger(__name__)

HEADERS = ["Evaluation set", "Model", "n (positives with a share)", "Mean share (95% CI)", "Median share (95% CI)",
           "Chance: image area", "Chance: within the crop"]


def _set_has_truth(df: Any) -> bool:
    if all(c in df.columns for c in BOX_COLUMNS) and df[list(BOX_COLUMNS)].notna().all(axis=1).any():
        return True
    return "mask" in df.columns and df["mask"].notna().any()


def score_sets(ctx: StageContext, *, sets: Mapping[str, Any], out_dir: Path,
               pipes: StagePipelines | None = None) -> dict[str, str]:
    """Predict stage: set -> CSV of per-positive shares and chance levels of both models; ``{}``
    when switched off (``predict.cam_share_images`` 0) or no set has true SIJ boxes. ``pipes``: the
    stage's loaded pipelines (loaded here when not given)."""
    import pandas as pd

    from sijscan.io.manifest import read_manifest  # lazy: pandas

    cap = ctx.config.predict.cam_share_images
    if cap == 0:
        return {}
    chosen: dict[str, Any] = {}
    for name, manifest in sets.items():
        df = read_manifest(manifest, check_files=False)
        if "label" not in df.columns or not _set_has_truth(df):
            continue
        pos = df[pd.to_numeric(df["label"], errors="coerce") == 1].head(cap)
        if len(pos):
            chosen[name] = pos
    if not chosen:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    pipes = pipes or StagePipelines(ctx)
    tables: dict[str, str] = {}
    for name, rows in chosen.items():
        csv = out_dir / f"camshare_{name}.csv"
        _score_set(ctx, rows, pipes).to_csv(csv, index=False)
        tables[name] = str(csv)
    return tables


def cam_shares(tables: Mapping[str, str], *, n_bootstrap: int, seed: int) -> dict[str, Any]:
    """Evaluate stage (pure statistics): per set the per-model summaries of :func:`score_sets`' tables."""
    import pandas as pd

    result: dict[str, Any] = {}
    for name, csv in tables.items():
        table = pd.read_csv(csv)
        block: dict[str, Any] = {"csv": str(csv), "n_positives": int(len(table)), "models": {}}
        for model in MODELS:
            share = table[f"{model}_share"].tolist()
            summ = bootstrap_center(share, n_bootstrap=n_bootstrap, seed=seed)
            chance = table[f"{model}_chance"].tolist()
            # an undefined share: no CAM at all (the model could not read or crop the image), or an
            # all-zero CAM (Grad-CAM found no evidence for 'positive' anywhere: ReLU of a negative map)
            summ["n_no_cam"] = int(sum(1 for v, c in zip(share, chance) if not math.isfinite(v) and not math.isfinite(c)))
            summ["n_zero_cam"] = int(sum(1 for v, c in zip(share, chance) if not math.isfinite(v) and math.isfinite(c)))
            summ["chance_image"] = _mean(table[f"{model}_chance"])
            summ["chance_region"] = _mean(table[f"{model}_chance_region"])
            block["models"][model] = summ
        block["difference_anatomy_minus_standard"] = paired_difference(
            table["standard_share"].tolist(), table["anatomy_share"].tolist(), n_bootstrap=n_bootstrap, seed=seed)
        result[name] = block
    return result


def _mean(values: Any) -> float:
    v = [float(x) for x in values if math.isfinite(float(x))]
    return sum(v) / len(v) if v else float("nan")


def _score_set(ctx: StageContext, rows: Any, pipes: StagePipelines) -> Any:
    """One row per positive: each model's share and chance levels (NaN where it gave no CAM)."""
    import pandas as pd

    cfg = ctx.config
    images = [str(x) for x in rows["image"]]
    table = pd.DataFrame({"image": images})
    for model, view in MODELS.items():
        preds = predict_with_bar(pipes(model), images, batch_size=cfg.predict.batch_size, gradcam=True,
                                 desc=f"Grad-CAM share {model}", enabled=ctx.progress)
        scores = []
        for pred, (_, row) in zip(preds, rows.iterrows()):
            cam = pred.cam_on_radiograph("positive") if pred.error is None else None
            boxes = true_sij_boxes(row, image_shape=cam.shape) if cam is not None else None
            if cam is None or not boxes:
                scores.append((float("nan"),) * 3)
                continue
            region = pred.images.crop_box if view == "sij" and pred.images is not None else None
            s = cam_share(cam, boxes, region=region)
            scores.append((s.share, s.chance, s.chance_in_region))
        table[f"{model}_share"] = [s[0] for s in scores]
        table[f"{model}_chance"] = [s[1] for s in scores]
        table[f"{model}_chance_region"] = [s[2] for s in scores]
    return table


def difference_text(result: dict[str, Any]) -> str:
    """'set: mean (lo, hi); ...' of the paired anatomy-aware minus standard difference in mean share."""
    from sijscan.evaluate.grades import as_ci, as_number  # lazy: pandas

    parts = []
    for name, block in result.items():
        d = block["difference_anatomy_minus_standard"]
        parts.append(f"{name}: {fmt_ci(as_number(d['mean']), as_ci(d['mean_ci']))} (n={d['n']})")
    return "; ".join(parts)


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    """Report rows (:data:`HEADERS`) from :func:`cam_shares`' result."""
    from sijscan.evaluate.grades import as_ci, as_number  # lazy: pandas

    titles = {"standard": "standard", "anatomy": "anatomy-aware"}
    out = []
    for name, block in result.items():
        for model, s in block["models"].items():
            notes = [f"{s[k]} {label}" for k, label in (("n_zero_cam", "all-zero CAM"), ("n_no_cam", "without CAM"))
                     if s.get(k)]
            n = f"{s['n']}" + (f" ({', '.join(notes)})" if notes else "")
            out.append([name, titles.get(model, model), n, fmt_ci(as_number(s["mean"]), as_ci(s["mean_ci"])),
                        fmt_ci(as_number(s["median"]), as_ci(s["median_ci"])), fmt(as_number(s["chance_image"])),
                        fmt(as_number(s["chance_region"])) if model == "anatomy" else "-"])
    return out
