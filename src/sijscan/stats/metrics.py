"""Threshold metrics from confusion counts, vectorised over any array shape, NaN when undefined.

Decision rule everywhere in sijscan.evaluate: a case is called positive when
``probability >= cutoff``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sijscan.stats.delong import midranks

METRICS = ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv", "mcc", "f1")


def decide(probability: np.ndarray, cutoff: float) -> np.ndarray:
    """0/1 decisions: 1 where ``probability >= cutoff``."""
    return (np.asarray(probability, dtype=float) >= cutoff).astype(int)


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def rates_from_counts(*, tp: np.ndarray, fp: np.ndarray, tn: np.ndarray, fn: np.ndarray) -> dict[str, np.ndarray]:
    """All of :data:`METRICS` from confusion counts (arrays broadcast together)."""
    tp, fp, tn, fn = (np.asarray(a, dtype=float) for a in (tp, fp, tn, fn))
    sens = _div(tp, tp + fn)
    spec = _div(tn, tn + fp)
    mcc_den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {
        "accuracy": _div(tp + tn, tp + tn + fp + fn),
        "balanced_accuracy": (sens + spec) / 2.0,
        "sensitivity": sens,
        "specificity": spec,
        "ppv": _div(tp, tp + fp),
        "npv": _div(tn, tn + fn),
        "mcc": _div(tp * tn - fp * fn, mcc_den),
        "f1": _div(2 * tp, 2 * tp + fp + fn),
    }


@dataclass
class Confusion:
    tp: int
    fp: int
    tn: int
    fn: int

    def as_matrix(self) -> list[list[int]]:
        """``[[tn, fp], [fn, tp]]`` (rows: true 0/1, columns: predicted 0/1), as scikit-learn."""
        return [[self.tn, self.fp], [self.fn, self.tp]]


def confusion(*, y_true: np.ndarray, decision: np.ndarray) -> Confusion:
    y = np.asarray(y_true).astype(int)
    d = np.asarray(decision).astype(int)
    return Confusion(tp=int(((y == 1) & (d == 1)).sum()), fp=int(((y == 0) & (d == 1)).sum()),
                     tn=int(((y == 0) & (d == 0)).sum()), fn=int(((y == 1) & (d == 0)).sum()))


def undefined_reasons(c: Confusion) -> dict[str, str]:
    """Why each undefined metric is undefined, keyed by metric name."""
    out: dict[str, str] = {}
    if c.tp + c.fn == 0:
        out["sensitivity"] = "no positive cases"
    if c.tn + c.fp == 0:
        out["specificity"] = "no negative cases"
    if "sensitivity" in out or "specificity" in out:
        out["balanced_accuracy"] = "needs both classes"
    if c.tp + c.fp == 0:
        out["ppv"] = "no case predicted positive"
    if c.tn + c.fn == 0:
        out["npv"] = "no case predicted negative"
    if 0 in (c.tp + c.fp, c.tp + c.fn, c.tn + c.fp, c.tn + c.fn):
        out["mcc"] = "a row or column of the confusion matrix is empty"
    if 2 * c.tp + c.fp + c.fn == 0:
        out["f1"] = "no positive case and no positive prediction"
    if c.tp + c.fp + c.tn + c.fn == 0:
        out["accuracy"] = "no cases"
    return out


@dataclass
class AtCutoff:
    """Point estimates at one cut-off."""

    cutoff: float
    confusion: Confusion
    values: dict[str, float]
    reasons: dict[str, str] = field(default_factory=dict)


def metrics_at_cutoff(*, y_true: np.ndarray, probability: np.ndarray, cutoff: float) -> AtCutoff:
    """Accuracy, balanced accuracy, sensitivity, specificity, PPV, NPV, MCC and F1 at ``cutoff``."""
    c = confusion(y_true=y_true, decision=decide(probability, cutoff))
    rates = rates_from_counts(tp=c.tp, fp=c.fp, tn=c.tn, fn=c.fn)
    return AtCutoff(cutoff=float(cutoff), confusion=c, values={k: float(v) for k, v in rates.items()},
                    reasons=undefined_reasons(c))


def auc_midrank(*, y_true: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count 1/2); NaN when a class is empty."""
    y = np.asarray(y_true).astype(int)
    m, n = int((y == 1).sum()), int((y == 0).sum())
    if m == 0 or n == 0:
        return float("nan")
    r = midranks(np.asarray(scores, dtype=float))
    return float((r[y == 1].sum() - m * (m + 1) / 2.0) / (m * n))
