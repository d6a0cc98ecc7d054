"""Stratified percentile bootstrap, vectorised with numpy count matrices.

Each resample draws ``m`` positives and ``n`` negatives with replacement (stratified by class,
so both classes keep their size). A resample is stored as how often each original case was
drawn: ``pos_counts`` (B, m) and ``neg_counts`` (B, n). Every statistic is then a matrix
product or a cumulative sum over these counts, so 1,000 resamples of a few hundred cases take
milliseconds. Two models scored on the same cases share one :class:`Resampler` (paired bootstrap).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sijscan._progress import progress_bar
from sijscan.stats.metrics import decide, rates_from_counts


def _counts(idx: np.ndarray, size: int) -> np.ndarray:
    """(B, k) draws -> (B, size) counts of each original index."""
    b = idx.shape[0]
    if size == 0:
        return np.zeros((b, 0))
    flat = (idx + size * np.arange(b)[:, None]).ravel()
    return np.bincount(flat, minlength=b * size).reshape(b, size).astype(float)


@dataclass(frozen=True)
class Ci:
    """A percentile interval; NaN with a reason when no resample gave a defined value."""

    low: float
    high: float
    n_undefined: int = 0
    reason: str | None = None

    def as_list(self) -> list[float]:
        return [self.low, self.high]


def percentile_ci(samples: np.ndarray, *, level: float = 0.95) -> Ci:
    """Percentile interval of ``samples``, ignoring NaN resamples (their count is reported)."""
    s = np.asarray(samples, dtype=float)
    ok = np.isfinite(s)
    n_bad = int((~ok).sum())
    if not ok.any():
        return Ci(float("nan"), float("nan"), n_bad, "undefined in every bootstrap resample")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(s[ok], [alpha, 1.0 - alpha])
    reason = f"{n_bad} of {s.size} resamples undefined and left out" if n_bad else None
    return Ci(float(low), float(high), n_bad, reason)


class Resampler:
    """One fixed set of stratified bootstrap resamples of the cases ``y_true``."""

    def __init__(self, *, y_true: np.ndarray, n_resamples: int = 1000, seed: int = 0) -> None:
        y = np.asarray(y_true).astype(int)
        self.pos = np.flatnonzero(y == 1)
        self.neg = np.flatnonzero(y == 0)
        self.n_resamples = int(n_resamples)
        self.seed = int(seed)
        rng = np.random.default_rng(seed)
        m, n = self.pos.size, self.neg.size
        self.pos_counts = _counts(rng.integers(0, max(m, 1), size=(n_resamples, m)), m)
        self.neg_counts = _counts(rng.integers(0, max(n, 1), size=(n_resamples, n)), n)

    @property
    def m(self) -> int:
        return int(self.pos.size)

    @property
    def n(self) -> int:
        return int(self.neg.size)

    def auc(self, scores: np.ndarray) -> np.ndarray:
        """AUC (ties count 1/2) in every resample, shape (B,); NaN when a class is empty."""
        s = np.asarray(scores, dtype=float)
        if self.m == 0 or self.n == 0:
            return np.full(self.n_resamples, np.nan)
        x, yneg = s[self.pos], s[self.neg]
        order = np.argsort(yneg, kind="mergesort")
        ys = yneg[order]
        cum = np.zeros((self.n_resamples, self.n + 1))
        np.cumsum(self.neg_counts[:, order], axis=1, out=cum[:, 1:])
        lo = np.searchsorted(ys, x, side="left")
        hi = np.searchsorted(ys, x, side="right")
        placement = cum[:, lo] + 0.5 * (cum[:, hi] - cum[:, lo])  # (B, m) weighted negatives below x_i
        return (self.pos_counts * placement).sum(axis=1) / (self.m * self.n)

    def at_cutoff(self, probability: np.ndarray, cutoff: float) -> dict[str, np.ndarray]:
        """Every threshold metric at ``cutoff`` in every resample; dict of (B,) arrays."""
        d = decide(probability, cutoff).astype(float)
        tp = self.pos_counts @ d[self.pos]
        fp = self.neg_counts @ d[self.neg]
        return rates_from_counts(tp=tp, fp=fp, tn=self.n - fp, fn=self.m - tp)

    def roc_band(self, scores: np.ndarray, *, fpr_grid: np.ndarray, level: float = 0.95,
                 progress: bool | None = False) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise percentile band of TPR at the given FPRs (vertical averaging of bootstrap ROCs).

        ``progress``: an n/N bar over the resamples (None: in a terminal only)."""
        s = np.asarray(scores, dtype=float)
        if self.m == 0 or self.n == 0:
            nan = np.full(fpr_grid.size, np.nan)
            return nan, nan
        uniq, inv = np.unique(s, return_inverse=True)
        inv = inv.ravel()
        k = uniq.size
        p_hist = np.zeros((k, self.n_resamples))
        n_hist = np.zeros((k, self.n_resamples))
        np.add.at(p_hist, inv[self.pos], self.pos_counts.T)
        np.add.at(n_hist, inv[self.neg], self.neg_counts.T)
        # thresholds from the highest score down: cumulative counts of cases scoring >= threshold
        tpr = np.vstack([np.zeros(self.n_resamples), np.cumsum(p_hist[::-1], axis=0) / self.m]).T
        fpr = np.vstack([np.zeros(self.n_resamples), np.cumsum(n_hist[::-1], axis=0) / self.n]).T
        curves = np.empty((self.n_resamples, fpr_grid.size))
        with progress_bar(total=self.n_resamples, desc="bootstrap ROC band", enabled=progress, unit="resample") as bar:
            for b in range(self.n_resamples):
                # right-continuous step: at a given FPR take the highest TPR reached
                idx = np.searchsorted(fpr[b], fpr_grid, side="right") - 1
                curves[b] = tpr[b][np.clip(idx, 0, k)]
                bar.update(1)
        alpha = (1.0 - level) / 2.0
        low, high = np.quantile(curves, [alpha, 1.0 - alpha], axis=0)
        return low, high
