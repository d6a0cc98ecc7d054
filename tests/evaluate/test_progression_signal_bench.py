"""benchmarks/progression_signal.py on a hand-made study folder: AUCs among the baseline negatives with a
follow-up, the confident count, and a clear exit 2 for a folder without the cohort."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("progression_signal")


def _study(root: Path) -> Path:
    folder = root / "cohorts" / "gespic"
    folder.mkdir(parents=True)
    rows = []
    for i in range(10):
        label = int(i >= 8)  # 8 baseline negatives, 2 positives (left out)
        fu = None if i == 7 else int(i in (5, 6))  # one negative without follow-up; 5 and 6 progress
        lat = 0.2 * i
        rows.append({"image": f"images/p{i}.png", "label": label, "followup_label": fu, "latent_left": lat,
                     "latent_right": lat, "progression_risk": 0.1 * i, "grade_left": int(i >= 5), "grade_right": 1})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    images = [str(folder / r["image"]) for r in rows]
    for model, p in (("anatomy", [0.1 * i for i in range(10)]), ("standard", [0.9 - 0.1 * i for i in range(10)])):
        (root / "predict" / model).mkdir(parents=True)
        df = pd.DataFrame({"image": images, "probability": p})
        if model == "anatomy":  # a grade head: predicted grades (the reverse of the probability's order)
            df["grade_left"], df["grade_right"] = [9 - i for i in range(10)], 0
        df.to_csv(root / "predict" / model / "gespic.csv", index=False)
    return root


def test_signal_ranks_progressors_among_negatives_only(bench, tmp_path: Path):
    out = bench.signal(_study(tmp_path))
    assert out["n_negatives_with_followup"] == 7 and out["n_progressed"] == 2
    assert out["truth_auc"] == {"latent_sum": 1.0, "progression_risk": 1.0, "reader_grade_sum": 1.0}
    assert out["models"]["anatomy"]["auc_progression_grade_sum"] == 0.0
    assert out["models"]["standard"]["auc_progression_grade_sum"] is None
    assert out["models"]["anatomy"]["auc_progression"] == 1.0 and out["models"]["anatomy"]["rho_latent_sum"] == 1.0
    assert out["models"]["standard"]["auc_progression"] == 0.0
    assert out["models"]["anatomy"]["n_confident"] == 0 and out["models"]["standard"]["n_confident"] == 3


def test_missing_cohort_is_a_usage_error(bench, tmp_path: Path, capsys):
    assert bench.main([str(tmp_path)]) == 2
    assert "no cohort" in capsys.readouterr().err
    assert bench.main([str(_study(tmp_path / "s"))]) == 0
    assert json.loads(capsys.readouterr().out)["cohort"] == "gespic"


def test_a_cohort_without_the_phantoms_truth_is_refused_in_one_line(bench, tmp_path: Path, capsys):
    root = _study(tmp_path)
    manifest = root / "cohorts" / "gespic" / "manifest.csv"
    pd.read_csv(manifest).drop(columns=["latent_left", "progression_risk"]).to_csv(manifest, index=False)
    assert bench.main([str(root)]) == 2
    err = capsys.readouterr().err
    assert "not a phantom follow-up cohort (no latent_left, progression_risk)" in err and err.count("\n") == 1


def test_a_cohort_without_follow_up_is_refused_in_one_line(bench, tmp_path: Path, capsys):
    root = _study(tmp_path)
    manifest = root / "cohorts" / "gespic" / "manifest.csv"
    pd.read_csv(manifest).assign(followup_label=None).to_csv(manifest, index=False)
    assert bench.main([str(root)]) == 2
    assert "no baseline-negative patient with a follow-up" in capsys.readouterr().err
