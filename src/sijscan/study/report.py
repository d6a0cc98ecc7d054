"""The study report (HTML + Markdown), figure first: summary figure, findings, tables, panels, provenance.

Sections: the summary figure (``summary.png``: per evaluation set both models' AUC with 95% CIs and
their difference as a forest plot), Findings (one line per cohort: AUC of both models with DeLong p;
the progression ratio), Table 1 (cohorts), Table 2 (comparison), ROC curves and Grad-CAM examples
per evaluation set side by side, Where the models look (Grad-CAM share inside the true SIJ boxes,
with ``where_models_look.json``), Grade head (per-side agreement, with ``grade_agreement.json``),
Progression, Provenance.
"""
from __future__ import annotations

import json
import logging
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

from sijscan import jsonio
from sijscan.evaluate.figures import ForestRow, auc_forest_figure
from sijscan.evaluate.report import Report, fmt_p, write_json
from sijscan.modelfolder import git_commit
from sijscan.study.context import StageContext
from sijscan.study.outputs import Comparison, ReportOutput, SegmenterOutput
from sijscan.study.report_grades import fmt as _fmt, grades_section, seeds_section
from sijscan.study import where_models_look
from sijscan.study.stages import STAGE_NAMES

log = logging.getLogger(__name__)

TABLE1_HEADERS = ["Cohort", "Role", "n", "% positive (mNY)", "Female", "Age, mean (SD)",
                  "Max grade 0/1/2/3/4 (%)", "Acquisition", "Follow-up images"]
SUMMARY_PNG = "summary.png"
MODEL_NAMES = {"standard": "standard", "anatomy": "anatomy-aware"}
PACKAGES = ("torch", "torchvision", "monai", "lightning", "numpy", "scipy", "pandas", "scikit-learn",
            "scikit-image", "statsmodels", "opencv-python-headless", "pydicom", "matplotlib")


def _pct(k: float, n: float) -> str:
    return "n/a" if not n else f"{100.0 * k / n:.1f}%"


def table1_row(name: str, role: str, df: Any) -> list[str]:
    """One Table-1 row from a manifest table (columns missing from real manifests show 'n/a')."""
    import pandas as pd

    n = len(df)
    lab = pd.to_numeric(df["label"], errors="coerce") if "label" in df.columns else pd.Series(dtype=float)
    pos = _pct(float(lab.sum()), float(lab.notna().sum())) if lab.notna().any() else "n/a"
    sex = df["sex"].astype(str).str.upper() if "sex" in df.columns else None
    female = _pct(float((sex == "F").sum()), float(sex.isin(["F", "M"]).sum())) if sex is not None else "n/a"
    age = pd.to_numeric(df["age"], errors="coerce") if "age" in df.columns else pd.Series(dtype=float)
    age_s = f"{age.mean():.1f} ({age.std():.1f})" if age.notna().sum() > 1 else "n/a"
    grades = "n/a"
    if {"grade_left", "grade_right"} <= set(df.columns):
        g = pd.concat([pd.to_numeric(df["grade_left"], errors="coerce"),
                       pd.to_numeric(df["grade_right"], errors="coerce")], axis=1).max(axis=1).dropna()
        if len(g):
            grades = "/".join(f"{100.0 * (g == k).sum() / len(g):.0f}" for k in range(5))
    acq = []
    if "site" in df.columns and df["site"].notna().any():
        acq.append("site " + ", ".join(sorted(df["site"].dropna().astype(str).unique())))
    if "kvp" in df.columns and pd.to_numeric(df["kvp"], errors="coerce").notna().any():
        acq.append(f"{pd.to_numeric(df['kvp'], errors='coerce').mean():.0f} kVp")
    if "photometric" in df.columns and df["photometric"].notna().any():
        acq.append("/".join(sorted(df["photometric"].dropna().astype(str).unique())))
    if {"width", "height"} <= set(df.columns):
        w, h = pd.to_numeric(df["width"], errors="coerce"), pd.to_numeric(df["height"], errors="coerce")
        if w.notna().any():
            acq.append(f"{int(w.median())}x{int(h.median())} px")
    if "pixel_spacing_mm" in df.columns and pd.to_numeric(df["pixel_spacing_mm"], errors="coerce").notna().any():
        acq.append(f"{pd.to_numeric(df['pixel_spacing_mm'], errors='coerce').median():.3f} mm/px")
    fu = "n/a"
    if "followup_label" in df.columns:
        fu = str(int(pd.to_numeric(df["followup_label"], errors="coerce").notna().sum()))
    if role == "train" and "split" in df.columns:
        role = f"train ({int((df['split'] == 'train').sum())} train / {int((df['split'] == 'val').sum())} val)"
    return [name, role, str(n), pos, female, age_s, grades, "; ".join(acq) or "n/a", fu]


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for pkg in ("sijscan", *PACKAGES):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _machine() -> dict[str, Any]:
    import os

    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()}
    torch = sys.modules.get("torch")  # loaded by every stage that used it; not imported just for this
    if torch is not None:
        info["cuda"] = bool(torch.cuda.is_available())
        if info["cuda"]:
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def provenance(ctx: StageContext) -> dict[str, Any]:
    cfg = ctx.config
    seeds = {"study": cfg.study.seed, **{f"cohort {c.name}": c.phantom.seed for c in cfg.cohorts if c.phantom}}
    times = {name: ctx.records[name].get("seconds") for name in STAGE_NAMES if name in ctx.records}
    return {"config_file": cfg.source, "config": cfg.to_dict(), "seeds": seeds, "versions": _versions(),
            "git_commit": git_commit(), "machine": _machine(), "stage_seconds": times,
            "stage_keys": {name: ctx.records[name].get("key", "")[:12] for name in ctx.records}}


