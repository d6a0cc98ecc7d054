"""What each stage does: thin calls into phantom / anatomy / classify / predict / evaluate.

Every function takes a :class:`~sijscan.study.context.StageContext`, reads its declared upstream
stages' outputs as typed attributes (``ctx.cohorts``, ``ctx.predict``), writes under ``ctx.stage_dir``
and returns its stage's dataclass (:mod:`sijscan.study.outputs`). Heavy imports stay inside the functions.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import sijscan.classify.ensemble as ensemble
from sijscan._progress import progress_bar
from sijscan.devices import study_device
from sijscan.evaluate.report import strict, write_json
from sijscan.modelfolder import read_card
from sijscan.phantom import simulate_cohort
from sijscan.study.context import StageContext, StudyDataError
from sijscan.study.ct_renders import render_ct_set
from sijscan.study.names import MODEL_TITLES, MODELS
from sijscan.study.outputs import (ClassifierModel, ClassifiersOutput, Cohort, CohortsOutput, Comparison, CompareOutput,
                                   CTRenders, EvaluateOutput, Progression, ProgressionOutput, ReportOutput,
                                   SegmenterOutput, SetMetrics)
from sijscan.study.report import write_report
from sijscan.study.seeds import seed_aucs
from sijscan.study.where_models_look import cam_shares

log = logging.getLogger(__name__)



# --- cohorts ---------------------------------------------------------------------------------------


def _ensure_split(manifest: Path, *, seed: int, out: Path) -> Path:
    """The training manifest with ``split`` train/val (15% of the patients by seed when it has no 'val' rows;
    the same hold-out as ``train-classifier``: :func:`sijscan.classify.data.split_train_val`)."""
    from sijscan.classify.data import split_train_val  # lazy: pandas, torch
    from sijscan.io.manifest import read_manifest, write_manifest  # lazy: pandas

    df = read_manifest(manifest, require=("label",))
    if "split" in df.columns and (df["split"] == "val").any() and (df["split"] == "train").any():
        return manifest
    train, val = split_train_val(df, seed=seed)
    on_val = df["image"].isin(set(val["image"]))
    df["split"] = ["val" if v else ("train" if s in (None, "", "train") else s) for v, s in zip(on_val, df["split"])]
    return write_manifest(df, out)


def run_cohorts(ctx: StageContext) -> CohortsOutput:
    from sijscan.io.manifest import read_manifest  # lazy: pandas

    cfg = ctx.config
    out: dict[str, Cohort] = {}
    for c in cfg.cohorts:
        if c.ct is not None:
            ct_manifest, info = render_ct_set(c.ct, out=ctx.stage_dir / c.name, seed=cfg.study.seed, use="cohort",
                                              split="test", where=f"cohorts.{c.name}.ct", cohort=c.name,
                                              workers=cfg.study.workers)
            if ct_manifest is None:  # if_missing: skip, and none of its CTs is here
                out[c.name] = Cohort(manifest=None, role=c.role, n=0, source="ct", skipped=info["skipped"])
                continue
            manifest = Path(ct_manifest)
        elif c.phantom is not None:
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
        source = "ct" if c.ct is not None else "phantom" if c.phantom is not None else "manifest"
        out[c.name] = Cohort(manifest=str(manifest), role=c.role, n=int(len(df)), source=source)
    return CohortsOutput(entries=out)


# --- models ----------------------------------------------------------------------------------------


def _train_manifest(ctx: StageContext) -> str:
    return str(ctx.cohorts.entries[ctx.config.train_cohort.name].manifest)


def run_segmenter(ctx: StageContext) -> SegmenterOutput:
    cfg = ctx.config
    if cfg.segmenter.model is not None:
        card = read_card(cfg.segmenter.model)
        if card.kind != "segmenter":
            raise StudyDataError(f"segmenter.model: {cfg.segmenter.model} is a {card.kind} model folder")
        return SegmenterOutput(model=str(Path(cfg.segmenter.model).resolve()), trained=False, arch=card.arch)
    from sijscan.anatomy.train import TrainConfig, train_segmenter  # lazy: lightning, torch

    t = cfg.segmenter.train
    if t is None:  # the config reader guarantees model or train
        raise StudyDataError("segmenter: neither 'model' nor 'train' given")
    extra, ct_info = t.extra_manifest, None
    if t.ct_route is not None:
        extra, ct_info = render_ct_set(t.ct_route, out=ctx.stage_dir / "ct-route", seed=cfg.study.seed,
                                       use="segmenter", split="train", where="segmenter.train.ct_route",
                                       workers=cfg.study.workers)
    tc = TrainConfig(arch=t.arch, epochs=t.epochs, batch_size=t.batch_size, size=t.size, lr=t.lr,
                     devices=t.devices, accelerator=study_device(cfg.study.device, for_="lightning"), max_images=t.max_images,
                     seed=cfg.study.seed, augment=t.augment, extra_manifest=extra,
                     extra_weight=t.extra_weight, progress=ctx.progress, precision=cfg.study.precision,
                     visible_only=t.visible_only, border=t.border)
    folder = train_segmenter(manifest=_train_manifest(ctx), out_dir=ctx.stage_dir / "model", config=tc)
    card = read_card(folder)
    return SegmenterOutput(model=str(Path(folder).resolve()), trained=True, arch=t.arch, augment=t.augment,
                           val_dice=card.provenance.get("val_dice"),
                           ct_route=CTRenders.from_json(ct_info) if ct_info is not None else None)


def _classifier_recipe(c: Any) -> Any:
    from sijscan.classify.recipe import get_recipe, with_augment  # lazy: torch

    recipe = get_recipe(c.recipe, arch=c.arch)
    if c.epochs is not None:
        # phases the recipe leaves out (0 epochs) stay out
        stages = tuple(dataclasses.replace(st, head_epochs=c.epochs if st.head_epochs else 0,
                                           all_epochs=c.epochs if st.all_epochs else 0) for st in recipe.stages)
        recipe = dataclasses.replace(recipe, stages=stages)
    recipe = with_augment(recipe, appearance=c.appearance, elastic=c.elastic, tile_mix=c.joint_mix,
                          processing=c.processing)
    recipe = dataclasses.replace(recipe, grade_pool=c.grade_pool)
    return dataclasses.replace(recipe, domain_weight=c.anatomy_adversarial) if c.anatomy_adversarial else recipe


def run_classifiers(ctx: StageContext) -> ClassifiersOutput:
    """Both views; the anatomy-aware one once per ``classifiers.seeds`` (the first is THE model), or with
    ``classifiers.ensemble`` both views once per seed, the study's models being their seeds' ensembles."""
    from sijscan.classify.train import train_classifier  # lazy: lightning, pandas, torch, torchvision

    cfg = ctx.config
    c = cfg.classifiers
    recipe = _classifier_recipe(c)
    extra, ct_info = None, None
    if c.ct_route is not None:
        extra, ct_info = render_ct_set(c.ct_route, out=ctx.stage_dir / "ct-route", seed=cfg.study.seed,
                                       use="classifiers", split="train", where="classifiers.ct_route",
                                       workers=cfg.study.workers)
    seeds = list(c.seeds or (cfg.study.seed,))

    def train(view: str, folder: Path, seed: int) -> Path:
        return Path(train_classifier(
            manifest=_train_manifest(ctx), view=view, out_dir=folder, recipe=recipe,
            segmenter=ctx.segmenter.model if view == "sij" else None, devices=c.devices,
            num_nodes=c.num_nodes, accelerator=study_device(cfg.study.device, for_="lightning"), init=c.init,
            init_weights=c.init_weights, seed=seed, max_images=c.max_images, progress=ctx.progress,
            extra_manifest=extra, extra_weight=c.extra_weight, crop=c.crop if view == "sij" else "box",
            split_seed=seeds[0],  # every seed validates on the same patients (an ensemble's cut-off needs it)
            cache_dir=ctx.stage_dir / "preprocessed",  # one cache for every model: each image is cut once
            precision=cfg.study.precision))

    def entry(folder: Path, view: str, seed: int, ensemble: tuple[int, ...] | None = None) -> ClassifierModel:
        card = read_card(folder)
        verdict = getattr(card, "provenance", {}).get("verdict") or {}
        return ClassifierModel(model=str(folder.resolve()), view=view, cutoff=card.cutoff, seed=seed,
                               warnings=[f"{k}: {v}" for k, v in verdict.get("flags", {}).items()],
                               degenerate=bool(verdict.get("degenerate")), ensemble_seeds=ensemble)

    models = {name: entry(train(view, ctx.stage_dir / name, seeds[0]), view, seeds[0]) for name, view in MODELS.items()}
    anatomy_seeds = {str(seeds[0]): models["anatomy"].model}
    for seed in seeds[1:]:
        folder = train("sij", ctx.stage_dir / f"anatomy-seed{seed}", seed)
        anatomy_seeds[str(seed)] = str(folder.resolve())
    if c.ensemble:
        models = {name: _ensemble(ctx, name=name, view=view, first=Path(models[name].model), seeds=seeds,
                                  train=train, extra=extra, entry=entry) for name, view in MODELS.items()}
    return ClassifiersOutput(recipe=recipe.name, arch=recipe.arch, crop=c.crop, augment=recipe.augment.to_json(),
                             standard=models["standard"], anatomy=models["anatomy"], anatomy_seeds=anatomy_seeds,
                             ct_route=CTRenders.from_json(ct_info) if ct_info is not None else None)


def _ensemble(ctx: StageContext, *, name: str, view: str, first: Path, seeds: list[int], train: Any,
              extra: Path | None, entry: Any) -> ClassifierModel:
    """The study model ``name`` as the ensemble of its seeds (the anatomy-aware seeds are already trained)."""
    members = [first]
    for seed in seeds[1:]:
        folder = ctx.stage_dir / f"{name}-seed{seed}"
        members.append(folder if (folder / "model.json").is_file() else Path(train(view, folder, seed)))
    out = ensemble.build_ensemble(members, ctx.stage_dir / f"{name}-ensemble", manifest=_train_manifest(ctx),
                         segmenter=ctx.segmenter.model if view == "sij" else None, extra_manifest=extra,
                         split_seed=seeds[0], max_images=ctx.config.classifiers.max_images,
                         cache_dir=ctx.stage_dir / "preprocessed")
    return entry(Path(out), view, seeds[0], tuple(seeds))


# --- statistics ------------------------------------------------------------------------------------


def run_evaluate(ctx: StageContext) -> EvaluateOutput:
    from sijscan.evaluate.api import evaluate_predictions  # lazy: pandas

    cfg = ctx.config
    pred = ctx.predict
    out: dict[str, dict[str, SetMetrics]] = {}
    grades: dict[str, Any] = {m: {} for m in MODELS}

    bar = progress_bar(total=len(MODELS) * len(pred.sets), desc="evaluate (bootstrap CIs)", enabled=ctx.progress,
                       unit="set")
    for model in MODELS:
        out[model] = {}
        for name, manifest in pred.sets.items():
            d = ctx.stage_dir / model / name
            res = evaluate_predictions(predictions=pred.predictions[model][name], manifest=manifest,
                                       model_dir=_model_dir(ctx, model), n_bootstrap=cfg.evaluate.n_bootstrap,
                                       seed=cfg.study.seed, out_dir=d)
            q = res["qc_excluded"]
            out[model][name] = SetMetrics(dir=str(d), auc=res.get("auc"), auc_ci=res.get("auc_ci"), roc=str(d / "roc.png"),
                                          qc_excluded=strict({"n": q["n"], "n_qc_withheld_excluded": q["n_qc_withheld_excluded"],
                                                              "auc": q.get("auc"), "auc_ci": q.get("auc_ci")}))
            grades[model][name] = res.get("grades") or {"available": False, "reason": "not computed"}
            bar.update(1)
    bar.close()

    seeds = pred.anatomy_seeds
    seed_auc = strict(seed_aucs(first_predictions=pred.predictions["anatomy"], other=seeds.other, sets=pred.sets,
                                first=seeds.first)) if seeds else None
    return EvaluateOutput(standard=out["standard"], anatomy=out["anatomy"], grades=strict(grades),
                          camshare=strict(_camshare(ctx)), anatomy_seed_auc=seed_auc)


def _camshare(ctx: StageContext) -> dict[str, Any]:
    """Grad-CAM share inside the true SIJ boxes (see :mod:`sijscan.study.where_models_look`); written as JSON too."""
    res = cam_shares(ctx.predict.camshare or {}, n_bootstrap=ctx.config.evaluate.n_bootstrap, seed=ctx.config.study.seed)
    if res:
        (ctx.stage_dir / "camshare").mkdir(parents=True, exist_ok=True)
        write_json(ctx.stage_dir / "camshare" / "camshare.json", res)
    return res


def _model_dir(ctx: StageContext, model: str) -> str:
    """The model folder (its card holds the validation cut-off); predict's key already covers it."""
    return ctx.classifiers.model(model).model


