"""Real-anatomy (CT-route) cohorts, CT-route renders mixed into the classifiers, seeds: config and stages."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sijscan.study import stage_functions as work
from sijscan.study.config import StudyConfigError, config_from_dict
from sijscan.study.context import StageContext, StudyDataError
from tests.study.study_fakes import cohorts_with, given_segmenter


def test_ct_cohort_and_classifier_keys_parse(minimal, tmp_path: Path) -> None:
    data = minimal(cohorts__ct9={"ct": {"cases": ["cts/009"], "n": 4, "size": 96}},
                   classifiers__ct_route={"cases": ["cts/001"], "n": 5, "size": 96}, classifiers__extra_weight=0.3,
                   classifiers__appearance=True, classifiers__seeds=[0, 1, 2])
    cfg = config_from_dict(data, base_dir=tmp_path)
    ct9 = next(c for c in cfg.cohorts if c.name == "ct9")
    assert ct9.role == "test" and ct9.ct.cases == (str(tmp_path / "cts" / "009"),) and ct9.ct.n == 4
    c = cfg.classifiers
    assert c.appearance and c.seeds == (0, 1, 2) and c.extra_weight == 0.3 and c.ct_route.n == 5


@pytest.mark.parametrize("changes, key", [
    ({"cohorts__ct9": {"role": "train", "ct": {"cases": ["a"]}}}, "cohorts.ct9.ct"),
    ({"cohorts__ct9": {"ct": {"cases": ["a"]}, "manifest": "m.csv"}}, "cohorts.ct9"),
    ({"classifiers__seeds": [0, 0]}, "classifiers.seeds"),
    ({"classifiers__seeds": "0,1"}, "classifiers.seeds"),
    ({"classifiers__appearance": "yes"}, "classifiers.appearance"),
    ({"classifiers__extra_weight": 0.3}, "classifiers.extra_weight"),  # without ct_route
])
def test_bad_values_are_named(minimal, changes: dict, key: str) -> None:
    with pytest.raises(StudyConfigError) as err:
        config_from_dict(minimal(**changes))
    assert str(err.value).startswith(key) and "\n" not in str(err.value)


@pytest.mark.parametrize("where", ["segmenter__train__ct_route", "classifiers__ct_route"])
def test_a_ct_test_cohort_trained_on_is_refused(minimal, tmp_path: Path, where: str) -> None:
    """The real-anatomy cohort must be a CT kept out of every model's training."""
    data = minimal(cohorts__ct3={"ct": {"cases": ["cts/003"]}}, **{where: {"cases": ["cts/001", "cts/003"]}})
    with pytest.raises(StudyConfigError, match="003 is also trained on"):
        config_from_dict(data, base_dir=tmp_path)
    data = minimal(cohorts__ct3={"ct": {"cases": ["cts/003"]}}, **{where: {"cases": ["cts/001", "cts/002"]}})
    data["cohorts"]["proof"]["phantom"]["overrides"] = {"ct_members": ["001", "002"]}
    config_from_dict(data, base_dir=tmp_path)  # kept out: fine


def test_a_ct_test_cohort_whose_bones_the_training_phantom_mixes_is_refused(minimal, tmp_path: Path) -> None:
    """The procedural phantom's bones mix the packaged CT shapes (001-003): a training cohort that mixes the
    test CT's bones has seen its anatomy, whatever the CT route trains on."""
    data = minimal(cohorts__ct3={"ct": {"cases": ["cts/003"]}})
    with pytest.raises(StudyConfigError) as err:
        config_from_dict(data, base_dir=tmp_path)  # no ct_members: all three CTs' bones
    msg = str(err.value)
    assert msg.startswith("cohorts.ct3.ct: CT 003's bones are in the training cohort proof") and "\n" not in msg
    assert "ct_members" in msg and "['001', '002']" in msg
    data["cohorts"]["proof"]["phantom"]["overrides"] = {"ct_members": ["002", "003"]}
    with pytest.raises(StudyConfigError, match="003's bones"):
        config_from_dict(data, base_dir=tmp_path)
    data["cohorts"]["proof"]["phantom"]["overrides"] = {"ct_members": ["001", "002"]}
    config_from_dict(data, base_dir=tmp_path)
    config_from_dict(minimal(cohorts__ct9={"ct": {"cases": ["cts/009"]}}), base_dir=tmp_path)  # not a shape CT