def _fmt_p(p: Any) -> str:
    try:
        return fmt_p(float(p))
    except (TypeError, ValueError):
        return "n/a"


def findings(ctx: StageContext) -> list[str]:
    """Plain-language lines: does the anatomy-aware model beat the standard one, cohort by cohort?"""
    lines = []
    summary = ctx.compare.summary if ctx.has("compare") else {}
    cohorts = ctx.cohorts.entries if ctx.has("cohorts") else {}
    seeds = (ctx.evaluate.anatomy_seed_auc if ctx.has("evaluate") else None) or {}
    for cohort, s in summary.items():
        if cohort.startswith("all"):
            continue
        lo, hi = (s.auc_difference_ci or [float("nan")] * 2)[:2]
        kind = " (real CT anatomy, CT route)" if cohort in cohorts and cohorts[cohort].source == "ct" else ""
        line = (f"{cohort}{kind} (n={s.n}): AUC standard {_fmt(s.auc_standard)} vs anatomy-aware "
                f"{_fmt(s.auc_anatomy)}; difference {_fmt(_diff(s))} (95% CI {_fmt(lo)} to {_fmt(hi)}), "
                f"DeLong p {_p_clause(s.delong_p)}.")
        per_seed = seeds.get(cohort) or {}
        aucs = [(k, v.get("auc")) for k, v in per_seed.items() if isinstance(v, dict) and k != "ensemble"]
        if len(aucs) > 1:
            what = "of its single seeds" if "ensemble" in per_seed else "per training seed"
            line += (f" Anatomy-aware AUC {what}: " + ", ".join(f"{_fmt(a)} (seed {k})" for k, a in aucs)
                     + f"; spread {_fmt(per_seed.get('spread'))}.")
        lines.append(line)
    for cohort, r in (ctx.progression.entries if ctx.has("progression") else {}).items():
        for model, title in (("anatomy", "anatomy-aware"), ("standard", "standard")):
            ci = (r.paper_ratio_ci.get(model) or [float("nan")] * 2)
            why = r.paper_ratio_reason.get(model)
            value = f"n/a ({why})" if why else (f"{_fmt(r.paper_ratio.get(model), 2)} (95% bootstrap CI "
                                                f"{_fmt(ci[0], 2)} to {_fmt(ci[1], 2)})")
            lines.append(f"{cohort}: progression ratio among confident false positives of the {title} model = "
                         f"{value}.")
    return lines


def _p_clause(p: Any) -> str:
    text = _fmt_p(p)
    return text if text.startswith("<") else f"= {text}"


