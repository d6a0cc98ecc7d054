"""End-to-end: the three sub-commands on small synthetic predictions + manifests (no model needed)."""
import base64
import json
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from sijscan.cli.main import main
from sijscan.stats.delong import delong_test

COLUMNS = ["image", "patient_id", "cohort", "split", "label", "grade_left", "grade_right", "mask",
           "followup_label", "followup_grade_left", "followup_grade_right"]
PNG = b"\x89PNG\r\n\x1a\n"


def strict_load(path):
    def bad(name):
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(path.read_text(), parse_constant=bad)


def make_cohort(tmp_path, name, n, prevalence, seed, *, cohort_column=True, followup=None):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(int)
    y[:2], y[2:4] = 1, 0
    images = [str(tmp_path / name / f"img{i:03d}.png") for i in range(n)]
    man = pd.DataFrame({c: [""] * n for c in COLUMNS})
    man["image"], man["label"], man["patient_id"] = images, y, [f"{name}{i}" for i in range(n)]
    man["split"] = "test"
    man["cohort"] = name if cohort_column else ""
    if followup is not None:
        man["followup_label"] = followup
    path = tmp_path / f"{name}.csv"
    man.to_csv(path, index=False)
    pa = 1 / (1 + np.exp(-(1.0 * y - 0.5 + rng.normal(size=n))))
    pb = 1 / (1 + np.exp(-(2.0 * y - 1.0 + rng.normal(size=n))))
    return path, images, y, pa, pb


def write_preds(path, images, probs):
    pd.DataFrame({"image": images, "probability": probs}).to_csv(path, index=False)
    return path


class ImgParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])


def test_evaluate_writes_everything(tmp_path, capsys):
    man, images, y, pa, _ = make_cohort(tmp_path, "GESPIC", 120, 0.5, 0)
    preds = write_preds(tmp_path / "preds.csv", [f"GESPIC/img{i:03d}.png" for i in range(120)], pa)  # relative
    out = tmp_path / "ev"
    rc = main(["evaluate", "--predictions", str(preds), "--manifest", str(man), "--cutoff", "0.59",
               "--bootstrap", "300", "--seed", "1", "--out", str(out)])
    assert rc == 0
    m = strict_load(out / "metrics.json")
    for key in ("n", "n_positive", "auc", "auc_ci", "cutoff", "accuracy", "balanced_accuracy", "sensitivity",
                "specificity", "accuracy_ci", "balanced_accuracy_ci", "sensitivity_ci", "specificity_ci", "ppv_ci",
                "npv_ci", "mcc_ci", "f1_ci", "auc_ci_delong", "brier", "ece", "ece_bins", "cutoff_method", "data",
                "command", "confusion_matrix", "calibration_curve"):
        assert key in m, key
    from sklearn.metrics import roc_auc_score

    assert m["n"] == 120 and m["n_positive"] == int(y.sum())
    assert m["auc"] == pytest.approx(roc_auc_score(y, pa))
    assert m["auc_ci"][0] < m["auc"] < m["auc_ci"][1]
    assert m["cutoff"] == 0.59 and m["cutoff_method"] == "fixed"
    assert m["bootstrap"]["n_resamples"] == 300 and m["data"]["manifests"] == [str(man.resolve())]
    assert "--cutoff 0.59" in m["command"]
    pngs = ["roc.png", "confusion_matrix.png", "histogram.png", "calibration.png"]
    for name in pngs:
        assert (out / name).read_bytes()[:8] == PNG
        assert f"({name})" in (out / "report.md").read_text()
    parser = ImgParser()
    parser.feed((out / "report.html").read_text())
    assert len(parser.srcs) == 4
    for src in parser.srcs:
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1])
        assert data[:8] == PNG and len(data) > 1000
    assert "AUC" in capsys.readouterr().out


