"""segmenter.train's augmentation and data-mixing keys: parsed strictly, defaults, reach the trainer."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sijscan.study import stage_functions as work
from sijscan.study.config import StudyConfigError, config_from_dict
from sijscan.study.context import StageContext
from tests.study.study_fakes import cohorts_with


def test_old_config_keeps_the_basic_recipe(minimal) -> None:
    t = config_from_dict(minimal()).segmenter.train
    assert (t.augment, t.extra_manifest, t.extra_weight) == ("basic", None, 0.5)


def test_new_keys_parse_and_resolve_relative_paths(minimal, tmp_path: Path) -> None:
    data = minimal(segmenter__train__augment="strong", segmenter__train__extra_manifest="ct/manifest.csv",
                   segmenter__train__extra_weight=0.3)
    t = config_from_dict(data, base_dir=tmp_path).segmenter.train
    assert t.augment == "strong" and t.extra_weight == 0.3
    assert t.extra_manifest == str(tmp_path / "ct" / "manifest.csv")


@pytest.mark.parametrize("changes, key", [
    ({"segmenter__train__augment": "heavy"}, "segmenter.train.augment"),
    ({"segmenter__train__extra_manifest": "x.csv", "segmenter__train__extra_weight": 1.0},
     "segmenter.train.extra_weight"),
    ({"segmenter__train__extra_manifest": "x.csv", "segmenter__train__extra_weight": "half"},
     "segmenter.train.extra_weight"),
    ({"segmenter__train__extra_weight": 0.3}, "segmenter.train.extra_weight"),  # without extra_manifest
    ({"segmenter__train__extra_manifest": ""}, "segmenter.train.extra_manifest"),
])
def test_bad_values_are_named(minimal, changes: dict, key: str) -> None:
    with pytest.raises(StudyConfigError) as err:
        config_from_dict(minimal(**changes))
    assert str(err.value).startswith(key + ":") and "\n" not in str(err.value)


def test_segmenter_stage_passes_the_keys_to_the_trainer(minimal, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _fake_trainer(monkeypatch)
    cfg = config_from_dict(minimal(segmenter__train__augment="strong", segmenter__train__extra_manifest="ct.csv",
                                   segmenter__train__extra_weight=0.25, study__precision="bf16"), base_dir=tmp_path)
    ctx = StageContext(config=cfg, out_dir=tmp_path, stage_dir=tmp_path / "segmenter",
                       upstream={"cohorts": cohorts_with(proof="proof.csv")})
    work.run_segmenter(ctx)
    tc = seen["config"]
    assert (tc.augment, tc.extra_manifest, tc.extra_weight) == ("strong", str(tmp_path / "ct.csv"), 0.25)
    assert tc.precision == "bf16"


def test_ct_route_parses_resolves_and_is_named_when_bad(minimal, tmp_path: Path) -> None:
    data = minimal(segmenter__train__augment="strong",
                   segmenter__train__ct_route={"cases": ["ct/001", "/abs/002"], "n": 5, "size": 128},
                   segmenter__train__extra_weight=0.4)
    t = config_from_dict(data, base_dir=tmp_path).segmenter.train
    assert t.ct_route.cases == (str(tmp_path / "ct" / "001"), "/abs/002")
    assert (t.ct_route.n, t.ct_route.size, t.ct_route.if_missing, t.extra_weight) == (5, 128, "error", 0.4)
    for bad, key in (({"cases": []}, "segmenter.train.ct_route.cases"),
                     ({"cases": ["a"], "n": 0}, "segmenter.train.ct_route.n"),
                     ({"cases": ["a"], "if_missing": "maybe"}, "segmenter.train.ct_route.if_missing"),
                     ({"cases": ["a"], "colour": 1}, "segmenter.train.ct_route.colour")):
        with pytest.raises(StudyConfigError) as err:
            config_from_dict(minimal(segmenter__train__ct_route=bad))
        assert str(err.value).startswith(key + ":"), str(err.value)
    with pytest.raises(StudyConfigError, match="extra_manifest or ct_route, not both"):
        config_from_dict(minimal(segmenter__train__ct_route={"cases": ["a"]}, segmenter__train__extra_manifest="x.csv"))


def _fake_trainer(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import sijscan.anatomy.train as train_mod

    seen: dict[str, Any] = {}

    def fake_train(*, manifest: str, out_dir: Any, config: Any, resume: bool = False, overwrite: bool = False) -> Path:
        seen["config"] = config
        return Path(out_dir)

    monkeypatch.setattr(train_mod, "train_segmenter", fake_train)
    monkeypatch.setattr("sijscan.study.stage_functions.read_card", lambda folder: SimpleNamespace(provenance={"val_dice": 0.5}))
    return seen


def test_segmenter_stage_renders_the_ct_route_and_mixes_it_in(minimal, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from sijscan.io import read_manifest
    from sijscan.phantom.ct.synthetic import write_toy_case_folder
    from sijscan.study.report import segmenter_line

    write_toy_case_folder(tmp_path / "cts" / "toy")
    seen = _fake_trainer(monkeypatch)
    cfg = config_from_dict(minimal(segmenter__train__augment="strong", segmenter__train__ct_route={
        "cases": ["cts/toy", "cts/absent"], "n": 3, "size": 96, "if_missing": "skip"}), base_dir=tmp_path)
    ctx = StageContext(config=cfg, out_dir=tmp_path, stage_dir=tmp_path / "segmenter",
                       upstream={"cohorts": cohorts_with(proof="proof.csv")})
    out = work.run_segmenter(ctx)
    tc = seen["config"]
    df = read_manifest(tc.extra_manifest)
    assert len(df) == 3 and set(df["patient_id"]) == {"CT-toy"} and df["mask"].notna().all()
    assert out.ct_route.n_images == 3 and out.ct_route.skipped == (str(tmp_path / "cts" / "absent"),)
    line = segmenter_line(out)
    assert "3 CT-route radiographs" in line and "(toy;" in line and "absent" in line

    cfg = config_from_dict(minimal(segmenter__train__ct_route={"cases": ["cts/absent"]}), base_dir=tmp_path)
    ctx = StageContext(config=cfg, out_dir=tmp_path, stage_dir=tmp_path / "segmenter2",
                       upstream={"cohorts": cohorts_with(proof="proof.csv")})
    with pytest.raises(work.StudyDataError, match="CT case folder not found"):
        work.run_segmenter(ctx)


def test_classifier_crop_choices_and_joint_mix(minimal) -> None:
    """classifiers.crop: box / joints / joints_span; joint_mix needs a joint-pair crop."""
    assert config_from_dict(minimal(classifiers__crop="joints_span", classifiers__joint_mix=True)).classifiers.crop == "joints_span"
    assert config_from_dict(minimal(classifiers__crop="joints", classifiers__joint_mix=True)).classifiers.joint_mix
    with pytest.raises(StudyConfigError, match="joint_mix"):
        config_from_dict(minimal(classifiers__crop="box", classifiers__joint_mix=True))
    with pytest.raises(StudyConfigError, match="classifiers.crop"):
        config_from_dict(minimal(classifiers__crop="tiles"))


def test_anatomy_adversarial_reaches_the_classifier_recipe(minimal) -> None:
    c = config_from_dict(minimal(classifiers__anatomy_adversarial=1.0)).classifiers
    assert c.anatomy_adversarial == 1.0 and work._classifier_recipe(c).domain_weight == 1.0
    assert work._classifier_recipe(config_from_dict(minimal()).classifiers).domain_weight == 0.0
    with pytest.raises(StudyConfigError, match="classifiers.anatomy_adversarial"):
        config_from_dict(minimal(classifiers__anatomy_adversarial=-1))


def test_processing_reaches_the_classifier_recipe(minimal) -> None:
    from sijscan.classify.processing import PROCESSING

    assert work._classifier_recipe(config_from_dict(minimal(classifiers__processing=True)).classifiers).processing \
        == PROCESSING
    assert work._classifier_recipe(config_from_dict(minimal()).classifiers).processing is None
    with pytest.raises(StudyConfigError, match="classifiers.processing: must be true or false"):
        config_from_dict(minimal(classifiers__processing="yes"))


def test_grade_pool_reaches_the_classifier_recipe(minimal) -> None:
    from sijscan.classify.recipe import GRADE_POOLS
    from sijscan.study.config_classifiers import GRADE_POOLS as CONFIG_POOLS

    assert CONFIG_POOLS == GRADE_POOLS
    c = config_from_dict(minimal(classifiers__grade_pool="sides")).classifiers
    assert c.grade_pool == "sides" and work._classifier_recipe(c).grade_pool == "sides"
    assert work._classifier_recipe(config_from_dict(minimal()).classifiers).grade_pool == "global"
    with pytest.raises(StudyConfigError, match="classifiers.grade_pool"):
        config_from_dict(minimal(classifiers__grade_pool="middle"))