def _diff(s: Comparison) -> float:
    try:
        return float(s.auc_anatomy) - float(s.auc_standard)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def write_report(ctx: StageContext) -> dict[str, Any]:
    """Write ``report.html`` and ``report.md`` (+ ``provenance.json``) into the stage folder."""
    from sijscan.io.manifest import read_manifest  # lazy: pandas

    cfg = ctx.config
    out = ctx.stage_dir
    rep = Report(title=f"sijscan study: {cfg.study.name}")
    sources = {c.name: ctx.cohorts.entries[c.name].source for c in cfg.cohorts}
    if any(s in ("phantom", "ct") for s in sources.values()):
        rep.para("Cohorts marked 'phantom' are SIMULATED radiographs (sijscan.phantom), not patients; cohorts marked "
                 "'ct' are simulated radiographs rendered from real CT anatomy with simulated sacroiliitis (the CT "
                 "route). These numbers test the software and the in-silico analogue of the paper's claims, never "
                 "clinical accuracy.")
    _summary(rep, ctx, out, sources)
    rep.heading("Findings")
    lines = findings(ctx)
    for line in lines or ["(no comparison available)"]:
        rep.para(line)
    rep.heading("Table 1: cohorts")
    rows = []
    for c in cfg.cohorts:
        made = ctx.cohorts.entries[c.name]
        if made.manifest is None:
            rep.para(f"Cohort {c.name} was not made: its CT case folder(s) {', '.join(made.skipped or ())} "
                     "are not here (if_missing: skip).")
            continue
        df = read_manifest(made.manifest, check_files=False)
        rows.append(table1_row(f"{c.name} ({sources[c.name]})", c.role, df))
    rep.table(TABLE1_HEADERS, rows)
    rep.para("Max grade: the higher of the two sides' mNY grades per patient. Positive: modified New York "
             "criterion (definite radiographic sacroiliitis).")
    _segmenter_para(rep, ctx)
    failed = ctx.predict.failed if ctx.has("predict") else {}
    if failed:
        rep.table(["Evaluation set", "n", "n analysed (both models)", "no prediction: standard",
                   "no prediction: anatomy-aware", "QC would withhold: standard", "QC would withhold: anatomy-aware"],
                  [[k, str(v.n), str(v.n_paired), str(v.standard), str(v.anatomy),
                    _or_na(v.standard_qc_withheld), _or_na(v.anatomy_qc_withheld)]
                   for k, v in failed.items()])
        rep.para("Images a model could not read or crop are left out of both models' statistics (paired "
                 "comparison). QC-flagged images keep their probability and are analysed.")
    _qc_excluded_table(rep, ctx)
    _table2(rep, ctx)
    _figures(rep, ctx, out)
    _where(rep, ctx, out)
    grades_section(rep, ctx, out)
    seeds_section(rep, ctx)
    _progression(rep, ctx)
    prov = provenance(ctx)
    (out / "provenance.json").write_text(jsonio.dumps(prov, indent=2, default=str) + "\n", encoding="utf-8")
    rep.heading("Provenance")
    rep.table(["Stage", "Seconds", "Cache key"],
              [[n, _fmt(prov["stage_seconds"].get(n), 1), prov["stage_keys"].get(n, "")] for n in STAGE_NAMES
               if n in prov["stage_seconds"]])
    rep.para(f"git commit: {prov['git_commit'] or 'n/a'}; seeds: "
             + ", ".join(f"{k} {v}" for k, v in prov["seeds"].items()))
    rep.para("Machine: " + ", ".join(f"{k} {v}" for k, v in prov["machine"].items()))
    rep.para("Package versions: " + ", ".join(f"{k} {v}" for k, v in prov["versions"].items() if v))
    import yaml

    rep.code(yaml.safe_dump(prov["config"], sort_keys=False))
    md, page = rep.write(out)
    summary_png = out / SUMMARY_PNG
    return ReportOutput(html=str(page), markdown=str(md), provenance=str(out / "provenance.json"), findings=lines,
                        summary_figure=str(summary_png) if summary_png.is_file() else None)


def _qc_excluded_table(rep: Any, ctx: StageContext) -> None:
    """Each set's AUC on all images (the statistics above and below) beside the AUC without QC-withheld ones."""
    from sijscan.evaluate.predictions import QC_RULE  # lazy: pandas

    if not ctx.has("evaluate"):
        return
    rows = []
    for model, title in MODEL_NAMES.items():
        for name, m in ctx.evaluate.metrics(model).items():
            q = m.qc_excluded or {}  # absent in an evaluate stage cached before this table existed
            rows.append([name, title, _fmt(m.auc), _fmt(q.get("auc")) if q else "n/a", _or_na(q.get("n")),
                         _or_na(q.get("n_qc_withheld_excluded"))])
    rep.heading("QC-withheld images: all images vs excluded")
    rep.table(["Evaluation set", "Model", "AUC, all images (as analysed here)", "AUC, QC-withheld excluded",
               "n after exclusion", "n QC-withheld excluded"], rows)
    rep.para(f"Rule (sijscan evaluate and the study alike): {QC_RULE}.")


