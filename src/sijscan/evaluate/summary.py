"""All of one model's numbers on one set of cases, as a plain dict (NaN where undefined, with reasons)."""
from __future__ import annotations

from typing import Any

import numpy as np

from sijscan.stats.bootstrap import Resampler, percentile_ci
from sijscan.stats.calibration import DEFAULT_BINS, calibration
from sijscan.stats.cutoff import CUTOFF_METHODS, CutoffSpec, select_cutoff
from sijscan.stats.delong import delong_ci
from sijscan.stats.metrics import METRICS, auc_midrank, metrics_at_cutoff

BOOTSTRAP_METHOD = "percentile bootstrap, resampling stratified by class"


def auc_reason(y: np.ndarray) -> str | None:
    m, n = int((y == 1).sum()), int((y == 0).sum())
    if m == 0 or n == 0:
        return f"AUC needs both classes (have {m} positive, {n} negative)"
    return None


def summarise(*, y_true: np.ndarray, probability: np.ndarray, cutoff: CutoffSpec,
              resampler: Resampler | None = None, n_bootstrap: int = 1000, seed: int = 0,
              level: float = 0.95, ece_bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """AUC (bootstrap and DeLong CIs), threshold metrics with bootstrap CIs, confusion matrix, calibration.

    ``auc_ci`` is the bootstrap CI (as the paper); ``auc_ci_delong`` the DeLong (Wald) CI.
    Pass a shared ``resampler`` to pair the resamples with another model's.
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(probability, dtype=float)
    rs = resampler or Resampler(y_true=y, n_resamples=n_bootstrap, seed=seed)
    out: dict[str, Any] = {"n": int(y.size), "n_positive": int((y == 1).sum()), "n_negative": int((y == 0).sum())}
    out["prevalence"] = float(y.mean()) if y.size else float("nan")
    reason = auc_reason(y)
    out["auc"] = auc_midrank(y_true=y, scores=p)
    boot_auc = percentile_ci(rs.auc(p), level=level)
    out["auc_ci"] = boot_auc.as_list()
    out["auc_ci_method"] = BOOTSTRAP_METHOD
    dl = delong_ci(y_true=y, scores=p, level=level)
    out["auc_ci_delong"] = list(dl.ci)
    out["auc_se_delong"] = dl.se
    if reason:
        out["auc_reason"] = out["auc_ci_reason"] = reason
    elif boot_auc.reason:
        out["auc_ci_reason"] = boot_auc.reason
    if dl.reason:
        out["auc_ci_delong_reason"] = out["auc_se_delong_reason"] = dl.reason
    out["cutoff"] = cutoff.cutoff
    out["cutoff_method"] = cutoff.cutoff_method
    out["cutoff_source"] = cutoff.source
    out["decision_rule"] = "positive when probability >= cutoff"
    at = metrics_at_cutoff(y_true=y, probability=p, cutoff=cutoff.cutoff)
    boot = rs.at_cutoff(p, cutoff.cutoff)
    for name in METRICS:
        out[name] = at.values[name]
        ci = percentile_ci(boot[name], level=level)
        out[f"{name}_ci"] = ci.as_list()
        if name in at.reasons:
            out[f"{name}_reason"] = out[f"{name}_ci_reason"] = at.reasons[name]
        elif ci.reason:
            out[f"{name}_ci_reason"] = ci.reason
    c = at.confusion
    out["confusion_matrix"] = c.as_matrix()
    out["confusion_matrix_layout"] = "[[TN, FP], [FN, TP]]; rows true 0/1, columns predicted 0/1"
    out.update({"tp": c.tp, "fp": c.fp, "tn": c.tn, "fn": c.fn})
    cal = calibration(y_true=y, probability=p, n_bins=ece_bins)
    out["brier"] = cal.brier
    out["ece"] = cal.ece
    out["ece_bins"] = cal.n_bins
    out["ece_binning"] = f"{cal.n_bins} equal-width bins on [0, 1]"
    out["calibration_curve"] = {"bin_edges": cal.bin_edges, "count": cal.bin_count,
                                "mean_predicted": cal.mean_predicted, "fraction_positive": cal.fraction_positive,
                                "note": "empty bins are null"}
    if cal.reason:
        out["brier_reason"] = out["ece_reason"] = cal.reason
    out["bootstrap"] = {"n_resamples": rs.n_resamples, "seed": rs.seed, "method": BOOTSTRAP_METHOD, "level": level}
    return out


def in_sample_cutoffs(*, y_true: np.ndarray, probability: np.ndarray) -> dict[str, Any]:
    """What each cut-off method would pick on these cases (for reference; optimistic if used here)."""
    y = np.asarray(y_true).astype(int)
    out: dict[str, Any] = {}
    for method in CUTOFF_METHODS:
        if y.size == 0 or (method != "max_accuracy" and y.min() == y.max()):
            out[method] = {"cutoff": float("nan"), "cutoff_reason": "needs both classes", "cutoff_method": method}
            continue
        ch = select_cutoff(y_true=y, probability=probability, method=method)
        out[method] = {"cutoff": ch.cutoff, "cutoff_method": method, "value": ch.value, "n_tied": ch.n_tied,
                       "tied_low": ch.tied_low, "tied_high": ch.tied_high}
    return out


#: What :func:`qc_excluded_summary` keeps of :func:`summarise` (plus every ``*_reason``).
QC_EXCLUDED_KEYS = ("n", "n_positive", "n_negative", "auc", "auc_ci", "auc_ci_delong", *METRICS,
                    *(f"{m}_ci" for m in METRICS), "confusion_matrix", "brier", "ece")


def qc_excluded_summary(*, y_true: np.ndarray, probability: np.ndarray, withheld: np.ndarray, cutoff: CutoffSpec,
                        everything: dict[str, Any], n_bootstrap: int, seed: int) -> dict[str, Any]:
    """The analysis beside the main one (which takes every image): the same numbers at the same cut-off
    without the images whose decision QC withheld. ``everything``: the main :func:`summarise` result,
    reused when QC withheld nothing."""
    withheld = np.asarray(withheld, dtype=bool)
    keep = ~withheld
    block: dict[str, Any] = {"what": "the same analysis without the images whose decision input QC withheld",
                             "n_qc_withheld_excluded": int(withheld.sum())}
    y, p = np.asarray(y_true)[keep], np.asarray(probability, dtype=float)[keep]
    if y.size == 0:
        block.update(n=0, n_positive=0, n_negative=0, auc=float("nan"), auc_reason="QC withheld every image")
        return block
    res = everything if not withheld.any() else summarise(y_true=y, probability=p, cutoff=cutoff,
                                                         n_bootstrap=n_bootstrap, seed=seed)
    block.update({k: v for k, v in res.items() if k in QC_EXCLUDED_KEYS or k.endswith("_reason")})
    return block