def test_evaluate_default_cutoff_warns_and_model_cutoff(tmp_path):
    man, images, y, pa, _ = make_cohort(tmp_path, "C", 40, 0.5, 1)
    preds = write_preds(tmp_path / "p.csv", images, pa)
    rc = main(["evaluate", "--predictions", str(preds), "--manifest", str(man), "--bootstrap", "50",
               "--out", str(tmp_path / "a")])
    m = strict_load(tmp_path / "a" / "metrics.json")
    assert rc == 0 and m["cutoff"] == 0.5 and m["cutoff_method"] == "default"
    assert any("0.5" in w for w in m["warnings"]) and "WARNING" in (tmp_path / "a" / "report.md").read_text()
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text(json.dumps({"format": "sijscan-model", "cutoff": 0.42}))
    rc = main(["evaluate", "--predictions", str(preds), "--manifest", str(man), "--model", str(model),
               "--bootstrap", "50", "--out", str(tmp_path / "b")])
    assert rc == 0 and strict_load(tmp_path / "b" / "metrics.json")["cutoff"] == 0.42


def test_evaluate_single_class_is_null_with_reason(tmp_path):
    man, images, y, pa, _ = make_cohort(tmp_path, "C", 30, 0.5, 2)
    df = pd.read_csv(man)
    df["label"] = 0
    df.to_csv(man, index=False)
    preds = write_preds(tmp_path / "p.csv", images, pa)
    assert main(["evaluate", "--predictions", str(preds), "--manifest", str(man), "--cutoff", "0.5",
                 "--bootstrap", "50", "--out", str(tmp_path / "o")]) == 0
    m = strict_load(tmp_path / "o" / "metrics.json")
    assert m["auc"] is None and "both classes" in m["auc_reason"]
    assert m["auc_ci"] == [None, None] and m["auc_ci_reason"]
    assert m["sensitivity"] is None and m["sensitivity_reason"] == "no positive cases"
    assert m["specificity"] is not None


def test_compare_three_cohorts(tmp_path, capsys):
    manifests, imgs, ys, pas, pbs = [], [], [], [], []
    for name, n, prev, seed in (("GESPIC", 80, 0.5, 10), ("DAMACT", 50, 0.3, 11), ("OptiRef", 60, 0.2, 12)):
        man, images, y, pa, pb = make_cohort(tmp_path, name, n, prev, seed, cohort_column=False)
        manifests += ["--manifest", str(man)]
        imgs += images
        ys.append(y), pas.append(pa), pbs.append(pb)
    a = write_preds(tmp_path / "a.csv", imgs, np.concatenate(pas))
    b = write_preds(tmp_path / "b.csv", imgs[::-1], np.concatenate(pbs)[::-1])  # order must not matter
    out = tmp_path / "cmp"
    rc = main(["compare", "--a", str(a), "--b", str(b), *manifests, "--name-a", "standard", "--name-b",
               "anatomy-aware", "--cutoff-a", "0.69", "--cutoff-b", "0.59", "--bootstrap", "200", "--out", str(out)])
    assert rc == 0
    stdout = capsys.readouterr().out
    assert stdout.count("| Cohort |") == 1
    for name in ("GESPIC", "DAMACT", "OptiRef", "all"):
        assert f"| {name} |" in stdout
    c = strict_load(out / "comparison.json")
    assert set(c["cohorts"]) == {"GESPIC", "DAMACT", "OptiRef", "all"}
    g = c["cohorts"]["GESPIC"]
    for key in ("auc_a", "auc_b", "delong_z", "delong_p", "mcnemar_p", "mcnemar_method", "auc_difference_ci",
                "balanced_accuracy_difference_ci", "sensitivity_difference_ci", "specificity_difference_ci"):
        assert key in g, key
    ref = delong_test(y_true=ys[0], scores_a=pas[0], scores_b=pbs[0])
    assert g["delong_p"] == pytest.approx(ref.p, abs=1e-12) and g["auc_b"] == pytest.approx(ref.auc_b)
    assert c["cohorts"]["all"]["n"] == 190
    assert (out / "table2.md").read_text().count("GESPIC") == 1
    csv = pd.read_csv(out / "table2.csv")
    assert len(csv) == 8 and set(csv["model"]) == {"standard", "anatomy-aware"}
    parser = ImgParser()
    parser.feed((out / "report.html").read_text())
    assert len(parser.srcs) == 4 and all(s.startswith("data:image/png;base64,") for s in parser.srcs)