def _or_na(v: Any) -> str:
    return "n/a" if v is None else str(v)


def segmenter_line(seg: SegmenterOutput) -> str:
    """One sentence on the study's segmenter: given or trained, how, and on which real CTs."""
    if not seg.trained:
        return f"Segmenter: given model folder {seg.model} ({seg.arch})."
    line = (f"Segmenter: trained here ({seg.arch}, augmentation {seg.augment or 'basic'}, "
            f"validation Dice {_fmt(seg.val_dice)})")
    ct = seg.ct_route
    if ct is None:
        return line + ", on the training cohort only."
    names = ", ".join(Path(c).name for c in ct.cases) or "none"
    variants = f", {ct.variants} anatomy variants per CT ({' and '.join(ct.vary)})" if ct.variants > 1 else ""
    line += (f", with {ct.n_images} CT-route radiographs rendered from real CTs ({names}; "
             f"{ct.n_per_case} per CT at {ct.size} px, {_realism_words(ct.realism)}{variants}) mixed into training")
    if ct.skipped:
        line += f"; CT folders not found and skipped: {', '.join(ct.skipped)}"
    return line + "."


def _realism_words(preset: str) -> str:
    """How the CT-route renders were made, in words (sijscan.phantom.ct.realism presets)."""
    return {"off": "plain renders", "varied": "realism varied: slice thickness, metal, field of view, table, "
            "habitus, bowel gas and spine drawn per render",
            "stress": "realism stress: the hardest settings"}.get(preset, f"realism {preset}")


def _segmenter_para(rep: Any, ctx: StageContext) -> None:
    if ctx.has("segmenter"):
        rep.para(segmenter_line(ctx.segmenter))


def _table2(rep: Any, ctx: StageContext) -> None:
    from sijscan.evaluate.comparison import TABLE_HEADERS  # lazy: pandas

    rep.heading("Table 2: standard vs anatomy-aware model")
    comp = ctx.compare if ctx.has("compare") else None
    if comp is None or not comp.table2_rows:
        rep.para("(no comparison available)")
        return
    rep.table(TABLE_HEADERS, [list(row) for row in comp.table2_rows])
    rep.para("Each model at its own cut-off (accuracy-maximising on the training cohort's validation set, from "
             "its model card). CIs: 95% stratified bootstrap; DeLong: two-sided test of equal AUCs; McNemar: paired "
             "correctness. '-val' = the training cohort's validation split; 'all' pools every evaluation set.")
    for w in comp.warnings:
        rep.para(f"WARNING: {w}")


def _summary(rep: Any, ctx: StageContext, out: Path, sources: dict[str, Any]) -> None:
    """The summary figure from the compare stage's comparison.json (nothing when there is none)."""
    path = ctx.compare.comparison if ctx.has("compare") else None
    if not path or not Path(path).is_file():
        return
    res = json.loads(Path(path).read_text(encoding="utf-8"))

    def num(v: Any) -> float:
        return float("nan") if v is None else float(v)

    def pair(v: Any) -> tuple[float, float]:
        v = v or [None, None]
        return num(v[0]), num(v[1])

    rows = [ForestRow(name=f"{c} (n={b['n']})", auc_a=num(b["auc_a"]), auc_a_ci=pair(b["a"].get("auc_ci")),
                      auc_b=num(b["auc_b"]), auc_b_ci=pair(b["b"].get("auc_ci")), difference=num(b["auc_difference"]),
                      difference_ci=pair(b["auc_difference_ci"]), p=num(b["delong_p"]))
            for c, b in res["cohorts"].items() if not c.startswith("all")]
    cfg = ctx.config
    data = ", ".join(f"{c.name} {ctx.cohorts.entries[c.name].n}"
                     + (f" ({c.phantom.size} px)" if c.phantom else "")
                     + (f" (CT route: real CT {', '.join(Path(x).name for x in c.ct.cases)}, {c.ct.size} px)" if c.ct else "")
                     for c in cfg.cohorts)
    kind = "phantom (simulated)" if any(s in ("phantom", "ct") for s in sources.values()) else "given"
    note = f"Data: {kind} cohorts {data}; study seed {cfg.study.seed}; config {cfg.source or 'in memory'}."
    auc_forest_figure(rows=rows, name_a=MODEL_NAMES["standard"], name_b=MODEL_NAMES["anatomy"], path=out / SUMMARY_PNG,
                      title=f"{cfg.study.name}: standard vs anatomy-aware model", note=note)
    rep.image(out / SUMMARY_PNG, "Summary: AUC of both models per evaluation set with 95% CIs (stratified "
                                 "bootstrap) and the difference, anatomy-aware minus standard, with its 95% CI "
                                 "(DeLong covariance) and DeLong p. " + note)


