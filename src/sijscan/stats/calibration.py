"""Brier score, expected calibration error (equal-width bins) and the calibration curve."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_BINS = 10


@dataclass
class Calibration:
    brier: float
    ece: float
    n_bins: int
    """Equal-width bins on [0, 1]; the last bin includes 1.0."""
    bin_edges: list[float]
    bin_count: list[int]
    mean_predicted: list[float]
    """Per bin; NaN for an empty bin."""
    fraction_positive: list[float]
    reason: str | None = None


def calibration(*, y_true: np.ndarray, probability: np.ndarray, n_bins: int = DEFAULT_BINS) -> Calibration:
    """Brier score, ECE = sum_b (n_b / N) |mean predicted_b - fraction positive_b|, and per-bin data."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(probability, dtype=float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    if y.size == 0:
        nan = float("nan")
        return Calibration(nan, nan, n_bins, edges.tolist(), [0] * n_bins, [nan] * n_bins, [nan] * n_bins,
                           reason="no cases")
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(which, weights=p, minlength=n_bins) / count
        frac = np.bincount(which, weights=y, minlength=n_bins) / count
    ece = float(np.nansum(count / y.size * np.abs(mean_p - frac)))
    return Calibration(brier=float(np.mean((p - y) ** 2)), ece=ece, n_bins=n_bins, bin_edges=edges.tolist(),
                       bin_count=count.tolist(), mean_predicted=mean_p.tolist(), fraction_positive=frac.tolist())
