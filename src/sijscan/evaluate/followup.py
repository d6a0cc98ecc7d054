"""The progression analysis run on files: predictions + manifest with follow-up labels."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sijscan.evaluate.comparison import pair_tables
from sijscan.stats.cutoff import resolve_cutoff
from sijscan.evaluate.errors import NoFollowupError, PredictionsError
from sijscan.stats.mcnemar import mcnemar_paired
from sijscan.stats.metrics import decide
from sijscan.evaluate.predictions import load_dataset, load_manifests
from sijscan.evaluate.progression import progression_analysis
from sijscan.evaluate.report import Report, fmt, fmt_ci, fmt_p, markdown_table, write_json
from sijscan.mny import mny_positive

log = logging.getLogger(__name__)

HEADERS = ["Model", "Baseline negatives with follow-up", "Progressed (all)", "Confident FP (p >= t)",
           "Progressed among confident FP", "Paper ratio", "Odds ratio (95% CI, Woolf)",
           "Relative risk (95% CI, Katz)", "Fisher p"]


def followup_labels(table: pd.DataFrame) -> np.ndarray:
    """Follow-up labels as floats (NaN = no follow-up); derived from follow-up grades when the label is missing."""
    n = len(table)
    if "followup_label" in table.columns:
        lab = pd.to_numeric(table["followup_label"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        lab = np.full(n, np.nan)
    if {"followup_grade_left", "followup_grade_right"} <= set(table.columns):
        gl = pd.to_numeric(table["followup_grade_left"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        gr = pd.to_numeric(table["followup_grade_right"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        for i in np.flatnonzero(np.isnan(lab) & np.isfinite(gl) & np.isfinite(gr)):
            lab[i] = mny_positive(int(gl[i]), int(gr[i]))
    bad = np.isfinite(lab) & ~np.isin(lab, [0.0, 1.0])
    if bad.any():
        raise PredictionsError(f"followup_label must be 0 or 1; found {sorted(set(lab[bad].tolist()))}")
    return lab


def progression_report(*, predictions: str | Path, manifest: str | Path, confident: float = 0.7,
                       predictions_b: str | Path | None = None, name_a: str = "A", name_b: str = "B",
                       cutoff_a: float | None = None, cutoff_b: float | None = None,
                       model_a: str | Path | None = None, model_b: str | Path | None = None,
                       cohort: str | None = None, split: str | None = None, n_bootstrap: int = 0, seed: int = 0,
                       out_dir: str | Path | None = None, command_line: str | None = None) -> dict[str, Any]:
    """Confident-false-positive progression analysis for one model (and optionally a second one).

    With a second model, also McNemar's test of the two models' decisions (each at its own
    cut-off) against the FOLLOW-UP label, over every case with a follow-up label.
    """
    if not 0.0 <= confident <= 1.0:
        raise PredictionsError(f"--confident must be in [0, 1], got {confident}")
    man = load_manifests([manifest])
    da = load_dataset(predictions=predictions, manifests=[manifest], cohort=cohort, split=split, manifest_table=man)
    fa = followup_labels(da.table)
    res_a = progression_analysis(probability=da.table["probability"].to_numpy(dtype=float),
                                 label=da.table["label"].to_numpy(dtype=float), followup_label=fa,
                                 confident=confident, n_bootstrap=n_bootstrap, seed=seed)
    result: dict[str, Any] = {"model": name_a, **_as_dict(res_a)}
    result["population"] = "baseline label 0 with a follow-up label"
    result["paper_ratio_definition"] = ("progression rate among confident false positives / progression rate "
                                        "among all analysed baseline negatives (the paper's 'odds ratio')")
    result["odds_ratio_definition"] = "odds of progression, confident FP vs the other baseline negatives (Woolf log CI)"
    result["relative_risk_definition"] = "risk of progression, confident FP vs the other baseline negatives (Katz log CI)"
    warnings = [f"{name_a}: {x}" for x in da.info["notes"]]
    if predictions_b is not None:
        db = load_dataset(predictions=predictions_b, manifests=[manifest], cohort=cohort, split=split,
                          manifest_table=man)
        res_b = progression_analysis(probability=db.table["probability"].to_numpy(dtype=float),
                                     label=db.table["label"].to_numpy(dtype=float),
                                     followup_label=followup_labels(db.table), confident=confident,
                                     n_bootstrap=n_bootstrap, seed=seed)
        result["b"] = {"model": name_b, **_as_dict(res_b)}
        result["mcnemar_followup"] = _followup_mcnemar(da.table, db.table, cutoff_a=cutoff_a, cutoff_b=cutoff_b,
                                                       model_a=model_a, model_b=model_b, warnings=warnings,
                                                       names=(name_a, name_b))
        warnings += [f"{name_b}: {x}" for x in db.info["notes"]]
    result["warnings"] = warnings
    result["data"] = {"a": da.info, **({"b": db.info} if predictions_b is not None else {})}
    result["command"] = command_line
    if out_dir is not None:
        _write(Path(out_dir), result)
    return result


def _as_dict(res: Any) -> dict[str, Any]:
    d = dict(vars(res))
    reasons = d.pop("reasons")
    d["odds_ratio_ci"], d["relative_risk_ci"] = list(d["odds_ratio_ci"]), list(d["relative_risk_ci"])
    for k, v in reasons.items():
        d[f"{k}_reason"] = v
        if k in ("odds_ratio", "relative_risk"):
            d[f"{k}_ci_reason"] = v
    if not d["bootstrap"]:
        d.pop("bootstrap")
        d["paper_ratio_ci"] = [float("nan"), float("nan")]
        d["paper_ratio_ci_reason"] = "no analytic CI for this ratio; run with --bootstrap N for a percentile CI"
    else:
        d["paper_ratio_ci"] = d["bootstrap"]["paper_ratio_ci"]
        if "paper_ratio_ci_reason" in d["bootstrap"]:
            d["paper_ratio_ci_reason"] = d["bootstrap"]["paper_ratio_ci_reason"]
    return d


def _followup_mcnemar(ta: pd.DataFrame, tb: pd.DataFrame, *, cutoff_a: float | None, cutoff_b: float | None,
                      model_a: Any, model_b: Any, warnings: list[str], names: tuple[str, str]) -> dict[str, Any]:
    table = pair_tables(ta, tb)
    fu = followup_labels(table)
    has = np.isfinite(fu)
    if not has.any():
        raise NoFollowupError("no case has a follow-up label; McNemar on follow-up labels is impossible")
    ca, cb = resolve_cutoff(cutoff=cutoff_a, model_dir=model_a), resolve_cutoff(cutoff=cutoff_b, model_dir=model_b)
    warnings += [f"{n}: {c.warning}" for n, c in zip(names, (ca, cb)) if c.warning]
    mc = mcnemar_paired(y_true=fu[has].astype(int), decision_a=decide(table["probability_a"].to_numpy()[has], ca.cutoff),
                        decision_b=decide(table["probability_b"].to_numpy()[has], cb.cutoff))
    return {"population": "every case with a follow-up label", "n": int(has.sum()), "cutoff_a": ca.cutoff,
            "cutoff_a_method": ca.cutoff_method, "cutoff_b": cb.cutoff, "cutoff_b_method": cb.cutoff_method,
            "a_right_b_wrong": mc.b, "a_wrong_b_right": mc.c, "statistic": mc.statistic, "mcnemar_p": mc.p,
            "method": mc.method}


def progression_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for r in [result] + ([result["b"]] if "b" in result else []):
        nb, nfp = r["n_baseline_negative"], r["n_confident_fp"]
        pct = (lambda k, n: f"{k} ({100.0 * k / n:.1f}%)" if n else f"{k}")
        rows.append([r["model"], str(nb), pct(r["n_progressed"], nb), str(nfp), pct(r["n_progressed_fp"], nfp),
                     fmt(r["paper_ratio"], 2), fmt_ci(r["odds_ratio"], r["odds_ratio_ci"], 2),
                     fmt_ci(r["relative_risk"], r["relative_risk_ci"], 2), fmt_p(r["fisher_p"])])
    return rows


def _write(out: Path, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "progression.json", result)
    lines = [f"# Progression of confident false positives (probability >= {result['confident']})", "",
             markdown_table(HEADERS, progression_rows(result)), "",
             f"Population: {result['population']}. Paper ratio: {result['paper_ratio_definition']}.",
             f"Odds ratio: {result['odds_ratio_definition']}. Relative risk: {result['relative_risk_definition']}.",
             "Fisher p: two-sided exact test of the 2x2 table (confident FP yes/no x progressed yes/no)."]
    for r in [result] + ([result["b"]] if "b" in result else []):
        if r.get("haldane_correction"):
            lines.append(f"{r['model']}: Haldane-Anscombe correction applied (0.5 added to every cell) for OR and RR.")
        if "bootstrap" in r:
            bt = r["bootstrap"]
            lines.append(f"{r['model']}: bootstrap ({bt['n_resamples']} resamples, seed {bt['seed']}) 95% CIs - "
                         f"paper ratio {fmt_ci(r['paper_ratio'], bt['paper_ratio_ci'], 2)}, "
                         f"OR {fmt_ci(r['odds_ratio'], bt['odds_ratio_ci'], 2)}, "
                         f"RR {fmt_ci(r['relative_risk'], bt['relative_risk_ci'], 2)}.")
    if "mcnemar_followup" in result:
        m = result["mcnemar_followup"]
        lines.append(f"McNemar on follow-up labels (n = {m['n']}, cut-offs {m['cutoff_a']:.3f} / {m['cutoff_b']:.3f}): "
                     f"p = {fmt_p(m['mcnemar_p'])} ({m['method']}; A right & B wrong {m['a_right_b_wrong']}, "
                     f"A wrong & B right {m['a_wrong_b_right']}).")
    for w in result["warnings"]:
        lines.append(f"WARNING: {w}")
    (out / "progression.md").write_text("\n\n".join(x for x in lines if x) + "\n", encoding="utf-8")
    rep = Report(title="sijscan progression analysis")
    for line in lines[4:]:
        rep.para(line)
    rep.table(HEADERS, progression_rows(result))
    rep.write(out, stem="report")
