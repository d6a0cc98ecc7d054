"""Threshold metrics, calibration and cut-off selection against scikit-learn and hand examples."""
import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, brier_score_loss, f1_score,
                             matthews_corrcoef, precision_score, recall_score, roc_auc_score)

from sijscan.stats.calibration import calibration
from sijscan.stats.cutoff import candidate_cutoffs, resolve_cutoff, select_cutoff
from sijscan.evaluate.errors import CutoffError
from sijscan.stats.metrics import auc_midrank, metrics_at_cutoff


def test_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.3).astype(int)
    p = np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1)
    r = metrics_at_cutoff(y_true=y, probability=p, cutoff=0.45)
    d = (p >= 0.45).astype(int)
    v = r.values
    assert v["accuracy"] == pytest.approx(accuracy_score(y, d))
    assert v["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, d))
    assert v["sensitivity"] == pytest.approx(recall_score(y, d))
    assert v["specificity"] == pytest.approx(recall_score(1 - y, 1 - d))
    assert v["ppv"] == pytest.approx(precision_score(y, d))
    assert v["npv"] == pytest.approx(precision_score(1 - y, 1 - d))
    assert v["mcc"] == pytest.approx(matthews_corrcoef(y, d))
    assert v["f1"] == pytest.approx(f1_score(y, d))
    assert auc_midrank(y_true=y, scores=np.round(p, 1)) == pytest.approx(roc_auc_score(y, np.round(p, 1)))
    assert not r.reasons


def test_cutoff_is_inclusive():
    r = metrics_at_cutoff(y_true=np.array([1, 0]), probability=np.array([0.5, 0.49]), cutoff=0.5)
    assert (r.confusion.tp, r.confusion.tn) == (1, 1)


def test_undefined_metrics_have_reasons():
    r = metrics_at_cutoff(y_true=np.zeros(5, dtype=int), probability=np.full(5, 0.1), cutoff=0.5)
    assert math.isnan(r.values["sensitivity"]) and r.reasons["sensitivity"] == "no positive cases"
    assert math.isnan(r.values["ppv"]) and "predicted positive" in r.reasons["ppv"]
    assert math.isnan(r.values["mcc"]) and "mcc" in r.reasons
    assert r.values["specificity"] == 1.0 and "specificity" not in r.reasons
    assert math.isnan(auc_midrank(y_true=np.zeros(5), scores=np.arange(5.0)))


def test_calibration_matches_sklearn():
    rng = np.random.default_rng(1)
    p = rng.random(500)
    y = (rng.random(500) < p ** 1.5).astype(int)
    c = calibration(y_true=y, probability=p, n_bins=10)
    assert c.brier == pytest.approx(brier_score_loss(y, p))
    frac, mean_p = calibration_curve(y, p, n_bins=10, strategy="uniform")
    got_mp = np.array(c.mean_predicted)[np.array(c.bin_count) > 0]
    got_fr = np.array(c.fraction_positive)[np.array(c.bin_count) > 0]
    np.testing.assert_allclose(got_mp, mean_p)
    np.testing.assert_allclose(got_fr, frac)
    ece = sum(n / 500 * abs(m - f) for n, m, f in zip(c.bin_count, c.mean_predicted, c.fraction_positive) if n)
    assert c.ece == pytest.approx(ece)
    assert sum(c.bin_count) == 500


def test_calibration_includes_one_in_last_bin():
    c = calibration(y_true=np.array([1, 0]), probability=np.array([1.0, 0.0]), n_bins=4)
    assert c.bin_count == [1, 0, 0, 1] and c.ece == 0.0 and c.brier == 0.0


# ---- cut-off selection on a tiny hand example ---------------------------------------------------
#  p:   0.1  0.3  0.4  0.6  0.8  0.9
#  y:    0    0    1    0    1    1
# candidates (midpoints): 0.05 0.2 0.35 0.5 0.7 0.85 0.95
# accuracy:               3/6  4/6  5/6  4/6 5/6  4/6  3/6   -> tie 0.35 / 0.7, lowest = 0.35
# sens+spec-1 at 0.35: 1 + 2/3 - 1 = 0.667; at 0.7: 2/3 + 1 - 1 = 0.667 -> tie again, lowest 0.35
P = np.array([0.1, 0.3, 0.4, 0.6, 0.8, 0.9])
Y = np.array([0, 0, 1, 0, 1, 1])


def test_candidates_are_midpoints():
    np.testing.assert_allclose(candidate_cutoffs(P), [0.05, 0.2, 0.35, 0.5, 0.7, 0.85, 0.95])
    assert candidate_cutoffs(np.array([0.0, 1.0]))[-1] > 1.0


@pytest.mark.parametrize("method", ["max_accuracy", "max_balanced_accuracy", "youden"])
def test_hand_example(method):
    ch = select_cutoff(y_true=Y, probability=P, method=method)
    assert ch.cutoff == pytest.approx(0.35)
    assert ch.n_tied == 2 and ch.tied_high == pytest.approx(0.7)
    assert ch.cutoff_method == method
    expected = {"max_accuracy": 5 / 6, "max_balanced_accuracy": 5 / 6, "youden": 2 / 3}[method]
    assert ch.value == pytest.approx(expected)


def test_balanced_accuracy_differs_from_accuracy_when_imbalanced():
    # 1 positive at 0.5; 8 negatives below 0.4 and 1 at 0.9: accuracy prefers "all negative"
    p = np.array([0.5, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.35, 0.35, 0.9, 0.95, 0.97])
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    acc = select_cutoff(y_true=y, probability=p, method="max_accuracy")
    bal = select_cutoff(y_true=y, probability=p, method="max_balanced_accuracy")
    assert acc.cutoff > 0.97 and acc.value == pytest.approx(11 / 12)
    assert bal.cutoff == pytest.approx(0.425) and bal.value == pytest.approx((1 + 8 / 11) / 2)


def test_cutoff_errors_and_sources(tmp_path):
    with pytest.raises(CutoffError, match="unknown cut-off method"):
        select_cutoff(y_true=Y, probability=P, method="best")
    with pytest.raises(CutoffError, match="both classes"):
        select_cutoff(y_true=np.zeros(3), probability=np.arange(3) / 3, method="youden")
    assert resolve_cutoff().warning and resolve_cutoff().cutoff == 0.5
    assert resolve_cutoff(cutoff=0.59).cutoff_method == "fixed"
    with pytest.raises(CutoffError, match="no model.json"):
        resolve_cutoff(model_dir=tmp_path)
    (tmp_path / "model.json").write_text('{"cutoff": null}')
    with pytest.raises(CutoffError, match="no numeric 'cutoff'"):
        resolve_cutoff(model_dir=tmp_path)
    (tmp_path / "model.json").write_text('{"cutoff": 0.69}')
    assert resolve_cutoff(model_dir=tmp_path).cutoff == 0.69
    (tmp_path / "model.json").write_text('{"cutoff": 1.5}')
    with pytest.raises(CutoffError, match=r"\[0, 1\]"):
        resolve_cutoff(model_dir=tmp_path)
    chosen = resolve_cutoff(method="max_accuracy", y_true=Y, probability=P)
    assert chosen.cutoff == pytest.approx(0.35) and "optimistic" in chosen.warning
