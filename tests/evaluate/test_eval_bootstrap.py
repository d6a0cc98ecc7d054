"""The vectorised stratified bootstrap: exact per-resample values, and CI coverage on simulated data."""
import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import confusion_matrix, roc_auc_score

from sijscan.stats.bootstrap import Resampler, _counts, percentile_ci


def _expand(counts, idx):
    return np.repeat(idx, counts.astype(int))


def test_per_resample_values_match_explicit_resamples():
    rng = np.random.default_rng(0)
    y = (rng.random(60) < 0.4).astype(int)
    p = np.round(rng.random(60), 1)  # ties
    rs = Resampler(y_true=y, n_resamples=25, seed=3)
    aucs = rs.auc(p)
    at = rs.at_cutoff(p, 0.5)
    for b in range(25):
        ix = np.r_[_expand(rs.pos_counts[b], rs.pos), _expand(rs.neg_counts[b], rs.neg)]
        assert ix.size == y.size
        assert (y[ix] == 1).sum() == (y == 1).sum()  # stratified
        assert aucs[b] == pytest.approx(roc_auc_score(y[ix], p[ix]), abs=1e-12)
        tn, fp, fn, tp = confusion_matrix(y[ix], (p[ix] >= 0.5).astype(int), labels=[0, 1]).ravel()
        assert at["sensitivity"][b] == pytest.approx(tp / (tp + fn))
        assert at["specificity"][b] == pytest.approx(tn / (tn + fp))


def test_counts_rows_sum_to_draws():
    idx = np.random.default_rng(0).integers(0, 7, size=(5, 7))
    c = _counts(idx, 7)
    assert c.shape == (5, 7) and (c.sum(axis=1) == 7).all()
    assert c[2, idx[2, 0]] >= 1


def test_seed_reproducible():
    y = np.r_[np.ones(30), np.zeros(30)].astype(int)
    p = np.random.default_rng(0).random(60)
    a = Resampler(y_true=y, n_resamples=50, seed=7).auc(p)
    b = Resampler(y_true=y, n_resamples=50, seed=7).auc(p)
    c = Resampler(y_true=y, n_resamples=50, seed=8).auc(p)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_percentile_ci_nan_handling():
    ci = percentile_ci(np.r_[np.nan, np.arange(100.0)])
    assert ci.n_undefined == 1 and "1 of 101" in ci.reason
    assert ci.low == pytest.approx(np.quantile(np.arange(100.0), 0.025))
    allnan = percentile_ci(np.full(10, np.nan))
    assert math.isnan(allnan.low) and allnan.reason


def test_single_class_auc_nan():
    rs = Resampler(y_true=np.zeros(20, dtype=int), n_resamples=10, seed=0)
    assert np.isnan(rs.auc(np.linspace(0, 1, 20))).all()
    assert np.isnan(rs.at_cutoff(np.linspace(0, 1, 20), 0.5)["sensitivity"]).all()


def test_roc_band_brackets_curve():
    rng = np.random.default_rng(1)
    y = np.r_[np.ones(80), np.zeros(80)].astype(int)
    s = rng.normal(size=160) + y
    grid = np.linspace(0, 1, 51)
    low, high = Resampler(y_true=y, n_resamples=200, seed=0).roc_band(s, fpr_grid=grid)
    assert (low <= high).all() and low[-1] == pytest.approx(1.0) and high[0] >= 0
    assert (np.diff(low) >= -1e-12).all()


def test_coverage_near_95_percent():
    """200 simulated binormal data sets with known AUC and sensitivity; 300 resamples each."""
    mu, cut = 1.0, 0.5
    true_auc = stats.norm.cdf(mu / math.sqrt(2))
    true_sens = stats.norm.sf(cut - mu)
    rng = np.random.default_rng(2024)
    hit_auc = hit_sens = 0
    n_sets = 200
    for i in range(n_sets):
        y = np.r_[np.ones(80), np.zeros(80)].astype(int)
        s = rng.normal(size=160) + mu * y
        rs = Resampler(y_true=y, n_resamples=300, seed=i)
        ca = percentile_ci(rs.auc(s))
        cs = percentile_ci(rs.at_cutoff(s, cut)["sensitivity"])
        hit_auc += ca.low <= true_auc <= ca.high
        hit_sens += cs.low <= true_sens <= cs.high
    assert 0.90 <= hit_auc / n_sets <= 0.99
    assert 0.90 <= hit_sens / n_sets <= 0.99
