"""Per-side grade agreement of the grade head (exact, within one, quadratic kappa, mNY accuracy)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sijscan.evaluate.grades import (GradeInputError, grade_agreement, grade_rows, grades_section, mny_accuracy,
                                     side_agreement)
from sijscan.mny import mny_positive


def _qwk(t: np.ndarray, p: np.ndarray) -> float:
    """Quadratic weighted kappa written out (independent of sklearn)."""
    k = 5
    o = np.zeros((k, k))
    for a, b in zip(t, p):
        o[a, b] += 1
    w = np.array([[(i - j) ** 2 / (k - 1) ** 2 for j in range(k)] for i in range(k)])
    e = np.outer(o.sum(1), o.sum(0)) / o.sum()
    return 1 - (w * o).sum() / (w * e).sum()


def test_side_agreement_by_hand() -> None:
    true = [0, 1, 2, 3, 4, 2]
    pred = [0, 2, 2, 1, 4, None]   # last pair unknown: left out
    res = side_agreement(true, pred)
    assert res["n"] == 5
    assert res["exact"] == pytest.approx(3 / 5)          # 0, 2, 4
    assert res["within_one"] == pytest.approx(4 / 5)     # 3 -> 1 is off by two
    assert res["kappa_quadratic"] == pytest.approx(_qwk(np.array(true[:5]), np.array([0, 2, 2, 1, 4])))
    assert np.array(res["confusion"]).sum() == 5 and res["confusion"][3][1] == 1
    lo, hi = res["exact_ci"]
    assert lo < 0.6 < hi


def test_kappa_against_independent_formula_random() -> None:
    rng = np.random.default_rng(0)
    t = rng.integers(0, 5, 200)
    p = np.clip(t + rng.integers(-1, 2, 200), 0, 4)
    res = side_agreement(t.tolist(), p.tolist())
    assert res["kappa_quadratic"] == pytest.approx(_qwk(t, p))
    assert res["within_one"] == 1.0


def test_constant_raters_give_undefined_kappa() -> None:
    res = side_agreement([2, 2, 2], [2, 2, 2])
    assert res["exact"] == 1.0 and math.isnan(res["kappa_quadratic"]) and "kappa_quadratic_reason" in res


def test_grade_agreement_sides_pooled_and_mny() -> None:
    tl, tr = [0, 2, 3, 1], [1, 2, 0, 4]
    pl, pr = [0, 2, 2, 1], [1, 1, 0, 4]
    label = [mny_positive(a, b) for a, b in zip(tl, tr)]  # 0, 1, 1, 1
    res = grade_agreement(true_left=tl, true_right=tr, pred_left=pl, pred_right=pr, label=label)
    assert res["sides"]["left"]["exact"] == pytest.approx(3 / 4)
    assert res["sides"]["right"]["exact"] == pytest.approx(3 / 4)
    assert res["sides"]["both"]["n"] == 8 and res["sides"]["both"]["exact"] == pytest.approx(6 / 8)
    # predicted mNY: (0,1)->0, (2,1)->0, (2,0)->0, (1,4)->1; labels 0,1,1,1 -> 2 of 4 right
    m = res["mny"]
    assert m["accuracy"] == pytest.approx(0.5) and m["sensitivity"] == pytest.approx(1 / 3)
    assert m["specificity"] == 1.0
    assert len(grade_rows(res)) == 3


def test_bad_grades_raise() -> None:
    with pytest.raises(GradeInputError, match="0-4"):
        side_agreement([0, 5], [0, 1])
    with pytest.raises(GradeInputError, match="same length"):
        grade_agreement(true_left=[0], true_right=[0], pred_left=[0, 1], pred_right=[0])
    assert mny_accuracy(pred_left=[], pred_right=[], label=[])["n"] == 0


def _files(tmp_path: Path, *, with_grades: bool) -> tuple[Path, Path, pd.DataFrame]:
    rng = np.random.default_rng(3)
    n = 30
    gl, gr = rng.integers(0, 5, n), rng.integers(0, 5, n)
    man = pd.DataFrame({"image": [str(tmp_path / f"i{i}.png") for i in range(n)], "patient_id": [f"p{i}" for i in range(n)],
                        "label": [mny_positive(a, b) for a, b in zip(gl, gr)], "grade_left": gl, "grade_right": gr})
    man.to_csv(tmp_path / "m.csv", index=False)
    pl, pr = np.clip(gl + rng.integers(-1, 2, n), 0, 4), gr.copy()
    order = rng.permutation(n)  # the predictions file in another order than the manifest
    pred = pd.DataFrame({"image": man["image"].to_numpy()[order], "probability": rng.uniform(0, 1, n)})
    if with_grades:
        pred["grade_left"], pred["grade_right"] = pl[order], pr[order]
    pred.to_csv(tmp_path / "p.csv", index=False)
    return tmp_path / "p.csv", tmp_path / "m.csv", pd.DataFrame({"pl": pl, "pr": pr, "gl": gl, "gr": gr})


def test_grades_section_joins_predictions_to_manifest(tmp_path: Path) -> None:
    pred, man, truth = _files(tmp_path, with_grades=True)
    sec = grades_section(predictions=pred, manifests=[man])
    assert sec["available"]
    assert sec["sides"]["left"]["exact"] == pytest.approx((truth["pl"] == truth["gl"]).mean())
    assert sec["sides"]["right"]["exact"] == 1.0
    assert sec["sides"]["left"]["kappa_quadratic"] == pytest.approx(_qwk(truth["gl"].to_numpy(), truth["pl"].to_numpy()))
    mny_pred = [mny_positive(a, b) for a, b in zip(truth["pl"], truth["pr"])]
    mny_true = [mny_positive(a, b) for a, b in zip(truth["gl"], truth["gr"])]
    assert sec["mny"]["accuracy"] == pytest.approx(np.mean(np.array(mny_pred) == np.array(mny_true)))


def test_grades_section_without_grade_head_and_in_evaluate(tmp_path: Path) -> None:
    pred, man, _ = _files(tmp_path, with_grades=False)
    sec = grades_section(predictions=pred, manifests=[man])
    assert sec == {"available": False, "reason": "the predictions carry no grade_left/grade_right (no grade head)"}
    from sijscan.evaluate.api import evaluate_predictions

    pred, man, truth = _files(tmp_path, with_grades=True)
    res = evaluate_predictions(predictions=pred, manifest=man, cutoff=0.5, n_bootstrap=10)
    assert res["grades"]["available"] and res["grades"]["sides"]["right"]["exact"] == 1.0
