"""The predict stage: both models (and the anatomy-aware model's other seeds) on every evaluation set,
Grad-CAM examples, and the Grad-CAM scores behind "where the models look" (the evaluate stage summarises)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sijscan.devices import study_device
from sijscan.errors import SijscanError
from sijscan.evaluate.predictions import qc_withheld_rows
from sijscan.io.manifest import read_manifest, write_manifest
from sijscan.predict.overlay import OVERLAY_LONGEST, cam_overlay, write_png_atomic
from sijscan.study.context import StageContext
from sijscan.study.names import MODELS, VAL_SUFFIX
from sijscan.study.outputs import GradcamExample, PredictCounts, PredictOutput, SeedPredictions
from sijscan.study.predicting import StagePipelines, predict_with_bar
from sijscan.study.seeds import predict_other_seeds
from sijscan.study.where_models_look import score_sets

log = logging.getLogger(__name__)


def eval_sets(ctx: StageContext) -> dict[str, Path]:
    """Evaluation set name -> manifest: the training cohort's validation rows, then each test cohort."""
    cfg = ctx.config
    out_dir = ctx.stage_dir / "manifests"
    out_dir.mkdir(parents=True, exist_ok=True)
    sets: dict[str, Path] = {}
    train = cfg.train_cohort
    for c in (train, *cfg.test_cohorts):
        made = ctx.cohorts.entries[c.name]
        if made.manifest is None:  # a CT-route cohort whose CTs are absent
            continue
        df = read_manifest(made.manifest)
        name = c.name
        if c.role == "train":
            df = df[df["split"] == "val"].reset_index(drop=True)
            name = c.name + VAL_SUFFIX
        df["cohort"] = name
        sets[name] = write_manifest(df, out_dir / f"{name}.csv")
    return sets


def _prediction_rows(preds: list[Any]) -> list[dict[str, Any]]:
    """One row per prediction; ``grade_left``/``grade_right`` (patient's sides) when the model has a grade head."""
    rows = []
    for p in preds:
        row = {"image": p.image, "probability": p.probability, "probability_calibrated": p.probability_calibrated,
               "decision": p.decision, "cutoff": p.cutoff, "qc_passed": "" if p.error else str(bool(p.qc_passed)).lower(),
               "qc_flags": ";".join(p.qc_flags), "error": p.error or ""}
        if any(q.grades for q in preds):
            grades = p.grades or {}
            row["grade_left"], row["grade_right"] = grades.get("left"), grades.get("right")
        rows.append(row)
    return rows