def _figures(rep: Any, ctx: StageContext, out: Path) -> None:
    """Per evaluation set, side by side: the ROC curves of both models and their Grad-CAM examples."""
    comp_dir = ctx.compare.dir if ctx.has("compare") else None
    rocs = {p.stem.split("_", 2)[-1]: p for p in sorted(Path(comp_dir).glob("roc_*.png"))} if comp_dir else {}
    examples = ctx.predict.gradcam if ctx.has("predict") else ()
    rep.heading("ROC curves and Grad-CAM examples per evaluation set")
    if not examples:
        rep.para("(no Grad-CAM examples: switched off or could not be computed)")
    names = list(dict.fromkeys([*(ctx.predict.sets if ctx.has("predict") else {}), *rocs]))
    for name in names:
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
        panels: list[tuple[Path, str]] = []
        if safe in rocs:
            dest = out / rocs[safe].name
            shutil.copyfile(rocs[safe], dest)
            panels.append((dest, f"ROC curves, {name}"))
        for ex in examples:
            src = Path(ex.png)
            if ex.set != name or not src.is_file():
                continue
            dest = out / f"gradcam_{src.name}"
            shutil.copyfile(src, dest)
            panels.append((dest, f"Grad-CAM, {MODEL_NAMES.get(ex.model, ex.model)}: {Path(ex.image).name}, "
                                 f"label {ex.label}, probability {_fmt(ex.probability)}"))
        if panels:
            rep.para(name)
            rep.image_row(panels)
    rep.para("Grad-CAM: evidence for 'positive' (class-activation map of the last residual block) over the "
             "radiograph; the anatomy-aware model sees only its SIJ crop, so its map is zero outside it.")


def _progression(rep: Any, ctx: StageContext) -> None:
    from sijscan.evaluate.followup import HEADERS  # lazy: pandas

    rep.heading("Progression of confident false positives")
    prog = ctx.progression.entries if ctx.has("progression") else {}
    if not prog:
        rep.para("(no evaluation set has follow-up labels)")
        return
    for cohort, r in prog.items():
        rep.para(f"{cohort}: baseline negatives with a follow-up; confident = probability >= {r.confident}.")
        rep.table(HEADERS, [list(row) for row in r.rows])
        for model in ("standard", "anatomy"):
            ci = r.paper_ratio_ci.get(model) or [float("nan")] * 2
            rep.para(f"{model}: paper ratio {_fmt(r.paper_ratio.get(model), 2)}, 95% bootstrap CI "
                     f"{_fmt(ci[0], 2)} to {_fmt(ci[1], 2)}.")


def _where(rep: Any, ctx: StageContext, out: Path) -> None:
    rep.heading("Where the models look")
    res = (ctx.evaluate.camshare if ctx.has("evaluate") else None) or {}
    if not res:
        rep.para("(not computed: no evaluation set with known SIJ boxes, or predict.cam_share_images is 0)")
        return
    write_json(out / "where_models_look.json", res)
    rep.table(where_models_look.HEADERS, where_models_look.table_rows(res))
    rep.para("Share of each positive image's Grad-CAM mass (class 'positive', mapped onto the radiograph) that "
             "falls inside the union of the two true SIJ boxes (phantom: the renderer's exact joint boxes). "
             "An all-zero CAM (Grad-CAM found no evidence for 'positive' anywhere) has no share and is counted "
             "apart, as are images a model could not read or crop. "
             f"At most {ctx.config.predict.cam_share_images} positives per set. Chance, image area: the share a "
             "CAM spread evenly over the whole image would get; chance, within the crop: the same over the "
             "anatomy-aware model's crop (its CAM is zero outside the crop, so this is its baseline). CIs: "
             "95% percentile bootstrap over images. Mean paired difference, anatomy-aware minus standard: "
             + where_models_look.difference_text(res) + ".")
