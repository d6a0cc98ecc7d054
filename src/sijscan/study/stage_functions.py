"""What each stage does: thin calls into phantom / anatomy / classify / predict / evaluate.

Every function takes a :class:`~sijscan.study.context.StageContext`, writes under ``ctx.stage_dir``
and returns its outputs (JSON-able). Heavy imports stay inside the functions.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from sijscan.errors import InputError
from sijscan.devices import study_device
from sijscan.study.config import CTRouteSpec
from sijscan.study.context import StageContext
from sijscan.study.predicting import predict_with_bar

log = logging.getLogger(__name__)

MODELS = {"standard": "full", "anatomy": "sij"}
MODEL_TITLES = {"standard": "standard (whole radiograph)", "anatomy": "anatomy-aware (SIJ crop)"}
VAL_SUFFIX = "-val"


class StudyDataError(InputError):
    """A cohort or model given in the config cannot be used for the study."""


# --- cohorts ---------------------------------------------------------------------------------------


def _ensure_split(manifest: Path, *, seed: int, out: Path) -> Path:
    """The training manifest with ``split`` train/val (15% of the patients by seed when it has no 'val' rows;
    the same hold-out as ``train-classifier``: :func:`sijscan.classify.data.split_train_val`)."""
    from sijscan.classify.data import split_train_val
    from sijscan.io.manifest import read_manifest, write_manifest

    df = read_manifest(manifest, require=("label",))
    if "split" in df.columns and (df["split"] == "val").any() and (df["split"] == "train").any():
        return manifest
    train, val = split_train_val(df, seed=seed)
    on_val = df["image"].isin(set(val["image"]))
    df["split"] = ["val" if v else ("train" if s in (None, "", "train") else s) for v, s in zip(on_val, df["split"])]
    return write_manifest(df, out)


def run_cohorts(ctx: StageContext) -> dict[str, Any]:
    from sijscan.io.manifest import read_manifest

    cfg = ctx.config
    out: dict[str, Any] = {}
    for c in cfg.cohorts:
        if c.phantom is not None:
            from sijscan.phantom import simulate_cohort

            p = c.phantom
            manifest = Path(simulate_cohort(p.cohort, n=p.n, seed=p.seed, out_dir=ctx.stage_dir / c.name, size=p.size,
                                            fmt=p.format, followup=p.followup, workers=cfg.study.workers,
                                            overrides=dict(p.overrides), progress=ctx.progress))
        else:
            manifest = Path(str(c.manifest))
            read_manifest(manifest)  # fail early, naming bad rows
        if c.role == "train":
            manifest = _ensure_split(manifest, seed=cfg.study.seed, out=ctx.stage_dir / f"{c.name}-with-split.csv")
        df = read_manifest(manifest)
        out[c.name] = {"manifest": str(manifest), "role": c.role, "n": int(len(df)),
                       "source": "phantom" if c.phantom is not None else "manifest"}
    return out


# --- models ----------------------------------------------------------------------------------------


def _train_manifest(ctx: StageContext) -> str:
    return str(ctx.upstream["cohorts"][ctx.config.train_cohort.name]["manifest"])


def run_segmenter(ctx: StageContext) -> dict[str, Any]:
    from sijscan.modelfolder import read_card

    cfg = ctx.config
    if cfg.segmenter.model is not None:
        card = read_card(cfg.segmenter.model)
        if card.kind != "segmenter":
            raise StudyDataError(f"segmenter.model: {cfg.segmenter.model} is a {card.kind} model folder")
        return {"model": str(Path(cfg.segmenter.model).resolve()), "trained": False, "arch": card.arch}
    from sijscan.anatomy.train import TrainConfig, train_segmenter

    t = cfg.segmenter.train
    if t is None:  # the config reader guarantees model or train
        raise StudyDataError("segmenter: neither 'model' nor 'train' given")
    extra, ct_info = t.extra_manifest, None
    if t.ct_route is not None:
        extra, ct_info = _ct_route_renders(ctx, t.ct_route)
    tc = TrainConfig(arch=t.arch, epochs=t.epochs, batch_size=t.batch_size, size=t.size, lr=t.lr,
                     devices=t.devices, accelerator=study_device(cfg.study.device, for_="lightning"), max_images=t.max_images,
                     seed=cfg.study.seed, augment=t.augment, extra_manifest=extra,
                     extra_weight=t.extra_weight, progress=ctx.progress)
    folder = train_segmenter(manifest=_train_manifest(ctx), out_dir=ctx.stage_dir / "model", config=tc)
    card = read_card(folder)
    out = {"model": str(Path(folder).resolve()), "trained": True, "arch": t.arch, "augment": t.augment,
           "val_dice": card.provenance.get("val_dice")}
    if ct_info is not None:
        out["ct_route"] = ct_info
    return out


def _ct_route_renders(ctx: StageContext, spec: CTRouteSpec) -> tuple[str | None, dict[str, Any]]:
    """Render ``spec.n`` CT-route radiographs per CT case into the stage folder; (manifest or None, facts)."""
    from sijscan.phantom.ct import render_ct_cohort

    present = [c for c in spec.cases if Path(c).is_dir()]
    missing = [c for c in spec.cases if c not in present]
    if missing and spec.if_missing == "error":
        raise StudyDataError(f"segmenter.train.ct_route: CT case folder not found: {missing[0]}")
    for c in missing:
        log.warning("segmenter.train.ct_route: %s not found; training without it (if_missing: skip)", c)
    info: dict[str, Any] = {"cases": [str(Path(c).resolve()) for c in present], "skipped": missing,
                            "n_per_case": spec.n, "size": spec.size}
    if not present:
        info["n_images"] = 0
        return None, info
    manifest = render_ct_cohort(present, ctx.stage_dir / "ct-route", n=spec.n, size=spec.size,
                                seed=ctx.config.study.seed, profile=None, split="train")
    info["n_images"] = spec.n * len(present)
    info["manifest"] = str(manifest)
    return str(manifest), info


def run_classifiers(ctx: StageContext) -> dict[str, Any]:
    from sijscan.classify.recipe import get_recipe
    from sijscan.classify.train import train_classifier
    from sijscan.modelfolder import read_card

    cfg = ctx.config
    c = cfg.classifiers
    recipe = get_recipe(c.recipe, arch=c.arch)
    if c.epochs is not None:
        # phases the recipe leaves out (0 epochs) stay out
        stages = tuple(dataclasses.replace(st, head_epochs=c.epochs if st.head_epochs else 0,
                                           all_epochs=c.epochs if st.all_epochs else 0) for st in recipe.stages)
        recipe = dataclasses.replace(recipe, stages=stages)
    out: dict[str, Any] = {"recipe": recipe.name, "arch": recipe.arch}
    for name, view in MODELS.items():
        folder = train_classifier(
            manifest=_train_manifest(ctx), view=view, out_dir=ctx.stage_dir / name, recipe=recipe,
            segmenter=ctx.upstream["segmenter"]["model"] if view == "sij" else None, devices=c.devices,
            num_nodes=c.num_nodes, accelerator=study_device(cfg.study.device, for_="lightning"), init=c.init,
            init_weights=c.init_weights, seed=cfg.study.seed, max_images=c.max_images, progress=ctx.progress,
        )
        card = read_card(folder)
        verdict = getattr(card, "provenance", {}).get("verdict") or {}
        out[name] = {"model": str(Path(folder).resolve()), "view": view, "cutoff": card.cutoff,
                     "warnings": [f"{k}: {v}" for k, v in verdict.get("flags", {}).items()],
                     "degenerate": bool(verdict.get("degenerate"))}
    return out


# --- predictions -----------------------------------------------------------------------------------


def eval_sets(ctx: StageContext) -> dict[str, Path]:
    """Evaluation set name -> manifest: the training cohort's validation rows, then each test cohort."""
    from sijscan.io.manifest import read_manifest, write_manifest

    cfg = ctx.config
    out_dir = ctx.stage_dir / "manifests"
    out_dir.mkdir(parents=True, exist_ok=True)
    sets: dict[str, Path] = {}
    train = cfg.train_cohort
    for c in (train, *cfg.test_cohorts):
        df = read_manifest(ctx.upstream["cohorts"][c.name]["manifest"])
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
               "decision": p.decision, "cutoff": p.cutoff, "qc_flags": ";".join(p.qc_flags), "error": p.error or ""}
        if any(q.grades for q in preds):
            grades = p.grades or {}
            row["grade_left"], row["grade_right"] = grades.get("left"), grades.get("right")
        rows.append(row)
    return rows