def run_compare(ctx: StageContext) -> CompareOutput:
    from sijscan.evaluate.comparison import compare_models, table2_rows  # lazy: pandas

    cfg = ctx.config
    pred = ctx.predict
    res = compare_models(predictions_a=pred.combined["standard"], predictions_b=pred.combined["anatomy"],
                         manifests=list(pred.sets.values()), name_a=MODEL_TITLES["standard"],
                         name_b=MODEL_TITLES["anatomy"], model_a=_model_dir(ctx, "standard"),
                         model_b=_model_dir(ctx, "anatomy"), n_bootstrap=cfg.evaluate.n_bootstrap,
                         seed=cfg.study.seed, out_dir=ctx.stage_dir, progress=ctx.progress)
    summary = {c: Comparison(n=b["n"], auc_standard=b["auc_a"], auc_anatomy=b["auc_b"], delong_p=b["delong_p"],
                             auc_difference_ci=b["auc_difference_ci"], mcnemar_p=b["mcnemar_p"])
               for c, b in res["cohorts"].items()}
    return CompareOutput(comparison=str(ctx.stage_dir / "comparison.json"), table2_md=str(ctx.stage_dir / "table2.md"),
                         dir=str(ctx.stage_dir), summary=summary, table2_rows=table2_rows(res),
                         warnings=list(res.get("warnings", [])))


