"""Agreement of the classifier's per-side grade head with the true modified New York grades.

A classifier trained on a manifest with grades has an ordinal (CORAL) head that predicts each
side's mNY grade 0-4; its predictions files then carry ``grade_left``/``grade_right`` (the
patient's sides). Per side: exact agreement, agreement within one grade (both with Wilson 95%
CIs) and the quadratic weighted kappa (``sklearn.metrics.cohen_kappa_score(weights="quadratic")``
over the grades 0-4); the same pooled over both sides; and the accuracy of the mNY criterion
applied to the predicted grades against the label.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from sijscan.evaluate.errors import EvaluationInputError
from sijscan.evaluate.predictions import fill_labels, join_predictions, load_manifests, read_predictions, select
from sijscan.evaluate.report import fmt, fmt_ci
from sijscan.mny import mny_positive

log = logging.getLogger(__name__)

GRADES = (0, 1, 2, 3, 4)
HEADERS = ["Side", "n", "Exact agreement (95% CI)", "Within one grade (95% CI)", "Quadratic weighted kappa"]
MNY_HEADERS = ["n", "mNY from predicted grades: accuracy (95% CI)", "Sensitivity", "Specificity"]


class GradeInputError(EvaluationInputError):
    """Grade arrays that cannot be compared (different lengths, values outside 0-4)."""


def _wilson(k: int, n: int) -> list[float]:
    if n == 0:
        return [float("nan"), float("nan")]
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return [float(lo), float(hi)]


def _as_grades(values: Sequence[Any], name: str) -> np.ndarray:
    arr = pd.to_numeric(pd.Series(list(values), dtype="object"), errors="coerce").to_numpy(dtype=float)
    bad = np.isfinite(arr) & ~np.isin(arr, GRADES)
    if bad.any():
        raise GradeInputError(f"{name}: grades must be integers 0-4, got {sorted(set(arr[bad].tolist()))[:5]}")
    return arr


def side_agreement(true: Sequence[Any], pred: Sequence[Any]) -> dict[str, Any]:
    """Exact / within-one agreement and quadratic weighted kappa over pairs where both are known."""
    t, p = _as_grades(true, "true grades"), _as_grades(pred, "predicted grades")
    if t.shape != p.shape:
        raise GradeInputError(f"true and predicted grades differ in length: {t.size} vs {p.size}")
    ok = np.isfinite(t) & np.isfinite(p)
    t, p = t[ok].astype(int), p[ok].astype(int)
    n = int(t.size)
    exact, within = int((t == p).sum()), int((np.abs(t - p) <= 1).sum())
    out: dict[str, Any] = {"n": n, "exact": exact / n if n else float("nan"), "exact_ci": _wilson(exact, n),
                           "within_one": within / n if n else float("nan"), "within_one_ci": _wilson(within, n),
                           "kappa_quadratic": float("nan"),
                           "confusion": _confusion(t, p).tolist()}
    if n and (np.unique(t).size > 1 or np.unique(p).size > 1):
        from sklearn.metrics import cohen_kappa_score

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 when both raters are constant
            out["kappa_quadratic"] = float(cohen_kappa_score(t, p, labels=list(GRADES), weights="quadratic"))
    else:
        out["kappa_quadratic_reason"] = "undefined: no pairs, or both raters gave one grade only"
    return out


def _confusion(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """5 x 5 counts, rows = true grade, columns = predicted grade."""
    m = np.zeros((5, 5), dtype=int)
    np.add.at(m, (t, p), 1)
    return m


def grade_agreement(*, true_left: Sequence[Any], true_right: Sequence[Any], pred_left: Sequence[Any],
                    pred_right: Sequence[Any], label: Sequence[Any] | None = None) -> dict[str, Any]:
    """Per side (patient's left/right) and pooled agreement; mNY from predicted grades vs ``label``."""
    lengths = {len(true_left), len(true_right), len(pred_left), len(pred_right)}
    if label is not None:
        lengths.add(len(label))
    if len(lengths) != 1:
        raise GradeInputError(f"grade and label arrays must have the same length, got {sorted(lengths)}")
    out: dict[str, Any] = {"sides": {
        "left": side_agreement(true_left, pred_left),
        "right": side_agreement(true_right, pred_right),
        "both": side_agreement(list(true_left) + list(true_right), list(pred_left) + list(pred_right)),
    }}
    if label is not None:
        out["mny"] = mny_accuracy(pred_left=pred_left, pred_right=pred_right, label=label)
    return out


def mny_accuracy(*, pred_left: Sequence[Any], pred_right: Sequence[Any], label: Sequence[Any]) -> dict[str, Any]:
    """The modified New York criterion on the predicted grades vs the label (cases with both sides)."""
    pl, pr = _as_grades(pred_left, "predicted left grades"), _as_grades(pred_right, "predicted right grades")
    y = pd.to_numeric(pd.Series(list(label), dtype="object"), errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(pl) & np.isfinite(pr) & np.isfinite(y)
    y_ok = y[ok].astype(int)
    pred = np.array([mny_positive(int(a), int(b)) for a, b in zip(pl[ok], pr[ok])], dtype=int)
    n, correct = int(ok.sum()), int((pred == y_ok).sum())
    pos, neg = y_ok == 1, y_ok == 0
    return {"n": n, "accuracy": correct / n if n else float("nan"), "accuracy_ci": _wilson(correct, n),
            "sensitivity": float((pred[pos] == 1).mean()) if pos.any() else float("nan"),
            "specificity": float((pred[neg] == 0).mean()) if neg.any() else float("nan"),
            "n_positive": int(pos.sum()), "n_negative": int(neg.sum())}


def load_predicted_grades(*, predictions: str | Path, manifests: list[str | Path], cohort: str | None = None,
                          split: str | None = None) -> pd.DataFrame | None:
    """Labelled manifest rows with ``predicted_grade_left/right`` from the predictions file.

    None when the predictions file has no (non-empty) ``grade_left``/``grade_right`` columns.
    Rows are joined and filtered exactly as :func:`sijscan.evaluate.predictions.load_dataset` does.
    """
    cols = pd.read_csv(predictions, nrows=0).columns
    if not {"grade_left", "grade_right"} <= set(cols):
        return None
    raw = pd.read_csv(predictions, usecols=["grade_left", "grade_right"])
    if raw.isna().all().all():
        return None
    pred = read_predictions(predictions)  # file order; failed rows left out, QC-withheld kept ("row": file position)
    joined = join_predictions(pred, load_manifests(list(manifests))).table
    raw = raw.iloc[pred.table["row"].to_numpy()]
    joined["predicted_grade_left"] = pd.to_numeric(raw["grade_left"], errors="coerce").to_numpy()
    joined["predicted_grade_right"] = pd.to_numeric(raw["grade_right"], errors="coerce").to_numpy()
    labelled, _ = fill_labels(select(joined, cohort=cohort, split=split))
    return labelled


def grades_section(*, predictions: str | Path, manifests: list[str | Path], cohort: str | None = None,
                   split: str | None = None) -> dict[str, Any]:
    """``{"available": bool, "reason"?, ...grade_agreement}`` for one predictions file."""
    table = load_predicted_grades(predictions=predictions, manifests=manifests, cohort=cohort, split=split)
    if table is None:
        return {"available": False, "reason": "the predictions carry no grade_left/grade_right (no grade head)"}
    if not {"grade_left", "grade_right"} <= set(table.columns) or not table[["grade_left", "grade_right"]].notna().any().any():
        return {"available": False, "reason": "the manifest has no true grade_left/grade_right"}
    res = grade_agreement(true_left=table["grade_left"].tolist(), true_right=table["grade_right"].tolist(),
                          pred_left=table["predicted_grade_left"].tolist(),
                          pred_right=table["predicted_grade_right"].tolist(), label=table["label"].tolist())
    return {"available": True, **res}


def as_number(v: Any) -> float:
    """A number for formatting: None (strict JSON's NaN) -> NaN."""
    return float("nan") if v is None else float(v)


def as_ci(v: Any) -> list[float]:
    return [as_number(x) for x in (v or [None, None])]


def grade_rows(section: dict[str, Any], *, digits: int = 3) -> list[list[str]]:
    """Table rows (:data:`HEADERS`) of an available :func:`grades_section`."""
    rows = []
    for side, title in (("left", "patient's left"), ("right", "patient's right"), ("both", "both sides pooled")):
        s = section["sides"][side]
        rows.append([title, str(s["n"]), fmt_ci(as_number(s["exact"]), as_ci(s["exact_ci"]), digits),
                     fmt_ci(as_number(s["within_one"]), as_ci(s["within_one_ci"]), digits),
                     fmt(as_number(s["kappa_quadratic"]), digits)])
    return rows


def mny_row(section: dict[str, Any], *, digits: int = 3) -> list[str]:
    """One row (:data:`MNY_HEADERS`) for the mNY criterion from predicted grades."""
    m = section["mny"]
    return [str(m["n"]), fmt_ci(as_number(m["accuracy"]), as_ci(m["accuracy_ci"]), digits), fmt(as_number(m["sensitivity"]), digits),
            fmt(as_number(m["specificity"]), digits)]
