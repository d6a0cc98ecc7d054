"""McNemar against statsmodels (exact binomial and chi-square with continuity correction)."""
import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from sijscan.stats.mcnemar import EXACT_BELOW, mcnemar_counts, mcnemar_paired


@pytest.mark.parametrize("b,c", [(0, 0), (1, 0), (3, 9), (10, 2), (12, 12), (30, 12), (40, 61), (5, 30)])
def test_matches_statsmodels(b, c):
    table = [[50, b], [c, 40]]
    ex = mcnemar_counts(b=b, c=c, exact=True)
    ref = sm_mcnemar(table, exact=True)
    assert ex.p == pytest.approx(ref.pvalue, abs=1e-9)
    assert ex.method == "exact binomial"
    if b + c:
        ch = mcnemar_counts(b=b, c=c, exact=False)
        ref = sm_mcnemar(table, exact=False, correction=True)
        assert ch.statistic == pytest.approx(ref.statistic, abs=1e-9)
        assert ch.p == pytest.approx(ref.pvalue, abs=1e-9)
        assert ch.method.startswith("chi-square")


def test_automatic_choice():
    assert mcnemar_counts(b=10, c=EXACT_BELOW - 11).method == "exact binomial"
    assert mcnemar_counts(b=10, c=EXACT_BELOW - 10).method.startswith("chi-square")


def test_paired_from_decisions():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    da = np.where(rng.random(200) < 0.8, y, 1 - y)
    db = np.where(rng.random(200) < 0.7, y, 1 - y)
    r = mcnemar_paired(y_true=y, decision_a=da, decision_b=db)
    ra, rb = da == y, db == y
    table = [[int((ra & rb).sum()), int((ra & ~rb).sum())], [int((~ra & rb).sum()), int((~ra & ~rb).sum())]]
    ref = sm_mcnemar(table, exact=r.method == "exact binomial", correction=True)
    assert r.p == pytest.approx(ref.pvalue, abs=1e-9)
    assert (r.b, r.c) == (table[0][1], table[1][0])
