"""The three top-level calls: evaluate one model, compare two, analyse progression.

Each returns the plain dict that is written as JSON, and writes its figures and reports when
``out_dir`` is given. The CLI (``sijscan evaluate|compare|progression``) is a thin shell over these.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from sijscan.evaluate import figures
from sijscan.stats.bootstrap import Resampler
from sijscan.evaluate.comparison import compare_models
from sijscan.stats.calibration import calibration
from sijscan.stats.cutoff import resolve_cutoff
from sijscan.evaluate.followup import progression_report
from sijscan.evaluate.grades import HEADERS, MNY_HEADERS, grade_rows, grades_section, mny_row
from sijscan.stats.metrics import decide
from sijscan.evaluate.predictions import load_dataset
from sijscan.evaluate.report import Report, fmt, fmt_ci, write_json
from sijscan.evaluate.summary import in_sample_cutoffs, qc_excluded_summary, summarise

log = logging.getLogger(__name__)

__all__ = ["evaluate_predictions", "compare_models", "progression_report"]

METRIC_LABELS = {"accuracy": "Accuracy", "balanced_accuracy": "Balanced accuracy", "sensitivity": "Sensitivity",
                 "specificity": "Specificity", "ppv": "PPV", "npv": "NPV", "mcc": "MCC", "f1": "F1"}


def decision_check(table: Any, cutoff: float) -> dict[str, Any] | None:
    """Compare a predictions file's own ``decision`` column with ``probability >= cutoff``."""
    if "decision" not in table.columns:
        return None
    has = table["decision"].notna().to_numpy()  # <NA> where QC withheld the decision
    given = table["decision"].to_numpy(dtype=float)[has].astype(int)
    ours = decide(table["probability"].to_numpy(dtype=float)[has], cutoff)
    n_diff = int((given != ours).sum())
    if n_diff:
        log.warning("%d decision(s) in the predictions file differ from probability >= %.4g", n_diff, cutoff)
    return {"n_disagree": n_diff, "note": "metrics use probability >= cutoff, not the file's decision column"}


def evaluate_predictions(*, predictions: str | Path, manifest: str | Path, cutoff: float | None = None,
                         model_dir: str | Path | None = None, cutoff_method: str | None = None,
                         cohort: str | None = None, split: str | None = None, n_bootstrap: int = 1000,
                         seed: int = 0, out_dir: str | Path | None = None,
                         command_line: str | None = None, progress: bool | None = False) -> dict[str, Any]:
    """Every metric of one model on one (filtered) manifest; writes metrics.json, 4 PNGs and reports.

    Every image with a probability is analysed, QC-withheld ones included; ``result["qc_excluded"]``
    holds the same numbers without them (:data:`sijscan.evaluate.predictions.QC_RULE`).

    ``progress``: a bar over the ROC band's bootstrap resamples (None: in a terminal only)."""
    data = load_dataset(predictions=predictions, manifests=[manifest], cohort=cohort, split=split)
    y = data.table["label"].to_numpy(dtype=int)
    p = data.table["probability"].to_numpy(dtype=float)
    spec = resolve_cutoff(cutoff=cutoff, model_dir=model_dir, method=cutoff_method, y_true=y, probability=p)
    rs = Resampler(y_true=y, n_resamples=n_bootstrap, seed=seed)
    result = summarise(y_true=y, probability=p, cutoff=spec, resampler=rs)
    result["qc_rule"] = data.info["qc_rule"]
    result["qc_excluded"] = qc_excluded_summary(y_true=y, probability=p, cutoff=spec, everything=result,
                                                withheld=data.table["qc_withheld"].to_numpy(dtype=bool),
                                                n_bootstrap=n_bootstrap, seed=seed)
    result["cutoffs_in_sample"] = in_sample_cutoffs(y_true=y, probability=p)
    result["warnings"] = [w for w in [spec.warning] if w] + list(data.info["notes"])
    result["decision_column"] = decision_check(data.table, spec.cutoff)
    result["data"] = data.info
    result["grades"] = grades_section(predictions=predictions, manifests=[manifest], cohort=cohort, split=split)
    result["command"] = command_line
    if out_dir is not None:
        _write_evaluation(Path(out_dir), result=result, y=y, p=p, rs=rs, progress=progress)
    return result


