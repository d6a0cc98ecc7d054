"""benchmarks/sim_to_real.py trains on CT-route renders made like the demo's (realism), never mixing presets.

Rendering, training and evaluation are replaced by recorders: what is checked is which renders the
leave-one-out asks for, where they go and when ``--reuse`` takes them (the real run is smoke-tested in
test_sim_to_real_smoke.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest



@pytest.fixture(scope="module")
def s2r(load_benchmark) -> Any:
    return load_benchmark("sim_to_real")


def test_demo_recipe_carries_the_demo_segmenter_realism(s2r: Any) -> None:
    from sijscan.study.demo import demo_config

    recipe = s2r.demo_recipe()
    assert recipe["ct_realism"] == demo_config().segmenter.train.ct_route.realism == "varied"


def _ev() -> dict[str, Any]:
    return {"n_images": 1, "qc_flagged": 0, "both_joints_ge_90": 1.0,
            "dice": {k: {"mean": 0.9, "min": 0.9} for k in ("sacrum", "hip_image_left", "hip_image_right")},
            "sij_inside_crop": {k: {"mean": 1.0, "min": 1.0} for k in ("image_left", "image_right")}}


@pytest.fixture
def fake_run(s2r: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``run(overrides)`` -> the training renders the quick leave-one-out asked for (rendering, training
    and scoring recorded, not done); renders already made are reused (``--reuse``)."""
    import sijscan.phantom.ct as ct
    import sijscan.phantom.simulate as sim

    renders: list[dict[str, Any]] = []

    def fake_render(cases: list[str], out: Path, **kw: Any) -> Path:
        Path(out).mkdir(parents=True, exist_ok=True)
        renders.append({"case": cases[0], "out": Path(out), "split": kw["split"], "realism": kw.get("realism"),
                        "variants": kw.get("variants", 1), "vary": tuple(kw.get("vary", ()))})
        return Path(out) / "manifest.csv"

    def fake_phantom(cohort: str, *, out_dir: Path, **kw: Any) -> Path:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        renders.append({"case": "phantom", "out": Path(out_dir), "split": "phantom",
                        "members": (kw.get("overrides") or {}).get("ct_members")})
        return Path(out_dir) / "manifest.csv"

    monkeypatch.setattr(ct, "render_ct_cohort", fake_render)
    monkeypatch.setattr(ct, "load_ct_case", lambda folder: Path(folder).name)
    monkeypatch.setattr(sim, "simulate_cohort", fake_phantom)
    monkeypatch.setattr(s2r, "_combine", lambda manifests, out: out)
    monkeypatch.setattr(s2r, "evaluate", lambda model, manifest: _ev())

    def run(overrides: dict[str, Any], *, cases: tuple[str, ...] = ("001", "002"),
            holdout: tuple[str, ...] = ("001",), arms: tuple[str, ...] = ("transfer",),
            split: str = "train") -> tuple[dict[str, Any], list[dict[str, Any]]]:
        renders.clear()
        trained.clear()
        res = s2r.run(mode="quick", ct_root=tmp_path / "cts", cases=list(cases), holdout=list(holdout),
                      work=tmp_path / "work", reuse=True, arms=arms, overrides=overrides)
        return res, [r for r in renders if r["split"] == split]

    trained: list[tuple[Path, Path]] = []
    run.trained = trained
    monkeypatch.setattr(s2r, "_train", lambda manifest, out, **kw: (trained.append((manifest, out)) or (out, 0.0)))
    return run


def test_training_renders_follow_the_recipe_realism_and_reuse_never_mixes(fake_run: Any) -> None:
    def run(realism: str) -> list[dict[str, Any]]:
        res, train = fake_run({"ct_realism": realism})
        assert res["data"]["ct_realism"] == realism and f"realism {realism}" in res["recipes"]["transfer"]
        return train

    plain = run("off")
    assert [r["case"] for r in plain] == ["001", "002"] and all(r["realism"] == "off" for r in plain)
    varied = run("varied")  # --reuse: the plain renders are there, but made otherwise
    assert [r["case"] for r in varied] == ["001", "002"] and all(r["realism"] == "varied" for r in varied)
    assert not {r["out"] for r in plain} & {r["out"] for r in varied}
    assert run("off") == [] and run("varied") == []  # each preset's renders kept and reused as they are


def test_anatomy_variants_reach_the_renderer_in_a_folder_of_their_own(fake_run: Any, s2r: Any) -> None:
    _, scanned = fake_run({})
    assert [r["variants"] for r in scanned] == [1, 1]
    assert [r["out"].name for r in scanned] == ["001-n3", "002-n3"]  # the names runs before variants made
    res, var = fake_run({"ct_variants": 10, "ct_vary": ("proportions", "density")})
    assert [(r["case"], r["variants"], r["vary"]) for r in var] == [
        ("001", 10, ("proportions", "density")), ("002", 10, ("proportions", "density"))]
    assert not {r["out"] for r in scanned} & {r["out"] for r in var}
    assert "10 anatomy variants per CT (proportions and density)" in res["recipes"]["transfer"]
    _, dens = fake_run({"ct_variants": 10, "ct_vary": ("density",)})  # another vary: other renders
    assert [r["vary"] for r in dens] == [("density",), ("density",)]
    assert fake_run({})[1] == [] and fake_run({"ct_variants": 10, "ct_vary": ("proportions", "density")})[1] == []
    assert s2r.demo_recipe()["ct_variants"] >= 1


