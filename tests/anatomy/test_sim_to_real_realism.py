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


def test_training_renders_follow_the_recipe_realism_and_reuse_never_mixes(s2r: Any, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import sijscan.phantom.ct as ct
    import sijscan.phantom.simulate as sim

    renders: list[dict[str, Any]] = []

    def fake_render(cases: list[str], out: Path, **kw: Any) -> Path:
        Path(out).mkdir(parents=True, exist_ok=True)
        renders.append({"case": cases[0], "out": Path(out), "split": kw["split"], "realism": kw.get("realism")})
        return Path(out) / "manifest.csv"

    def fake_phantom(cohort: str, *, out_dir: Path, **kw: Any) -> Path:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        return Path(out_dir) / "manifest.csv"

    monkeypatch.setattr(ct, "render_ct_cohort", fake_render)
    monkeypatch.setattr(ct, "load_ct_case", lambda folder: Path(folder).name)
    monkeypatch.setattr(sim, "simulate_cohort", fake_phantom)
    monkeypatch.setattr(s2r, "_combine", lambda manifests, out: out)
    monkeypatch.setattr(s2r, "_train", lambda manifest, out, **kw: (out, 0.0))
    monkeypatch.setattr(s2r, "evaluate", lambda model, manifest: _ev())

    def run(realism: str) -> list[dict[str, Any]]:
        renders.clear()
        res = s2r.run(mode="quick", ct_root=tmp_path / "cts", cases=["001", "002"], holdout=["001"],
                      work=tmp_path / "work", reuse=True, arms=("transfer",), overrides={"ct_realism": realism})
        assert res["data"]["ct_realism"] == realism and f"realism {realism}" in res["recipes"]["transfer"]
        return [r for r in renders if r["split"] == "train"]

    plain = run("off")
    assert [r["case"] for r in plain] == ["001", "002"] and all(r["realism"] == "off" for r in plain)
    varied = run("varied")  # --reuse: the plain renders are there, but made otherwise
    assert [r["case"] for r in varied] == ["001", "002"] and all(r["realism"] == "varied" for r in varied)
    assert not {r["out"] for r in plain} & {r["out"] for r in varied}
    assert run("off") == [] and run("varied") == []  # each preset's renders kept and reused as they are