def run_predict(ctx: StageContext) -> PredictOutput:
    import pandas as pd

    from sijscan.classify.predict import load_classifier  # lazy: torch

    cfg = ctx.config
    sets = eval_sets(ctx)
    pipes = StagePipelines(ctx)
    raw: dict[str, dict[str, pd.DataFrame]] = {}
    first_seed = ctx.classifiers.anatomy.seed_key  # "ensemble": every single seed is one of the others
    device = study_device(cfg.study.device, for_="torch")
    seed_models = {s: load_classifier(path, device=device) for s, path in ctx.classifiers.anatomy_seeds.items()
                   if s != first_seed}  # loaded once for every set
    other_seeds: dict[str, dict[str, str]] = {s: {} for s in seed_models}
    for model in MODELS:
        pipe = pipes(model)
        raw[model] = {}
        for name, manifest in sets.items():
            images = [str(x) for x in read_manifest(manifest)["image"]]
            preds = predict_with_bar(pipe, images, batch_size=cfg.predict.batch_size,
                                      desc=f"predict {model} {name}", enabled=ctx.progress)
            df = pd.DataFrame(_prediction_rows(preds))
            df["decision"] = df["decision"].astype("Int64")
            (ctx.stage_dir / model).mkdir(parents=True, exist_ok=True)
            df.to_csv(ctx.stage_dir / model / f"{name}_all.csv", index=False)
            raw[model][name] = df
            if model == "anatomy" and other_seeds:
                for seed, path in predict_other_seeds(preds, models=seed_models, first=first_seed,
                                                      out_dir=ctx.stage_dir, set_name=name,
                                                      spec=pipe.classifier.spec).items():
                    other_seeds[seed][name] = path
    predictions: dict[str, dict[str, str]] = {m: {} for m in MODELS}
    combined: dict[str, str] = {}
    failed_counts: dict[str, PredictCounts] = {}
    for name in sets:
        ok = None
        for model in MODELS:
            good = set(raw[model][name].loc[raw[model][name]["probability"].notna(), "image"])
            ok = good if ok is None else ok & good
        failed = {m: int(raw[m][name]["probability"].isna().sum()) for m in MODELS}
        withheld = {f"{m}_qc_withheld": int(qc_withheld_rows(raw[m][name]).sum()) for m in MODELS}
        failed_counts[name] = PredictCounts(n=int(len(raw["standard"][name])), n_paired=len(ok or ()), **failed,
                                            **withheld)
        if failed["standard"] or failed["anatomy"]:
            log.warning("%s: %s images without a prediction; both models are compared on the %d with one",
                        name, failed, len(ok or ()))
        for model in MODELS:
            df = raw[model][name]
            path = ctx.stage_dir / model / f"{name}.csv"
            # no 'decision' column: QC withholds some decisions, and the statistics use probability >= cut-off;
            # 'qc_passed' stays: evaluate analyses every image and, beside it, those QC passed (QC_RULE)
            df[df["image"].isin(ok or set())].drop(columns=["decision"]).to_csv(path, index=False)
            predictions[model][name] = str(path)
    for model in MODELS:
        path = ctx.stage_dir / model / "all_sets.csv"
        pd.concat([pd.read_csv(p) for p in predictions[model].values()]).to_csv(path, index=False)
        combined[model] = str(path)
    return PredictOutput(sets={k: str(v) for k, v in sets.items()}, predictions=predictions, combined=combined,
                         failed=failed_counts, gradcam=_gradcam_examples(ctx, sets=sets, pipes=pipes),
                         anatomy_seeds=SeedPredictions(first=first_seed, other=other_seeds) if other_seeds else None,
                         camshare=score_sets(ctx, sets=sets, out_dir=ctx.stage_dir / "camshare", pipes=pipes) or None)


def _gradcam_examples(ctx: StageContext, *, sets: dict[str, Path], pipes: StagePipelines) -> list[GradcamExample]:
    """A few Grad-CAM overlays of both models on every evaluation set (positives first)."""
    k = ctx.config.predict.gradcam_examples
    if k == 0:
        return []
    out_dir = ctx.stage_dir / "gradcam"
    out_dir.mkdir(parents=True, exist_ok=True)
    examples: list[GradcamExample] = []
    for name, manifest in sets.items():
        examples += _gradcam_set(name=name, manifest=manifest, pipes=pipes, k=k, out_dir=out_dir)
    return examples


def _gradcam_set(*, name: str, manifest: Path, pipes: StagePipelines, k: int, out_dir: Path) -> list[GradcamExample]:
    df = read_manifest(manifest)
    df = df.sort_values("label", ascending=False, kind="stable")
    images = [str(x) for x in df["image"].head(k)]
    labels = [int(x) if x == x else None for x in df["label"].head(k)]
    examples: list[GradcamExample] = []
    for model in MODELS:
        try:
            preds = pipes(model).predict_many(images, batch_size=max(1, k), gradcam=True, names=images, on_error="record")
        except (SijscanError, RuntimeError, ValueError) as exc:
            log.warning("Grad-CAM examples of %s skipped: %s", model, exc)
            continue
        for i, (pred, label) in enumerate(zip(preds, labels)):
            cam = pred.cam_on_radiograph("positive") if pred.error is None else None
            if cam is None or pred.images is None:
                continue
            path = out_dir / f"{name}_{model}_{i:02d}.png"
            write_png_atomic(path, cam_overlay(pred.images.pixels, cam, longest=min(OVERLAY_LONGEST, 512)))
            examples.append(GradcamExample(set=name, model=model, image=pred.image, label=label,
                                           probability=pred.probability, png=str(path)))
    return examples
