"""benchmarks/sim_to_real_nested.py: the choice of recipe never sees the held-out CT (orchestration only).

The leave-one-out runs themselves are benchmarks/sim_to_real.py's (smoke-tested on the real CTs in
test_sim_to_real_smoke.py); here ``run`` is replaced by a recorder so the folds can be checked fast.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest



@pytest.fixture(scope="module")
def nested(load_benchmark) -> Any:
    return load_benchmark("sim_to_real_nested")


def _ev(dice: float) -> dict[str, Any]:
    return {"n_images": 1, "qc_flagged": 0,
            "dice": {k: {"mean": dice, "min": dice} for k in ("sacrum", "hip_image_left", "hip_image_right")},
            "sij_inside_crop": {k: {"mean": 1.0, "min": 1.0} for k in ("image_left", "image_right")}}


def test_choose_keeps_the_incumbent_unless_clearly_beaten(nested: Any) -> None:
    assert nested.choose({"demo": 0.850, "more_ct": 0.853}, margin=0.005) == "demo"
    assert nested.choose({"demo": 0.850, "more_ct": 0.856}, margin=0.005) == "more_ct"
    assert nested.choose({"demo": 0.860, "more_ct": 0.850}, margin=0.005) == "demo"
    assert nested.worst_structure({"dice": {"sacrum": {"mean": 0.9}, "hip_image_left": {"mean": 0.8},
                                            "hip_image_right": {"mean": 0.95}}}) == 0.8


def test_inner_folds_never_see_the_held_out_ct(nested: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []
    # candidate 'b' is better on CT "x" as an inner test, worse elsewhere: the choice must follow the INNER tests
    inner_dice = {("a", "x"): 0.80, ("b", "x"): 0.90, ("a", "y"): 0.85, ("b", "y"): 0.84,
                  ("a", "z"): 0.85, ("b", "z"): 0.84}

    def fake_run(*, cases: list[str], holdout: list[str], train_seeds: tuple[int, ...], overrides: dict[str, Any],
                 models_dir: Path, **_: Any) -> dict[str, Any]:
        name = overrides.get("tag", "a")
        calls.append({"cases": list(cases), "holdout": list(holdout), "name": name, "seeds": train_seeds,
                      "dir": models_dir.name})
        folds = {h: {"transfer": _ev(inner_dice[(name, h)] if len(cases) == 2 else {"a": 0.86, "b": 0.70}[name])}
                 for h in holdout}
        return {"folds": folds, "targets_met": {h: {"transfer": True} for h in holdout},
                "models": {"m": {"train_s": 1.0}}, "data": {}}

    monkeypatch.setattr(nested.s2r, "run", fake_run)
    monkeypatch.setattr(nested.s2r, "_code_state", lambda: {})
    monkeypatch.setattr(nested, "INCUMBENT", "a")
    out = nested.run(mode="quick", ct_root=tmp_path, cases=["x", "y", "z"], work=tmp_path, train_seeds=(0, 1),
                     candidates={"a": {"tag": "a"}, "b": {"tag": "b"}}, reuse=False)
    inner = [c for c in calls if c["dir"].startswith("inner-")]
    assert len(inner) == 3 * 2 * 2  # outer folds x candidates x ordered pairs of the other two CTs
    for k, h in enumerate(["x", "y", "z"]):
        for c in inner[4 * k:4 * k + 4]:
            assert h not in c["cases"] and c["seeds"] == (0,)
    # held out y: inner tests on x and z; b wins on x by 0.10, loses on z by 0.01 -> mean 0.87 vs 0.825
    assert out["chosen"] == {"x": "a", "y": "b", "z": "b"}
    # the nested figure of a fold is the CHOSEN candidate's outer figure (b's outer is worse: 0.70)
    assert out["nested"]["y"]["dice"]["sacrum"]["mean"] == 0.70
    assert out["nested"]["x"]["dice"]["sacrum"]["mean"] == 0.86
    outer = [c for c in calls if c["dir"] == "outer"]
    assert all(c["cases"] == ["x", "y", "z"] and c["seeds"] == (0, 1) for c in outer)
    assert out["recipe_for_all_cts"] == "a"  # by the outer (leave-one-out) figures, 0.86 vs 0.70


def test_incumbent_outer_from_json_must_be_the_demo_recipe(nested: Any, tmp_path: Path) -> None:
    recipe = nested.s2r.demo_recipe()
    good = {"mode": "full", "data": {**recipe, "transfer_train_seeds": [0, 1, 2]}, "held_out": ["001", "002"],
            "folds": {h: {"transfer": _ev(0.9)} for h in ("001", "002")},
            "targets_met": {h: {"transfer": True} for h in ("001", "002")}, "models": {}}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(good))
    got = nested._outer_from_json(path, cases=["001", "002"], seeds=(0, 1, 2))
    assert got["folds"]["001"]["dice"]["sacrum"]["mean"] == 0.9
    with pytest.raises(SystemExit, match="seeds"):
        nested._outer_from_json(path, cases=["001", "002"], seeds=(0,))
    bad = {**good, "data": {**good["data"], "epochs": recipe["epochs"] + 1}}
    path.write_text(json.dumps(bad))
    with pytest.raises(SystemExit, match="epochs"):
        nested._outer_from_json(path, cases=["001", "002"], seeds=(0, 1, 2))
