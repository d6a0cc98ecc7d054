"""Progression of confident false positives: the paper's counts, Fisher, Woolf/Katz CIs, Haldane."""
import math

import numpy as np
import pytest
from scipy.stats import fisher_exact
from statsmodels.stats.contingency_tables import Table2x2

from sijscan.evaluate.errors import NoFollowupError
from sijscan.evaluate.progression import (fisher_exact_p, odds_ratio_woolf, progression_analysis,
                                          relative_risk_katz)


def cohort(n_conf, n_conf_prog, n_neg=135, n_prog=25, n_pos=20, n_no_fu=7):
    """Baseline negatives with follow-up, confident FPs at p=0.8, others at p=0.3; plus positives
    and baseline negatives without follow-up (both must be ignored)."""
    p = np.r_[np.full(n_conf, 0.8), np.full(n_neg - n_conf, 0.3), np.full(n_pos, 0.9), np.full(n_no_fu, 0.95)]
    label = np.r_[np.zeros(n_neg), np.ones(n_pos), np.zeros(n_no_fu)]
    fu = np.r_[np.ones(n_conf_prog), np.zeros(n_conf - n_conf_prog), np.ones(n_prog - n_conf_prog),
               np.zeros(n_neg - n_conf - (n_prog - n_conf_prog)), np.ones(n_pos), np.full(n_no_fu, np.nan)]
    return {"probability": p, "label": label, "followup_label": fu}


def test_paper_ratio_anatomy_aware():
    r = progression_analysis(**cohort(30, 12))
    assert (r.n_baseline_negative, r.n_confident_fp, r.n_progressed_fp, r.n_progressed) == (135, 30, 12, 25)
    assert r.n_baseline_negative_without_followup == 7
    assert round(r.paper_ratio, 2) == 2.16
    assert r.paper_ratio == pytest.approx((12 / 30) / (25 / 135))


def test_paper_ratio_standard():
    r = progression_analysis(**cohort(48, 11))
    assert round(r.paper_ratio, 2) == 1.24
    assert r.table == {"confident_fp_progressed": 11, "confident_fp_not_progressed": 37,
                       "rest_progressed": 14, "rest_not_progressed": 73}


def test_woolf_and_katz_by_hand():
    # a=12 b=18 c=13 d=92 (the paper's anatomy-aware counts)
    # OR = 12*92/(18*13) = 4.717949; SE(log OR) = sqrt(1/12+1/18+1/13+1/92) = 0.476111
    # CI = exp(ln 4.717949 -/+ 1.959964*0.476111) = 1.855611, 11.995532
    # RR = (12/30)/(13/105) = 3.230769; SE(log RR) = sqrt(1/12-1/30+1/13-1/105) = 0.342636
    # CI = 1.650646, 6.323507
    r = progression_analysis(**cohort(30, 12))
    assert r.odds_ratio == pytest.approx(4.717949, abs=1e-6)
    assert r.odds_ratio_ci == pytest.approx((1.855611, 11.995532), abs=1e-5)
    assert r.relative_risk == pytest.approx(3.230769, abs=1e-6)
    assert r.relative_risk_ci == pytest.approx((1.650646, 6.323507), abs=1e-5)
    assert not r.haldane_correction
    t = Table2x2(np.array([[12, 18], [13, 92]]))
    assert r.odds_ratio_ci == pytest.approx(t.oddsratio_confint(), rel=1e-9)
    assert r.relative_risk_ci == pytest.approx(t.riskratio_confint(), rel=1e-9)


@pytest.mark.parametrize("table", [[[12, 18], [13, 92]], [[11, 37], [14, 73]], [[0, 5], [9, 3]], [[3, 0], [1, 7]],
                                   [[1, 1], [1, 1]], [[0, 0], [4, 6]], [[20, 2], [3, 40]]])
def test_fisher_matches_scipy(table):
    (a, b), (c, d) = table
    assert fisher_exact_p(a=a, b=b, c=c, d=d) == pytest.approx(fisher_exact(table).pvalue, abs=1e-12)


def test_haldane_when_a_cell_is_zero():
    # 10 confident FP, none progressed -> a = 0
    r = progression_analysis(**cohort(10, 0, n_neg=50, n_prog=8))
    assert r.haldane_correction and "haldane_correction" in r.reasons
    # Haldane-Anscombe adds 0.5 to EVERY cell (statsmodels' shift_zeros only shifts the zero cells)
    t = Table2x2(np.array([[0, 10], [8, 32]]) + 0.5)
    assert r.odds_ratio == pytest.approx(t.oddsratio)
    assert r.odds_ratio_ci == pytest.approx(t.oddsratio_confint(), rel=1e-9)
    assert r.odds_ratio == pytest.approx(0.5 * 32.5 / (10.5 * 8.5))
    assert r.relative_risk_ci == pytest.approx(t.riskratio_confint(), rel=1e-9)
    assert r.paper_ratio == 0.0
    assert r.fisher_p == pytest.approx(fisher_exact([[0, 10], [8, 32]]).pvalue)


def test_direct_functions_refuse_zero_cells():
    assert math.isnan(odds_ratio_woolf(a=0, b=1, c=1, d=1).value)
    assert math.isnan(relative_risk_katz(a=0, b=1, c=1, d=1).value)


def test_no_confident_fp_gives_nan_with_reason():
    r = progression_analysis(**cohort(0, 0))
    assert math.isnan(r.paper_ratio) and "no confident false positive" in r.reasons["paper_ratio"]
    assert math.isnan(r.odds_ratio) and r.reasons["odds_ratio"]


def test_no_followup_raises():
    with pytest.raises(NoFollowupError, match="follow-up"):
        progression_analysis(probability=np.r_[0.1, 0.9], label=np.r_[0, 0], followup_label=np.r_[np.nan, np.nan])


def test_bootstrap_cis_bracket_estimates():
    r = progression_analysis(**cohort(30, 12), n_bootstrap=400, seed=1)
    bt = r.bootstrap
    assert bt["n_resamples"] == 400
    lo, hi = bt["paper_ratio_ci"]
    assert lo < r.paper_ratio < hi
    lo, hi = bt["odds_ratio_ci"]
    assert lo < r.odds_ratio < hi
