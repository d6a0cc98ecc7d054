"""DeLong (Sun & Xu fast algorithm) against scikit-learn and a slow O(m*n) DeLong from the definition."""
import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from sijscan.stats.delong import delong_ci, delong_covariance, delong_test, midranks


def slow_delong(y, scores):
    """AUCs and covariance straight from DeLong et al. 1988: psi kernel, structural components."""
    y = np.asarray(y)
    scores = np.atleast_2d(scores)
    k = scores.shape[0]
    v10, v01, aucs = [], [], []
    for r in range(k):
        x = scores[r][y == 1]
        z = scores[r][y == 0]
        psi = np.zeros((x.size, z.size))
        for i in range(x.size):
            for j in range(z.size):
                psi[i, j] = 1.0 if x[i] > z[j] else (0.5 if x[i] == z[j] else 0.0)
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    v10, v01 = np.array(v10), np.array(v01)
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.array([[np.sum((v10[a] - aucs[a]) * (v10[b] - aucs[b])) / (m - 1) for b in range(k)] for a in range(k)])
    s01 = np.array([[np.sum((v01[a] - aucs[a]) * (v01[b] - aucs[b])) / (n - 1) for b in range(k)] for a in range(k)])
    return np.array(aucs), s10 / m + s01 / n


def test_midranks_ties():
    np.testing.assert_allclose(midranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0])), [4.0, 1.0, 4.0, 2.0, 4.0])
    np.testing.assert_allclose(midranks(np.array([0.5, 0.5])), stats.rankdata([0.5, 0.5]))


@pytest.mark.parametrize("seed,rounded", [(0, False), (1, True), (2, True)])
def test_fast_matches_sklearn_and_slow_definition(seed, rounded):
    rng = np.random.default_rng(seed)
    n = 90
    y = (rng.random(n) < 0.4).astype(int)
    a = rng.normal(size=n) + 1.0 * y
    b = 0.6 * a + rng.normal(size=n) * 0.8 + 0.5 * y
    if rounded:  # many ties
        a, b = np.round(a, 1), np.round(b, 0)
    fast = delong_covariance(y_true=y, scores=np.vstack([a, b]))
    aucs, cov = slow_delong(y, np.vstack([a, b]))
    assert fast.auc[0] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert fast.auc[1] == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    np.testing.assert_allclose(fast.auc, aucs, atol=1e-12)
    np.testing.assert_allclose(fast.covariance, cov, atol=1e-9, rtol=0)
    # the test statistic and p from the slow covariance
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    z = (aucs[1] - aucs[0]) / math.sqrt(var)
    p = 2 * stats.norm.sf(abs(z))
    t = delong_test(y_true=y, scores_a=a, scores_b=b)
    assert t.z == pytest.approx(z, abs=1e-9)
    assert t.p == pytest.approx(p, abs=1e-9)
    assert t.difference_ci[0] < t.difference < t.difference_ci[1]
    assert t.se_difference == pytest.approx(math.sqrt(var), abs=1e-9)


def test_single_auc_ci():
    rng = np.random.default_rng(5)
    y = np.r_[np.ones(40), np.zeros(60)].astype(int)
    s = rng.normal(size=100) + y
    ci = delong_ci(y_true=y, scores=s)
    aucs, cov = slow_delong(y, s)
    assert ci.auc == pytest.approx(aucs[0])
    assert ci.se == pytest.approx(math.sqrt(cov[0, 0]), abs=1e-12)
    assert ci.ci[0] == pytest.approx(aucs[0] - 1.959963984540054 * ci.se)


def test_undefined_with_reason():
    y = np.ones(10, dtype=int)
    ci = delong_ci(y_true=y, scores=np.linspace(0, 1, 10))
    assert math.isnan(ci.auc) and "positives" in ci.reason
    t = delong_test(y_true=np.r_[1, 0, 0, 0], scores_a=np.r_[0.9, 0.1, 0.2, 0.3], scores_b=np.r_[0.8, 0.1, 0.2, 0.3])
    assert math.isnan(t.p) and t.reason


def test_identical_models_give_nan_p_with_reason():
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(20), np.zeros(20)].astype(int)
    s = rng.random(40)
    t = delong_test(y_true=y, scores_a=s, scores_b=s)
    assert t.difference == 0 and math.isnan(t.p) and "zero variance" in t.reason


def test_fast_on_large_input():
    rng = np.random.default_rng(0)
    y = (rng.random(20000) < 0.3).astype(int)
    s = rng.random((2, 20000))
    res = delong_covariance(y_true=y, scores=s)
    assert res.covariance.shape == (2, 2)
    assert res.auc[0] == pytest.approx(roc_auc_score(y, s[0]), abs=1e-12)
