"""McNemar's test on paired binary outcomes (e.g. whether each of two models was right)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

EXACT_BELOW = 25
"""Use the exact binomial test when the discordant pairs b + c are fewer than this."""


@dataclass(frozen=True)
class McNemar:
    b: int
    """pairs where A is right and B is wrong"""
    c: int
    """pairs where A is wrong and B is right"""
    n_pairs: int
    statistic: float
    p: float
    method: str
    """'exact binomial' or 'chi-square with continuity correction'"""


def mcnemar_counts(*, b: int, c: int, n_pairs: int | None = None, exact: bool | None = None) -> McNemar:
    """Two-sided McNemar test from the discordant counts.

    ``exact=None`` picks the exact binomial test when ``b + c < EXACT_BELOW``, else the chi-square
    test with continuity correction ``(|b - c| - 1)^2 / (b + c)`` on 1 degree of freedom.
    """
    nd = b + c
    if exact is None:
        exact = nd < EXACT_BELOW
    if exact:
        stat = float(min(b, c))
        p = 1.0 if nd == 0 else float(min(1.0, 2.0 * stats.binom.cdf(min(b, c), nd, 0.5)))
        method = "exact binomial"
    else:
        stat = (abs(b - c) - 1.0) ** 2 / nd if nd else float("nan")
        p = float(stats.chi2.sf(stat, 1)) if nd else 1.0
        method = "chi-square with continuity correction"
    return McNemar(b=int(b), c=int(c), n_pairs=int(n_pairs if n_pairs is not None else nd), statistic=stat,
                   p=p, method=method)


def mcnemar_paired(*, y_true: np.ndarray, decision_a: np.ndarray, decision_b: np.ndarray,
                   exact: bool | None = None) -> McNemar:
    """McNemar's test on whether model A and model B each classified a case correctly."""
    y = np.asarray(y_true).astype(int)
    ra = np.asarray(decision_a).astype(int) == y
    rb = np.asarray(decision_b).astype(int) == y
    return mcnemar_counts(b=int((ra & ~rb).sum()), c=int((~ra & rb).sum()), n_pairs=int(y.size), exact=exact)