def test_cohorts_stage_renders_a_ct_cohort_and_skips_an_absent_one(minimal, tmp_path: Path) -> None:
    from sijscan.phantom.ct.synthetic import write_toy_case_folder

    write_toy_case_folder(tmp_path / "cts" / "toy")
    data = minimal(cohorts__cttoy={"ct": {"cases": ["cts/toy"], "n": 2, "size": 96}},
                   cohorts__gone={"ct": {"cases": ["cts/absent"], "if_missing": "skip"}})
    data["cohorts"]["proof"]["phantom"].update(n=6, size=96)
    data["cohorts"]["optiref"]["phantom"].update(n=4, size=96)
    cfg = config_from_dict(data, base_dir=tmp_path)
    ctx = StageContext(config=cfg, out_dir=tmp_path, stage_dir=tmp_path / "cohorts", upstream={})
    out = work.run_cohorts(ctx)
    df = pd.read_csv(out.entries["cttoy"].manifest)
    assert out.entries["cttoy"].source == "ct" and len(df) == 2 and set(df["cohort"]) == {"cttoy"}
    assert set(df["split"]) == {"test"} and df["mask"].notna().all()
    assert out.entries["gone"].manifest is None and out.entries["gone"].skipped
    cfg = config_from_dict(minimal(cohorts__gone={"ct": {"cases": ["cts/absent"]}}), base_dir=tmp_path)
    with pytest.raises(StudyDataError, match="CT case folder not found"):
        work.run_cohorts(StageContext(config=cfg, out_dir=tmp_path, stage_dir=tmp_path / "c2", upstream={}))