def run_predict(ctx: StageContext) -> dict[str, Any]:
    import pandas as pd

    from sijscan.io.manifest import read_manifest
    from sijscan.predict.pipeline import Pipeline

    cfg = ctx.config
    seg = ctx.upstream["segmenter"]["model"]
    sets = eval_sets(ctx)
    raw: dict[str, dict[str, pd.DataFrame]] = {}
    for model in MODELS:
        pipe = Pipeline.from_dirs(classifier=ctx.upstream["classifiers"][model]["model"],
                                  segmenter=seg if MODELS[model] == "sij" else None, device=study_device(cfg.study.device, for_="torch"))
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
    out: dict[str, Any] = {"sets": {k: str(v) for k, v in sets.items()}, "predictions": {m: {} for m in MODELS},
                           "combined": {}, "failed": {}}
    for name in sets:
        ok = None
        for model in MODELS:
            good = set(raw[model][name].loc[raw[model][name]["probability"].notna(), "image"])
            ok = good if ok is None else ok & good
        failed = {m: int(raw[m][name]["probability"].isna().sum()) for m in MODELS}
        withheld = {f"{m}_qc_withheld": int((raw[m][name]["probability"].notna() & raw[m][name]["decision"].isna()).sum())
                    for m in MODELS}
        out["failed"][name] = {"n": int(len(raw["standard"][name])), "n_paired": len(ok or ()), **failed, **withheld}
        if failed["standard"] or failed["anatomy"]:
            log.warning("%s: %s images without a prediction; both models are compared on the %d with one",
                        name, failed, len(ok or ()))
        for model in MODELS:
            df = raw[model][name]
            path = ctx.stage_dir / model / f"{name}.csv"
            # no 'decision' column: QC withholds some decisions, and the statistics use probability >= cut-off
            df[df["image"].isin(ok or set())].drop(columns=["decision"]).to_csv(path, index=False)
            out["predictions"][model][name] = str(path)
    for model in MODELS:
        path = ctx.stage_dir / model / "all_sets.csv"
        pd.concat([pd.read_csv(p) for p in out["predictions"][model].values()]).to_csv(path, index=False)
        out["combined"][model] = str(path)
    out["gradcam"] = _gradcam_examples(ctx, sets=sets, seg=seg)
    return out