def run_progression(ctx: StageContext) -> ProgressionOutput:
    from sijscan.evaluate.followup import progression_report, progression_rows  # lazy: pandas
    from sijscan.io.manifest import read_manifest  # lazy: pandas

    cfg = ctx.config
    pred = ctx.predict
    out: dict[str, Progression] = {}
    for name, manifest in pred.sets.items():
        df = read_manifest(manifest, check_files=False)
        if "followup_label" not in df.columns or not df["followup_label"].notna().any():
            continue
        d = ctx.stage_dir / name
        res = progression_report(predictions=pred.predictions["standard"][name],
                                 predictions_b=pred.predictions["anatomy"][name], manifest=manifest,
                                 confident=cfg.evaluate.confident, name_a=MODEL_TITLES["standard"],
                                 name_b=MODEL_TITLES["anatomy"], model_a=_model_dir(ctx, "standard"),
                                 model_b=_model_dir(ctx, "anatomy"), n_bootstrap=cfg.evaluate.progression_bootstrap,
                                 seed=cfg.study.seed, out_dir=d)
        out[name] = Progression(
            dir=str(d), json=str(d / "progression.json"), rows=progression_rows(res), confident=cfg.evaluate.confident,
            paper_ratio={"standard": res.get("paper_ratio"), "anatomy": res.get("b", {}).get("paper_ratio")},
            paper_ratio_ci={"standard": res.get("paper_ratio_ci"), "anatomy": res.get("b", {}).get("paper_ratio_ci")},
            paper_ratio_reason={"standard": res.get("paper_ratio_reason"),
                                "anatomy": res.get("b", {}).get("paper_ratio_reason")})
    return ProgressionOutput(entries=out)


def run_report(ctx: StageContext) -> ReportOutput:
    return write_report(ctx)