def test_classifiers_stage_mixes_ct_renders_and_trains_each_seed(minimal, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import sijscan.classify.train as train_mod
    from sijscan.phantom.ct.synthetic import write_toy_case_folder

    write_toy_case_folder(tmp_path / "cts" / "toy")
    calls: list[dict[str, Any]] = []

    def fake_train(**kw: Any) -> Path:
        calls.append(kw)
        Path(kw["out_dir"]).mkdir(parents=True, exist_ok=True)
        return Path(kw["out_dir"])

    monkeypatch.setattr(train_mod, "train_classifier", fake_train)
    monkeypatch.setattr("sijscan.study.stage_functions.read_card", lambda folder: SimpleNamespace(cutoff=0.5))
    data = minimal(classifiers__ct_route={"cases": ["cts/toy"], "n": 7, "size": 96}, classifiers__extra_weight=0.4,
                   classifiers__appearance=True, classifiers__seeds=[3, 4])
    cfg = config_from_dict(data, base_dir=tmp_path)
    ctx = StageContext(config=cfg, out_dir=tmp_path, stage_dir=tmp_path / "classifiers",
                       upstream={"cohorts": cohorts_with(proof="proof.csv"), "segmenter": given_segmenter("seg")})
    out = work.run_classifiers(ctx)
    assert [(c["view"], c["seed"]) for c in calls] == [("full", 3), ("sij", 3), ("sij", 4)]
    extra = pd.read_csv(calls[0]["extra_manifest"])
    assert len(extra) == 7 and (extra["split"] == "val").sum() == 1  # every 7th render validates
    assert all(c["extra_weight"] == 0.4 and c["extra_manifest"] == calls[0]["extra_manifest"] for c in calls)
    assert all(c["recipe"].augment.appearance for c in calls)
    assert out.anatomy.seed == 3 and set(out.anatomy_seeds) == {"3", "4"}


def test_seed_aucs_on_the_analysed_images(tmp_path: Path) -> None:
    from sijscan.study.seeds import seed_aucs

    names = [str(tmp_path / f"i{k}.png") for k in range(6)]  # the study's paths: absolute, as the manifest reads
    truth = pd.DataFrame({"image": names, "label": [0, 0, 0, 1, 1, 1]})
    truth.to_csv(tmp_path / "set.csv", index=False)
    first = pd.DataFrame({"image": names[:5], "probability": [0.1, 0.2, 0.3, 0.8, 0.9]})
    first.to_csv(tmp_path / "first.csv", index=False)  # i5 was not analysed (no crop for one model)
    other = pd.DataFrame({"image": names, "probability": [0.9, 0.2, 0.3, 0.8, 0.1, 0.0]})
    other.to_csv(tmp_path / "other.csv", index=False)
    res = seed_aucs(first_predictions={"s": str(tmp_path / "first.csv")}, other={"1": {"s": str(tmp_path / "other.csv")}},
                    sets={"s": str(tmp_path / "set.csv")}, first="0")
    assert res["s"]["0"]["auc"] == pytest.approx(1.0) and res["s"]["0"]["n"] == 5
    assert res["s"]["1"]["n"] == 5  # only the images the study analysed
    assert res["s"]["1"]["auc"] == pytest.approx(np.mean([0.8 > 0.9, 0.8 > 0.2, 0.8 > 0.3, 0.1 > 0.9, 0.1 > 0.2, 0.1 > 0.3]))
    assert res["s"]["spread"] == pytest.approx(1.0 - res["s"]["1"]["auc"])


def test_ensemble_needs_two_seeds(minimal) -> None:
    with pytest.raises(StudyConfigError, match=r"^classifiers.ensemble: needs classifiers.seeds"):
        config_from_dict(minimal(classifiers__ensemble=True, classifiers__seeds=[0]))
    with pytest.raises(StudyConfigError, match=r"^classifiers.ensemble"):
        config_from_dict(minimal(classifiers__ensemble="yes", classifiers__seeds=[0, 1]))
    assert config_from_dict(minimal(classifiers__ensemble=True, classifiers__seeds=[0, 1])).classifiers.ensemble


def test_classifiers_stage_ensembles_both_models_over_the_seeds(minimal, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import sijscan.classify.ensemble as ens_mod
    import sijscan.classify.train as train_mod

    calls: list[dict[str, Any]] = []
    built: list[tuple[list[Path], Path, dict[str, Any]]] = []

    def fake_train(**kw: Any) -> Path:
        calls.append(kw)
        Path(kw["out_dir"]).mkdir(parents=True, exist_ok=True)
        (Path(kw["out_dir"]) / "model.json").write_text("{}")
        return Path(kw["out_dir"])

    def fake_build(members: list[Path], out: Path, **kw: Any) -> Path:
        built.append(([Path(m) for m in members], Path(out), kw))
        Path(out).mkdir(parents=True, exist_ok=True)
        return Path(out)

    monkeypatch.setattr(train_mod, "train_classifier", fake_train)
    monkeypatch.setattr(ens_mod, "build_ensemble", fake_build)
    monkeypatch.setattr("sijscan.study.stage_functions.read_card", lambda folder: SimpleNamespace(cutoff=0.5))
    cfg = config_from_dict(minimal(classifiers__seeds=[3, 4, 5], classifiers__ensemble=True), base_dir=tmp_path)
    stage = tmp_path / "classifiers"
    ctx = StageContext(config=cfg, out_dir=tmp_path, stage_dir=stage,
                       upstream={"cohorts": cohorts_with(proof="proof.csv"), "segmenter": given_segmenter("seg")})
    out = work.run_classifiers(ctx)
    # every seed of both views trains once, all on the first seed's validation split
    assert sorted((c["view"], c["seed"]) for c in calls) == [("full", 3), ("full", 4), ("full", 5),
                                                              ("sij", 3), ("sij", 4), ("sij", 5)]
    assert {c["split_seed"] for c in calls} == {3}
    members = {out_dir.name: [m.name for m in ms] for ms, out_dir, _ in built}
    assert members == {"standard-ensemble": ["standard", "standard-seed4", "standard-seed5"],
                       "anatomy-ensemble": ["anatomy", "anatomy-seed4", "anatomy-seed5"]}
    kws = {out_dir.name: kw for _, out_dir, kw in built}
    assert kws["anatomy-ensemble"]["segmenter"] == "seg" and kws["standard-ensemble"]["segmenter"] is None
    assert all(kw["split_seed"] == 3 for kw in kws.values())
    assert Path(out.anatomy.model).name == "anatomy-ensemble" and Path(out.standard.model).name == "standard-ensemble"
    assert out.anatomy.ensemble_seeds == (3, 4, 5) and out.anatomy.seed_key == "ensemble"
    assert set(out.anatomy_seeds) == {"3", "4", "5"}  # the single seeds, reported beside the ensemble


def test_seed_spread_leaves_the_ensemble_out(tmp_path: Path) -> None:
    from sijscan.study.seeds import seed_aucs

    names = [str(tmp_path / f"i{k}.png") for k in range(4)]
    pd.DataFrame({"image": names, "label": [0, 0, 1, 1]}).to_csv(tmp_path / "set.csv", index=False)
    probs = {"ensemble": [0.1, 0.2, 0.8, 0.9], "0": [0.1, 0.9, 0.8, 0.2], "1": [0.1, 0.35, 0.8, 0.3]}
    for k, p in probs.items():
        pd.DataFrame({"image": names, "probability": p}).to_csv(tmp_path / f"{k}.csv", index=False)
    res = seed_aucs(first_predictions={"s": str(tmp_path / "ensemble.csv")},
                    other={k: {"s": str(tmp_path / f"{k}.csv")} for k in ("0", "1")},
                    sets={"s": str(tmp_path / "set.csv")}, first="ensemble")
    assert res["s"]["ensemble"]["auc"] == pytest.approx(1.0)
    assert res["s"]["spread"] == pytest.approx(res["s"]["1"]["auc"] - res["s"]["0"]["auc"])