def paper_counts_files(tmp_path):
    """135 baseline negatives with follow-up (25 progressed); A: 30 confident FP (12 progressed),
    B: 48 confident FP (11 progressed); plus 40 positives and 10 baseline negatives without follow-up."""
    n_neg, n_pos, n_nofu = 135, 40, 10
    n = n_neg + n_pos + n_nofu
    images = [str(tmp_path / "img" / f"{i:03d}.dcm") for i in range(n)]
    label = np.r_[np.zeros(n_neg), np.ones(n_pos), np.zeros(n_nofu)].astype(int)
    prog = np.zeros(n_neg, dtype=bool)
    prog[:12] = True          # confident for A (0..29), 12 progressed
    prog[30:41] = True        # 11 more -> B's confident set 30..77 holds 11 progressed
    prog[100:102] = True      # 2 more -> 25 progressed in all
    fu = np.r_[prog.astype(int).astype(str), np.ones(n_pos, dtype=int).astype(str), [""] * n_nofu]
    man = pd.DataFrame({c: [""] * n for c in COLUMNS})
    man["image"], man["label"], man["followup_label"] = images, label, fu
    man["patient_id"] = [f"p{i}" for i in range(n)]
    man.to_csv(tmp_path / "m.csv", index=False)
    pa = np.r_[np.full(30, 0.8), np.full(105, 0.2), np.full(n_pos, 0.9), np.full(n_nofu, 0.9)]
    pb = np.r_[np.full(30, 0.3), np.full(48, 0.75), np.full(57, 0.1), np.full(n_pos, 0.9), np.full(n_nofu, 0.9)]
    return tmp_path / "m.csv", write_preds(tmp_path / "a.csv", images, pa), write_preds(tmp_path / "b.csv", images, pb)


def test_progression_reproduces_paper_ratios(tmp_path, capsys):
    man, a, b = paper_counts_files(tmp_path)
    out = tmp_path / "prog"
    rc = main(["progression", "--predictions", str(a), "--b", str(b), "--manifest", str(man), "--name-a",
               "anatomy-aware", "--name-b", "standard", "--cutoff", "0.59", "--cutoff-b", "0.69",
               "--bootstrap", "200", "--out", str(out)])
    assert rc == 0
    r = strict_load(out / "progression.json")
    assert (r["n_baseline_negative"], r["n_confident_fp"], r["n_progressed_fp"], r["n_progressed"]) == (135, 30, 12, 25)
    assert round(r["paper_ratio"], 2) == 2.16 and round(r["b"]["paper_ratio"], 2) == 1.24
    for key in ("odds_ratio", "odds_ratio_ci", "relative_risk", "relative_risk_ci", "fisher_p"):
        assert key in r and key in r["b"]
    assert r["odds_ratio"] == pytest.approx(12 * 92 / (18 * 13))
    assert r["mcnemar_followup"]["n"] == 135 + 40
    table = (out / "progression.md").read_text()
    assert "2.16" in table and "1.24" in table
    assert "2.16" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["mismatch", "range", "missing", "nofollowup", "cutoff", "model", "bootstrap"])
def test_bad_input_exit_2_one_line(tmp_path, capsys, case):
    man, images, y, pa, _ = make_cohort(tmp_path, "C", 20, 0.5, 3)
    preds = write_preds(tmp_path / "p.csv", images, pa)
    args = ["evaluate", "--predictions", str(preds), "--manifest", str(man), "--bootstrap", "20",
            "--out", str(tmp_path / "o")]
    if case == "mismatch":
        write_preds(preds, images[:-1] + ["/nowhere/ghost.png"], pa)
    elif case == "range":
        write_preds(preds, images, np.r_[pa[:-1], 1.5])
    elif case == "missing":
        args[2] = str(tmp_path / "absent.csv")
    elif case == "nofollowup":
        args = ["progression", "--predictions", str(preds), "--manifest", str(man), "--out", str(tmp_path / "o")]
    elif case == "cutoff":
        args += ["--cutoff", "2"]
    elif case == "model":
        args += ["--model", str(tmp_path)]
    elif case == "bootstrap":
        args[6] = "0"
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sijscan ") and "error:" in err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err


