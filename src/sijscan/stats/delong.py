"""DeLong's AUC variance and test for correlated AUCs, fast algorithm of Sun and Xu (2014).

Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the areas under correlated
receiver operating characteristic curves. IEEE Signal Process Lett 2014;21(11):1389-93.

With ``m`` positives and ``n`` negatives, the structural components are
``V10[i] = mean_j psi(X_i, Y_j)`` (one per positive) and ``V01[j] = mean_i psi(X_i, Y_j)`` (one per
negative), ``psi(x, y) = 1 if x > y, 1/2 if x == y, 0 otherwise``. Sun and Xu get them from midranks
in O((m + n) log(m + n)): ``V10 = (Z[:m] - X) / n`` and ``V01 = 1 - (Z[m:] - Y) / m`` where Z, X,
Y are the midranks of a score among all, positive and negative scores. The AUC covariance is
``S10 / m + S01 / n`` with S10, S01 the sample covariances (ddof 1) of V10 and V01.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


def midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their mean rank (vectorised; O(n log n))."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    n = xs.size
    if n == 0:
        return np.empty(0)
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], n]  # exclusive
    mean_rank = (starts + ends + 1) / 2.0  # mean of (start+1 .. end)
    ranks_sorted = np.repeat(mean_rank, ends - starts)
    out = np.empty(n)
    out[order] = ranks_sorted
    return out


@dataclass(frozen=True)
class DelongResult:
    """AUCs of k score vectors on the same cases and their DeLong covariance matrix (k x k)."""

    auc: np.ndarray
    covariance: np.ndarray
    v10: np.ndarray
    """Structural components over positives, shape (k, m)."""
    v01: np.ndarray
    """Structural components over negatives, shape (k, n)."""


def delong_covariance(*, y_true: np.ndarray, scores: np.ndarray) -> DelongResult:
    """AUCs and DeLong covariance for ``scores`` of shape (k, N) or (N,) against binary ``y_true``.

    Needs at least two positives and two negatives (raises ``ValueError`` otherwise; callers turn
    that into NaN with a reason).
    """
    y = np.asarray(y_true).astype(int)
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    pos, neg = s[:, y == 1], s[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        raise ValueError(f"DeLong needs >= 2 positives and >= 2 negatives (have {m} and {n})")
    k = s.shape[0]
    tx = np.empty((k, m))
    ty = np.empty((k, n))
    tz = np.empty((k, m + n))
    for r in range(k):
        tx[r] = midranks(pos[r])
        ty[r] = midranks(neg[r])
        tz[r] = midranks(np.concatenate([pos[r], neg[r]]))
    auc = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2.0) / n
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    s10 = np.atleast_2d(np.cov(v10, ddof=1))
    s01 = np.atleast_2d(np.cov(v01, ddof=1))
    return DelongResult(auc=auc, covariance=s10 / m + s01 / n, v10=v10, v01=v01)


@dataclass(frozen=True)
class AucCi:
    auc: float
    se: float
    ci: tuple[float, float]
    reason: str | None = None


def delong_ci(*, y_true: np.ndarray, scores: np.ndarray, level: float = 0.95) -> AucCi:
    """AUC with a Wald CI from DeLong's variance, clipped to [0, 1]; NaN with a reason if undefined."""
    try:
        res = delong_covariance(y_true=y_true, scores=scores)
    except ValueError as exc:
        nan = float("nan")
        return AucCi(auc=nan, se=nan, ci=(nan, nan), reason=str(exc))
    auc = float(res.auc[0])
    se = math.sqrt(max(float(res.covariance[0, 0]), 0.0))
    z = stats.norm.ppf(0.5 + level / 2.0)
    return AucCi(auc=auc, se=se, ci=(max(0.0, auc - z * se), min(1.0, auc + z * se)))


@dataclass(frozen=True)
class DelongTest:
    """Two-sided DeLong test of AUC_a == AUC_b on the same cases."""

    auc_a: float
    auc_b: float
    difference: float
    """auc_b - auc_a"""
    se_difference: float
    difference_ci: tuple[float, float]
    z: float
    p: float
    reason: str | None = None


def delong_test(*, y_true: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray,
                level: float = 0.95) -> DelongTest:
    """DeLong's test for two correlated AUCs; ``z = (AUC_b - AUC_a) / SE``, p two-sided."""
    nan = float("nan")
    try:
        res = delong_covariance(y_true=y_true, scores=np.vstack([scores_a, scores_b]))
    except ValueError as exc:
        return DelongTest(nan, nan, nan, nan, (nan, nan), nan, nan, reason=str(exc))
    a, b = float(res.auc[0]), float(res.auc[1])
    c = res.covariance
    var = float(c[0, 0] + c[1, 1] - 2.0 * c[0, 1])
    diff = b - a
    if not var > 1e-15:
        reason = "the two models' AUC difference has zero variance (identical rankings)"
        return DelongTest(a, b, diff, 0.0, (diff, diff), nan, nan, reason=reason)
    se = math.sqrt(var)
    z = diff / se
    p = float(2.0 * stats.norm.sf(abs(z)))
    q = stats.norm.ppf(0.5 + level / 2.0)
    return DelongTest(a, b, diff, se, (diff - q * se, diff + q * se), z, p)