def test_stress_ct_refuses_a_bad_variant_count_or_vary(load_benchmark: Any, capsys: pytest.CaptureFixture) -> None:
    stress = load_benchmark("stress_ct")
    for argv in (["--ct-variants", "0"], ["--ct-vary", "shape"]):
        with pytest.raises(SystemExit) as exc:
            stress.main(["--quick", *argv])
        assert exc.value.code == 2
    assert "--ct-vary" in capsys.readouterr().err


def test_each_fold_trains_on_a_phantom_without_the_held_out_ct(fake_run: Any) -> None:
    """The phantom's bones are mixes of the real CTs: a fold's phantom, and every arm trained on it, must
    leave the held-out CT out (before session 17 one phantom of all three CTs served every fold)."""
    _, phantoms = fake_run({}, cases=("001", "002", "003"), holdout=("001", "003"),
                           arms=("transfer", "phantom_only"), split="phantom")
    assert [r["members"] for r in phantoms] == [["002", "003"], ["001", "002"]]
    by_fold = {out.name: manifest for manifest, out in fake_run.trained}
    assert by_fold["seg-transfer-without-001"] == by_fold["seg-phantom-only-without-001"] == \
        phantoms[0]["out"] / "manifest.csv"
    assert by_fold["seg-transfer-without-003"] == phantoms[1]["out"] / "manifest.csv"


def test_an_arm_left_out_is_neither_trained_nor_overwritten(fake_run: Any) -> None:
    """Models always retrain into the models folder: asking for the phantom-only arms alone must not train
    (and so overwrite) the transfer models beside them (session 18 overwrote them that way)."""
    res, _ = fake_run({}, arms=("phantom_only",))
    assert [out.name for _, out in fake_run.trained] == ["seg-phantom-only-without-001"]
    assert "transfer" not in res["folds"]["001"] and res["arms"] == ["phantom_only"]
    assert "phantom_only" in res["folds"]["001"]
    res, _ = fake_run({}, arms=("transfer",))
    assert [out.name for _, out in fake_run.trained] == ["seg-transfer-without-001"]
    assert "transfer" in res["folds"]["001"] and res["arms"] == ["transfer"]


def test_sim_to_real_and_stress_ct_refuse_unknown_arms(load_benchmark: Any, capsys: pytest.CaptureFixture) -> None:
    for name in ("sim_to_real", "stress_ct"):
        with pytest.raises(SystemExit) as exc:
            load_benchmark(name).main(["--quick", "--arms", "transfer,phantom"])
        assert exc.value.code == 2
        assert "--arms" in capsys.readouterr().err


def test_stress_ct_collimate_reaches_the_transfer_recipe_and_a_bad_share_is_refused(
        load_benchmark: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    stress = load_benchmark("stress_ct")
    seen: dict[str, Any] = {}
    monkeypatch.setattr(stress.s2r, "run",
                        lambda **kw: seen.update(kw) or {"mode": "quick", "folds": {}, "timings": {}, "code": {}})
    for case in ("001", "002", "003"):  # case folders (the run itself is replaced): a clone without ../shared too
        (tmp_path / "cts" / case).mkdir(parents=True)
    assert stress.main(["--quick", "--ct-root", str(tmp_path / "cts"), "--collimate", "0.3"]) == 0
    assert seen["overrides"]["collimate"] == 0.3
    with pytest.raises(SystemExit) as exc:
        stress.main(["--quick", "--collimate", "1.5"])
    assert exc.value.code == 2 and "--collimate" in capsys.readouterr().err


def test_sim_to_real_trains_collimation_into_the_strong_arms_only(s2r: Any, monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    import sijscan.anatomy.train as train_mod
    import sijscan.modelfolder as mf

    cfgs: list[Any] = []
    monkeypatch.setattr(train_mod, "train_segmenter",
                        lambda manifest, out_dir, config, overwrite: cfgs.append(config) or out_dir)
    monkeypatch.setattr(mf, "read_card", lambda folder: type("C", (), {"provenance": {}})())
    p = dict(s2r.MODES["quick"], visible_only=True, collimate=0.3)
    s2r._train(tmp_path / "m.csv", tmp_path / "a", p=p, augment="strong", extra=None)
    s2r._train(tmp_path / "m.csv", tmp_path / "b", p=p, augment="basic", extra=None)
    assert [c.collimate for c in cfgs] == [0.3, 0.0]
