"""Issue 25 item 7: one rule for QC-withheld images in ``sijscan evaluate`` and the study.

Every image with a probability is analysed (a withheld one is positive when probability >= cut-off, as
the study always did); beside it the same analysis without the QC-withheld images. Failed rows stay out.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from sijscan.evaluate.api import evaluate_predictions
from sijscan.evaluate.predictions import qc_withheld_rows, read_predictions
from sijscan.predict.prediction import Prediction
from sijscan.predict.table import CSV_COLUMNS, prediction_row
from sijscan.study.predict_stage import _prediction_rows

CUTOFF = 0.5


def _predictions(tmp_path: Path) -> tuple[list[Prediction], Path]:
    """12 labelled images: 3 withheld by QC (one a positive with probability 0.9), one failed."""
    rng = np.random.default_rng(3)
    label = np.array([1, 0] * 6)
    prob = np.clip(0.5 + 0.25 * (label - 0.5) + rng.normal(0, 0.2, label.size), 0.01, 0.99).round(6)
    withheld = {2, 5, 8}
    prob[2], label[2] = 0.9, 1  # withheld positive above the cut-off: a true positive of the main analysis
    preds = []
    for i, (y, p) in enumerate(zip(label, prob)):
        ok = i not in withheld
        preds.append(Prediction(image=f"img{i:02d}.png", probability=float(p), cutoff=CUTOFF, qc_passed=ok,
                                decision=int(p >= CUTOFF) if ok else None,
                                qc_flags=[] if ok else ["noise_like"]))
    preds.append(Prediction(image="broken.png", error="cannot read"))
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"image": [p.image for p in preds], "label": [*label, 1]}).to_csv(manifest, index=False)
    return preds, manifest


def _predict_csv(preds: list[Prediction], path: Path) -> Path:
    pd.DataFrame([prediction_row(p) for p in preds], columns=CSV_COLUMNS).to_csv(path, index=False)
    return path


def _study_csv(preds: list[Prediction], path: Path) -> Path:
    """As the study's predict stage writes a set: failed images dropped, no 'decision' column."""
    df = pd.DataFrame(_prediction_rows(preds))
    df[df["probability"].notna()].drop(columns=["decision"]).to_csv(path, index=False)
    return path


def test_qc_withheld_rows_reads_qc_passed_or_predicts_empty_decision() -> None:
    df = pd.DataFrame({"image": list("abcd"), "probability": [0.1, 0.2, None, 0.4],
                       "qc_passed": ["true", "false", "", "False"], "error": ["", "", "boom", ""]})
    assert qc_withheld_rows(df).tolist() == [False, True, False, True]  # a failed row is never "withheld"
    old = pd.DataFrame({"image": list("ab"), "probability": [0.1, 0.2], "decision": [1, None], "error": ["", ""]})
    assert qc_withheld_rows(old).tolist() == [False, True]
    foreign = pd.DataFrame({"image": list("ab"), "probability": [0.1, 0.2], "decision": [1, None]})
    assert qc_withheld_rows(foreign).tolist() == [False, False]


def test_evaluate_and_the_study_format_follow_one_rule(tmp_path: Path) -> None:
    preds, manifest = _predictions(tmp_path)
    results = [evaluate_predictions(predictions=make(preds, tmp_path / name), manifest=manifest, cutoff=CUTOFF,
                                    n_bootstrap=20, seed=0)
               for make, name in ((_predict_csv, "predictions.csv"), (_study_csv, "study_set.csv"))]
    truth = pd.read_csv(manifest).iloc[:12]
    y, p = truth["label"].to_numpy(), np.array([x.probability for x in preds[:12]])
    passed = np.array([x.qc_passed for x in preds[:12]])
    # the failed image: left out and counted (the study drops it before evaluate and counts it itself)
    assert [r["data"]["n_failed_excluded"] for r in results] == [1, 0]
    for res in results:
        # main analysis: every image with a probability, withheld ones decided by probability >= cut-off
        assert res["n"] == 12
        assert res["auc"] == pytest.approx(roc_auc_score(y, p))
        assert res["tp"] == int(((p >= CUTOFF) & (y == 1)).sum())
        assert res["data"]["n_qc_withheld"] == 3
        # beside it: the same analysis without the QC-withheld images, at the same cut-off
        q = res["qc_excluded"]
        assert q["n"] == 9 and q["n_qc_withheld_excluded"] == 3
        assert q["auc"] == pytest.approx(roc_auc_score(y[passed], p[passed]))
        assert q["sensitivity"] == pytest.approx(((p >= CUTOFF) & (y == 1) & passed).sum() / ((y == 1) & passed).sum())
        assert q["auc"] != pytest.approx(res["auc"])
    a, b = results
    for key in ("n", "auc", "auc_ci", "sensitivity", "specificity", "mcc"):
        assert a[key] == b[key] and a["qc_excluded"][key] == b["qc_excluded"][key]
    assert a["decision_column"]["n_disagree"] == 0  # withheld rows (no decision) are not compared


def test_withheld_rows_keep_their_empty_decision_but_a_foreign_empty_decision_is_an_error(tmp_path: Path) -> None:
    preds, _ = _predictions(tmp_path)
    read = read_predictions(_predict_csv(preds, tmp_path / "predictions.csv"))
    assert read.table["qc_withheld"].sum() == 3 and len(read.table) == 12
    assert read.table.loc[read.table["qc_withheld"], "decision"].isna().all()


def test_the_analysis_beside_says_so_when_qc_withheld_every_image() -> None:
    from sijscan.evaluate.summary import qc_excluded_summary
    from sijscan.stats.cutoff import resolve_cutoff

    y, p = np.array([0, 1, 0, 1]), np.array([0.2, 0.8, 0.4, 0.6])
    spec = resolve_cutoff(cutoff=CUTOFF, model_dir=None, method=None, y_true=y, probability=p)
    q = qc_excluded_summary(y_true=y, probability=p, withheld=np.ones(4, bool), cutoff=spec, everything={},
                            n_bootstrap=10, seed=0)
    assert q["n"] == 0 and q["n_qc_withheld_excluded"] == 4 and np.isnan(q["auc"]) and "every image" in q["auc_reason"]