def test_api_decision_column_and_in_sample_cutoff(tmp_path):
    from sijscan.evaluate.api import evaluate_predictions

    man, images, y, pa, _ = make_cohort(tmp_path, "C", 50, 0.5, 4)
    dec = (pa >= 0.5).astype(int)
    dec[0] = 1 - dec[0]
    pd.DataFrame({"image": images, "probability": pa, "decision": dec}).to_csv(tmp_path / "p.csv", index=False)
    r = evaluate_predictions(predictions=tmp_path / "p.csv", manifest=man, cutoff=0.5, n_bootstrap=50)
    assert r["decision_column"]["n_disagree"] == 1
    r = evaluate_predictions(predictions=tmp_path / "p.csv", manifest=man, cutoff_method="youden", n_bootstrap=50)
    assert r["cutoff_method"] == "youden" and any("optimistic" in w for w in r["warnings"])
    assert r["cutoff"] == pytest.approx(r["cutoffs_in_sample"]["youden"]["cutoff"])
    assert r["balanced_accuracy"] == pytest.approx(r["cutoffs_in_sample"]["max_balanced_accuracy"]["value"])


def test_compare_cohort_column_and_mismatched_files(tmp_path, capsys):
    man, images, y, pa, pb = make_cohort(tmp_path, "X", 60, 0.4, 5)
    df = pd.read_csv(man)
    df["cohort"] = ["one"] * 30 + ["two"] * 30
    df.to_csv(man, index=False)
    a = write_preds(tmp_path / "a.csv", images, pa)
    b = write_preds(tmp_path / "b.csv", images, pb)
    assert main(["compare", "--a", str(a), "--b", str(b), "--manifest", str(man), "--bootstrap", "50",
                 "--out", str(tmp_path / "o")]) == 0
    c = strict_load(tmp_path / "o" / "comparison.json")
    assert list(c["cohorts"]) == ["one", "two", "all"]
    assert any("0.5" in w for w in c["warnings"])  # default cut-offs flagged
    write_preds(b, images[:-3], pb[:-3])
    capsys.readouterr()
    assert main(["compare", "--a", str(a), "--b", str(b), "--manifest", str(man), "--bootstrap", "50",
                 "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip()
    assert "only in A" in err and "3 in all" in err and len(err.splitlines()) == 1


def test_compare_single_class_cohort_is_null_with_reasons(tmp_path):
    from sijscan.evaluate.api import compare_models
    from sijscan.evaluate.report import strict

    man, images, y, pa, pb = make_cohort(tmp_path, "X", 40, 0.4, 6)
    df = pd.read_csv(man)
    df["cohort"] = ["one"] * 20 + ["two"] * 20
    df.loc[20:, "label"] = 0
    df.to_csv(man, index=False)
    r = strict(compare_models(predictions_a=write_preds(tmp_path / "a.csv", images, pa),
                              predictions_b=write_preds(tmp_path / "b.csv", images, pb), manifests=[man],
                              cutoff_a=0.5, cutoff_b=0.5, n_bootstrap=30))
    two = r["cohorts"]["two"]
    assert two["auc_a"] is None and "both classes" in two["auc_a_reason"]
    assert two["delong_p"] is None and "DeLong needs" in two["delong_p_reason"]
    assert two["sensitivity_difference"] is None and two["sensitivity_difference_reason"] == "no positive cases"
    assert two["mcnemar_p"] is not None and r["cohorts"]["one"]["delong_p"] is not None
