"""Temperature scaling fitted on validation logits (the cut-off itself comes from
``sijscan.stats.cutoff.select_cutoff``, maximum accuracy: the paper's rule)."""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

T_BOUNDS = (0.05, 20.0)


def nll_at_temperature(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    lp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return float(-np.mean(lp[np.arange(len(y)), np.asarray(y, dtype=int)]))


def fit_temperature(*, logits: np.ndarray, y_true: np.ndarray) -> float:
    """The T in ``T_BOUNDS`` minimising the validation NLL of ``softmax(logits / T)`` (bounded 1-D search on log T)."""
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y_true, dtype=int)
    if len(y) == 0:
        return 1.0
    res = minimize_scalar(lambda lt: nll_at_temperature(logits, y, float(np.exp(lt))),
                          bounds=tuple(np.log(T_BOUNDS)), method="bounded", options={"xatol": 1e-5})
    return float(np.exp(res.x))


def probability(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax index 1 of ``logits / temperature``."""
    return softmax(np.asarray(logits, dtype=np.float64) / float(temperature), axis=1)[:, 1]
