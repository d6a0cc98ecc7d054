"""benchmarks/classifier_transfer.py's bookkeeping: nested choice, pooling, targets and each
candidate's own CT-route render count (no rendering or training here: the data makers are replaced)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("classifier_transfer")


def test_incumbent_keeps_ties_and_loses_to_a_clear_winner(bench):
    assert bench.INCUMBENT == "joints_ct30"  # run 8's choice, the demo's recipe
    assert bench.choose({"joints_ct30": 0.800, "joints_n300": 0.804}) == "joints_ct30"
    assert bench.choose({"joints_ct30": 0.800, "joints_n300": 0.806}) == "joints_n300"
    assert bench.choose({"joints_n300": 0.800, "joints_prop": 0.804}, incumbent="joints_n300") == "joints_n300"
    assert bench.choose({"joints": 0.800, "joints_n300": 0.804}, incumbent="joints") == "joints"  # run 2's rule
    assert bench.choose({"mixed": 0.7, "joints_elastic": 0.75}) == "joints_elastic"  # no incumbent: the best


def test_render_count_per_candidate(bench):
    full, quick = bench.MODES["full"], bench.MODES["quick"]
    assert bench.ct_train_n("joints", full) == full["ct_train_n"]
    assert bench.ct_train_n("joints_n300", full) == 3 * full["ct_train_n"] == 300
    assert bench.ct_train_n("joints_n300", quick) == 3 * quick["ct_train_n"]
    assert bench.ct_train_n("joints_prop", full) == 300
    assert bench.ct_variants("joints_n300") == (1, ("proportions",))
    assert bench.ct_variants("joints_prop") == (10, ("proportions",))
    assert bench.ct_variants("joints_density") == (10, ("density",))
    assert bench.variant_suffix(1, ("density",)) == "" and bench.variant_suffix(10, ("proportions",)) == "-v10"
    assert bench.variant_suffix(10, ("density",)) == "-v10-density"


def test_each_render_count_gets_its_own_training_manifest(bench, monkeypatch, tmp_path):
    made: list[tuple[str, int, int]] = []

    def fake_ct(work, *, case, case_dir, n, size, seed, split, variants=1, vary=("proportions",)):
        made.append((case, n, variants))
        m = Path(work) / f"ct-{case}-{split}-n{n}" / "manifest.csv"
        m.parent.mkdir(parents=True, exist_ok=True)
        m.write_text("x\n")
        return m

    monkeypatch.setattr(bench, "ct_renders", fake_ct)
    monkeypatch.setattr(bench, "procedural", lambda work, **k: Path(work) / "proc.csv")
    monkeypatch.setattr(bench, "combine", lambda manifests, out: out)
    p = bench.MODES["full"]
    dirs = {c: tmp_path / c for c in ("001", "002", "003")}
    base = bench.fold_data(work=tmp_path, dirs=dirs, held_out="003", train_cases=["001", "002"], p=p,
                           external=False, ct_n=bench.ct_train_n("joints", p))
    more = bench.fold_data(work=tmp_path, dirs=dirs, held_out="003", train_cases=["001", "002"], p=p,
                           external=False, ct_n=bench.ct_train_n("joints_n300", p))
    v, vary = bench.ct_variants("joints_prop")
    prop = bench.fold_data(work=tmp_path, dirs=dirs, held_out="003", train_cases=["001", "002"], p=p,
                           external=False, ct_n=bench.ct_train_n("joints_prop", p), variants=v, vary=vary)
    v, vary = bench.ct_variants("joints_density")
    dens = bench.fold_data(work=tmp_path, dirs=dirs, held_out="003", train_cases=["001", "002"], p=p,
                           external=False, ct_n=bench.ct_train_n("joints_density", p), variants=v, vary=vary)
    assert base["extra"].name == "ct-train-001-002.csv"  # run 1's name: its renders are reused
    assert more["extra"].name == "ct-train-001-002-n300.csv"
    assert prop["extra"].name == "ct-train-001-002-n300-v10.csv"
    assert dens["extra"].name == "ct-train-001-002-n300-v10-density.csv"
    assert ("001", 300, 1) in made and ("002", 300, 1) in made and ("001", 100, 1) in made
    assert ("001", 300, 10) in made and ("002", 300, 10) in made
    assert ("003", p["test_n"], 1) in made and not any(c == "003" and v != 1 for c, _, v in made)
    assert base["test"] == more["test"] == prop["test"]  # the held-out CT's test renders do not depend on the candidate


def test_pool_is_the_mean_of_seeds_and_targets_need_all_three(bench):
    def seed(auc, p0, p4):
        return {"auc": auc, "ece": 0.1, "mean_p_by_max_grade": {"0": p0, "1": None, "2": 0.5, "3": 0.6, "4": p4},
                "n_by_max_grade": {str(g): 1 for g in range(5)}}

    pooled = bench.pool({0: seed(0.84, 0.2, 0.8), 1: seed(0.88, 0.3, 0.8)})
    assert pooled["auc"] == pytest.approx(0.86) and pooled["auc_seeds"] == [0.84, 0.88]
    assert pooled["mean_p_by_max_grade"]["1"] is None
    assert bench.met(pooled)
    assert not bench.met(bench.pool({0: seed(0.86, 0.31, 0.8)}))  # grade-0 probability too high
    assert not bench.met(bench.pool({0: seed(0.86, 0.2, 0.69)}))  # grade-4 probability too low
    assert not bench.met(bench.pool({0: seed(0.84, 0.2, 0.8)}))  # AUC too low


def test_candidates_reach_the_recipe_and_crop(bench):
    full = bench.MODES["full"]
    assert bench.recipe_for("joints_dann", full).domain_weight == 1.0
    assert bench.recipe_for("joints_n300", full).domain_weight == 0.0
    assert bench.CANDIDATES["joints_span"]["crop"] == "joints_span" and bench.CANDIDATES["joints_ct80"]["extra_weight"] == 0.8
    assert bench.recipe_for("joints_local", full).arch == "local-resnet"
    assert bench.recipe_for("joints_ct30", full).arch == "tiny-resnet"
    assert [st.all_epochs for st in bench.recipe_for("joints_ct30_e20", full).stages] == [20]
    assert [st.all_epochs for st in bench.recipe_for("joints_ct30", full).stages] == [10]
    assert [st.all_epochs for st in bench.recipe_for("joints_ct30_e20", bench.MODES["quick"]).stages] == [1]
    assert bench.recipe_for("joints_ct30_sides", full).grade_pool == "sides"
    assert bench.recipe_for("joints_ct30", full).grade_pool == "global"
    assert bench.recipe_for("joints_ct30_hr", full).final_size == (192, 288)  # run 16: twice the input size
    assert bench.recipe_for("joints_ct30", full).final_size == (96, 144)
    assert bench.recipe_for("joints_wide", full).final_size == (132, 198)  # run 17: ~1 mm/px of a wider tile
    assert bench.recipe_for("joints_ct30_hr", bench.MODES["quick"]).final_size == (192, 288)


def test_ensemble_rows_are_what_the_seed_ensemble_network_outputs(bench):
    """The benchmark's ensemble from per-seed probabilities equals SeedEnsemble's softmax of averaged logits."""
    import numpy as np
    import torch

    from sijscan.classify.calibration import probability
    from sijscan.classify.networks import SeedEnsemble
    from sijscan.modelfolder import build_network

    torch.manual_seed(0)
    members = [build_network("tiny-resnet", {"grade_head": False, "dropout": 0.0}).eval() for _ in range(3)]
    x = torch.rand(5, 1, 32, 48)
    with torch.no_grad():
        per_member = [probability(m(x).numpy()) for m in members]
        want = probability(SeedEnsemble(members).eval()(x).numpy())
    rows = {s: [{"label": i % 2, "grade_left": 0, "grade_right": 0, "p": float(p[i]), "decision": 1,
                 "pred_left": 2, "pred_right": 1} for i in range(5)] for s, p in zip((0, 1, 2), per_member)}
    got = bench.ensemble_rows(rows)
    np.testing.assert_allclose([r["p"] for r in got], want, rtol=1e-5, atol=1e-6)
    assert not np.allclose([r["p"] for r in got], np.mean(per_member, axis=0), atol=1e-7)  # not mean probability
    assert all(r["pred_left"] is None and r["label"] == i % 2 for i, r in enumerate(got))
    assert "kappa" not in bench.score(got)