def _gradcam_examples(ctx: StageContext, *, sets: dict[str, Path], seg: str) -> list[dict[str, Any]]:
    """A few Grad-CAM overlays of both models on every evaluation set (positives first)."""
    k = ctx.config.predict.gradcam_examples
    if k == 0:
        return []
    out_dir = ctx.stage_dir / "gradcam"
    out_dir.mkdir(parents=True, exist_ok=True)
    examples: list[dict[str, Any]] = []
    for name, manifest in sets.items():
        examples += _gradcam_set(ctx, name=name, manifest=manifest, seg=seg, k=k, out_dir=out_dir)
    return examples


def _gradcam_set(ctx: StageContext, *, name: str, manifest: Path, seg: str, k: int,
                 out_dir: Path) -> list[dict[str, Any]]:
    from sijscan.errors import SijscanError
    from sijscan.io.manifest import read_manifest
    from sijscan.predict.overlay import OVERLAY_LONGEST, cam_overlay, write_png_atomic
    from sijscan.predict.pipeline import Pipeline

    df = read_manifest(manifest)
    df = df.sort_values("label", ascending=False, kind="stable")
    images = [str(x) for x in df["image"].head(k)]
    labels = [int(x) if x == x else None for x in df["label"].head(k)]
    examples: list[dict[str, Any]] = []
    for model in MODELS:
        try:
            pipe = Pipeline.from_dirs(classifier=ctx.upstream["classifiers"][model]["model"],
                                      segmenter=seg if MODELS[model] == "sij" else None,
                                      device=study_device(ctx.config.study.device, for_="torch"))
            preds = pipe.predict_many(images, batch_size=max(1, k), gradcam=True, names=images, on_error="record")
        except (SijscanError, RuntimeError, ValueError) as exc:
            log.warning("Grad-CAM examples of %s skipped: %s", model, exc)
            continue
        for i, (pred, label) in enumerate(zip(preds, labels)):
            cam = pred.cam_on_radiograph("positive") if pred.error is None else None
            if cam is None or pred.images is None:
                continue
            path = out_dir / f"{name}_{model}_{i:02d}.png"
            write_png_atomic(path, cam_overlay(pred.images.pixels, cam, longest=min(OVERLAY_LONGEST, 512)))
            examples.append({"set": name, "model": model, "image": pred.image, "label": label,
                             "probability": pred.probability, "png": str(path)})
    return examples


# --- statistics ------------------------------------------------------------------------------------