def _qc_table(rep: Report, result: dict[str, Any]) -> None:
    """The main analysis (every image) beside the one without QC-withheld images."""
    q = result["qc_excluded"]
    rep.heading("All images vs QC-withheld images excluded")
    rep.para(f"Rule: {result['qc_rule']}. QC withheld the decision of {q['n_qc_withheld_excluded']} of "
             f"{result['n']} image(s); failed images are left out of both.")
    rows = [["n (positive / negative)", f"{result['n']} ({result['n_positive']} / {result['n_negative']})",
             f"{q['n']} ({q['n_positive']} / {q['n_negative']})"],
            ["AUC (bootstrap CI)", fmt_ci(result["auc"], result["auc_ci"]),
             fmt_ci(q["auc"], q["auc_ci"]) if "auc_ci" in q else fmt(q["auc"])]]
    rows += [[label, fmt(result[k]), fmt(q[k]) if k in q else "n/a"]
             for k, label in METRIC_LABELS.items() if k in ("sensitivity", "specificity", "accuracy", "mcc")]
    rep.table(["metric (same cut-off)", "all images (main analysis)", "QC-withheld excluded"], rows)


def _grade_tables(rep: Report, grades: dict[str, Any]) -> None:
    rep.heading("Per-side grade agreement (grade head)")
    if not grades.get("available"):
        rep.para(f"Not computed: {grades.get('reason', 'no grades')}.")
        return
    rep.table(HEADERS, grade_rows(grades))
    rep.table(MNY_HEADERS, [mny_row(grades)])
    rep.para("Grades: modified New York 0-4 per side (patient's sides). CIs: Wilson 95%. Kappa: quadratic "
             "weights over grades 0-4. mNY: the criterion applied to the two predicted grades vs the label.")


def _write_evaluation(out: Path, *, result: dict[str, Any], y: np.ndarray, p: np.ndarray, rs: Resampler,
                      progress: bool | None = False) -> None:
    out.mkdir(parents=True, exist_ok=True)
    grid = np.linspace(0.0, 1.0, 201)
    low, high = rs.roc_band(p, fpr_grid=grid, progress=progress)
    roc = figures.roc_figure(curves=[figures.RocCurve("model", y, p, result["auc"], grid, low, high)],
                             path=out / "roc.png", title="ROC curve")
    cm = figures.confusion_figure(matrix=result["confusion_matrix"], path=out / "confusion_matrix.png",
                                  title=f"Confusion matrix at cut-off {result['cutoff']:.3f}")
    hist = figures.histogram_figure(y_true=y, probability=p, cutoff=result["cutoff"], path=out / "histogram.png",
                                    title="Predicted probability by true class")

    cal = figures.calibration_figure(cal=calibration(y_true=y, probability=p, n_bins=result["ece_bins"]),
                                     path=out / "calibration.png", title="Calibration")
    write_json(out / "metrics.json", result)
    rep = Report(title="sijscan evaluation")
    for w in result["warnings"]:
        rep.para(f"WARNING: {w}")
    rep.para(f"Predictions: {result['data']['predictions']}; manifest: {', '.join(result['data']['manifests'])}; "
             f"filters: {result['data']['filters']}.")
    rep.para(f"n = {result['n']} ({result['n_positive']} positive, {result['n_negative']} negative). "
             f"Cut-off {result['cutoff']:.4f} ({result['cutoff_method']}; {result['cutoff_source']}); "
             f"{result['decision_rule']}.")
    rep.heading("Discrimination and threshold metrics")
    rows = [["AUC (bootstrap CI)", fmt_ci(result["auc"], result["auc_ci"])],
            ["AUC (DeLong CI)", fmt_ci(result["auc"], result["auc_ci_delong"])]]
    rows += [[label, fmt_ci(result[k], result[f"{k}_ci"])] for k, label in METRIC_LABELS.items()]
    rows += [["Brier score", fmt(result["brier"])],
             [f"ECE ({result['ece_bins']} equal-width bins)", fmt(result["ece"])]]
    rep.table(["metric", "value (95% CI)"], rows)
    b = result["bootstrap"]
    rep.para(f"CIs: 95% {b['method']}, {b['n_resamples']} resamples (seed {b['seed']}), cut-off held fixed; "
             "the DeLong CI is Wald, clipped to [0, 1].")
    reasons = {k: v for k, v in result.items() if k.endswith("_reason")}
    if reasons:
        rep.para("Undefined values: " + "; ".join(f"{k[:-7]}: {v}" for k, v in reasons.items()))
    _qc_table(rep, result)
    _grade_tables(rep, result.get("grades") or {})
    rep.heading("Figures")
    for path, alt in ((roc, "ROC curve with 95% bootstrap band"), (cm, "Confusion matrix"),
                      (hist, "Predicted probabilities per true class"), (cal, "Calibration curve")):
        rep.image(path, alt)
    if result["command"]:
        rep.heading("Command")
        rep.code(result["command"])
    rep.write(out)