def run_evaluate(ctx: StageContext) -> dict[str, Any]:
    from sijscan.evaluate.api import evaluate_predictions

    cfg = ctx.config
    pred = ctx.upstream["predict"]
    out: dict[str, Any] = {}
    grades: dict[str, Any] = {m: {} for m in MODELS}
    from sijscan._progress import progress_bar

    bar = progress_bar(total=len(MODELS) * len(pred["sets"]), desc="evaluate (bootstrap CIs)", enabled=ctx.progress,
                       unit="set")
    for model in MODELS:
        out[model] = {}
        for name, manifest in pred["sets"].items():
            d = ctx.stage_dir / model / name
            res = evaluate_predictions(predictions=pred["predictions"][model][name], manifest=manifest,
                                       model_dir=_model_dir(ctx, model), n_bootstrap=cfg.evaluate.n_bootstrap,
                                       seed=cfg.study.seed, out_dir=d)
            out[model][name] = {"dir": str(d), "auc": res.get("auc"), "auc_ci": res.get("auc_ci"),
                                "roc": str(d / "roc.png")}
            grades[model][name] = res.get("grades") or {"available": False, "reason": "not computed"}
            bar.update(1)
    bar.close()
    from sijscan.evaluate.report import strict

    out["grades"] = strict(grades)
    out["camshare"] = strict(_camshare(ctx))
    return out


def _camshare(ctx: StageContext) -> dict[str, Any]:
    """Grad-CAM share inside the true SIJ boxes (see :mod:`sijscan.study.cam_share`); written as JSON too."""
    from sijscan.evaluate.report import write_json
    from sijscan.study.cam_share import cam_shares

    res = cam_shares(ctx, out_dir=ctx.stage_dir / "camshare")
    if res:
        write_json(ctx.stage_dir / "camshare" / "camshare.json", res)
    return res


def _model_dir(ctx: StageContext, model: str) -> str:
    """The model folder (its card holds the validation cut-off); predict's key already covers it."""
    return str(ctx.upstream["classifiers"][model]["model"])


def run_compare(ctx: StageContext) -> dict[str, Any]:
    from sijscan.evaluate.comparison import compare_models, table2_rows

    cfg = ctx.config
    pred = ctx.upstream["predict"]
    res = compare_models(predictions_a=pred["combined"]["standard"], predictions_b=pred["combined"]["anatomy"],
                         manifests=list(pred["sets"].values()), name_a=MODEL_TITLES["standard"],
                         name_b=MODEL_TITLES["anatomy"], model_a=_model_dir(ctx, "standard"),
                         model_b=_model_dir(ctx, "anatomy"), n_bootstrap=cfg.evaluate.n_bootstrap,
                         seed=cfg.study.seed, out_dir=ctx.stage_dir, progress=ctx.progress)
    summary = {c: {"n": b["n"], "auc_standard": b["auc_a"], "auc_anatomy": b["auc_b"], "delong_p": b["delong_p"],
                   "auc_difference_ci": b["auc_difference_ci"], "mcnemar_p": b["mcnemar_p"]}
               for c, b in res["cohorts"].items()}
    return {"comparison": str(ctx.stage_dir / "comparison.json"), "table2_md": str(ctx.stage_dir / "table2.md"),
            "dir": str(ctx.stage_dir), "summary": summary, "table2_rows": table2_rows(res),
            "warnings": list(res.get("warnings", []))}


def run_progression(ctx: StageContext) -> dict[str, Any]:
    from sijscan.evaluate.followup import progression_report, progression_rows
    from sijscan.io.manifest import read_manifest

    cfg = ctx.config
    pred = ctx.upstream["predict"]
    out: dict[str, Any] = {}
    for name, manifest in pred["sets"].items():
        df = read_manifest(manifest, check_files=False)
        if "followup_label" not in df.columns or not df["followup_label"].notna().any():
            continue
        d = ctx.stage_dir / name
        res = progression_report(predictions=pred["predictions"]["standard"][name],
                                 predictions_b=pred["predictions"]["anatomy"][name], manifest=manifest,
                                 confident=cfg.evaluate.confident, name_a=MODEL_TITLES["standard"],
                                 name_b=MODEL_TITLES["anatomy"], model_a=_model_dir(ctx, "standard"),
                                 model_b=_model_dir(ctx, "anatomy"), n_bootstrap=cfg.evaluate.progression_bootstrap,
                                 seed=cfg.study.seed, out_dir=d)
        out[name] = {"dir": str(d), "json": str(d / "progression.json"), "rows": progression_rows(res),
                     "confident": cfg.evaluate.confident,
                     "paper_ratio": {"standard": res.get("paper_ratio"), "anatomy": res.get("b", {}).get("paper_ratio")},
                     "paper_ratio_ci": {"standard": res.get("paper_ratio_ci"),
                                        "anatomy": res.get("b", {}).get("paper_ratio_ci")},
                     "paper_ratio_reason": {"standard": res.get("paper_ratio_reason"),
                                            "anatomy": res.get("b", {}).get("paper_ratio_reason")}}
    return out


def run_report(ctx: StageContext) -> dict[str, Any]:
    from sijscan.study.report import write_report

    return write_report(ctx)
