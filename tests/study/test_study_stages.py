"""Stage machinery against fakes: order, caching, cache keys, forced reruns, failures."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from sijscan.cli.main import main
from sijscan.study import stage_functions as work
from sijscan.study.run import STAGE_FUNCTIONS
from sijscan.study.config import StudyConfigError, config_from_dict
from sijscan.study.run import run_study
from sijscan.study.context import StageFailedError
from sijscan.study.stages import STAGE_NAMES, STAGES, cache_key
from tests.study.study_fakes import cohorts_with, given_segmenter



def _keys(cfg) -> dict[str, str]:
    keys: dict[str, str] = {}
    for st in STAGES:
        keys[st.name] = cache_key(st, cfg, keys)
    return keys


def test_first_run_runs_all_in_order_second_skips_all(tmp_path: Path, cfg, fake_stages: list[str],
                                                      seen_upstream: dict[str, list[str]]) -> None:
    first = run_study(cfg, out_dir=tmp_path / "s")
    assert fake_stages == list(STAGE_NAMES)
    assert first.ran == list(STAGE_NAMES) and first.skipped == []
    for name in STAGE_NAMES:
        done = json.loads((tmp_path / "s" / name / "done.json").read_text())
        assert done["stage"] == name and done["key"] == _keys(cfg)[name]
    # the predict stage saw the outputs of the stages it declares
    assert seen_upstream["predict"] == ["classifiers", "cohorts", "segmenter"]
    fake_stages.clear()
    second = run_study(cfg, out_dir=tmp_path / "s")
    assert fake_stages == []
    assert second.skipped == list(STAGE_NAMES) and second.ran == []
    assert second.outputs == first.outputs
    assert second.typed == first.typed  # read back from done.json into equal dataclasses
    assert all(type(second.typed[n]) is type(first.typed[n]) for n in STAGE_NAMES)
    assert second.report == tmp_path.resolve() / "s" / "report" / "report.html"
    assert second.findings == ["a finding"]


def test_a_stage_reads_exactly_the_upstream_it_declares(tmp_path: Path, cfg, fake_stages: list[str],
                                                        seen_upstream: dict[str, list[str]]) -> None:
    """The context holds the declared upstream stages only, so a stage cannot read what its cache key
    does not cover; the real stages read only what they declare (the micro study runs them all)."""
    run_study(cfg, out_dir=tmp_path / "s")
    for st in STAGES:
        assert seen_upstream[st.name] == sorted(st.upstream), st.name
    # issue 23: evaluate is statistics on predict's files (Grad-CAMs run in predict), so no segmenter
    assert set(dict((s.name, s) for s in STAGES)["evaluate"].upstream) == {"classifiers", "predict"}


def test_cache_key_changes_with_its_section_and_upstream(minimal, cfg) -> None:
    base = _keys(cfg)
    changed = config_from_dict(minimal(classifiers__recipe="paper"))
    keys = _keys(changed)
    assert keys["cohorts"] == base["cohorts"] and keys["segmenter"] == base["segmenter"]
    for name in ("classifiers", "predict", "evaluate", "compare", "progression", "report"):
        assert keys[name] != base[name], name
    ev = _keys(config_from_dict(minimal(evaluate__n_bootstrap=20)))
    assert [n for n in STAGE_NAMES if ev[n] != base[n]] == ["evaluate", "compare", "progression", "report"]
    cam = _keys(config_from_dict(minimal(predict__cam_share_images=5)))  # the predict stage runs the Grad-CAMs
    assert [n for n in STAGE_NAMES if cam[n] != base[n]] == ["predict", "evaluate", "compare", "progression", "report"]
    co = _keys(config_from_dict(minimal(cohorts__optiref__phantom__n=7)))
    assert all(co[n] != base[n] for n in STAGE_NAMES)


def test_changed_section_reruns_only_downstream(minimal, tmp_path: Path, cfg, fake_stages: list[str]) -> None:
    run_study(cfg, out_dir=tmp_path / "s")
    fake_stages.clear()
    res = run_study(config_from_dict(minimal(predict__batch_size=2)), out_dir=tmp_path / "s")
    assert fake_stages == ["predict", "evaluate", "compare", "progression", "report"]
    assert res.skipped == ["cohorts", "segmenter", "classifiers"]


def test_force_reruns_stage_and_downstream(tmp_path: Path, cfg, fake_stages: list[str]) -> None:
    run_study(cfg, out_dir=tmp_path / "s")
    fake_stages.clear()
    run_study(cfg, out_dir=tmp_path / "s", force=["compare"])
    assert fake_stages == ["compare", "report"]
    fake_stages.clear()
    run_study(cfg, out_dir=tmp_path / "s", force=["all"])
    assert fake_stages == list(STAGE_NAMES)
    with pytest.raises(StudyConfigError, match="--force: unknown stage"):
        run_study(cfg, out_dir=tmp_path / "s", force=["training"])


def test_failed_stage_is_named_and_not_marked_done(tmp_path: Path, cfg, fake_stages: list[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(ctx):
        raise RuntimeError("CUDA out of memory\nmore detail")

    monkeypatch.setitem(STAGE_FUNCTIONS, "classifiers", boom)
    with pytest.raises(StageFailedError) as err:
        run_study(cfg, out_dir=tmp_path / "s")
    assert err.value.stage == "classifiers"
    assert str(err.value) == "stage 'classifiers' failed: RuntimeError: CUDA out of memory more detail"
    assert fake_stages == ["cohorts", "segmenter"]
    assert not (tmp_path / "s" / "classifiers" / "done.json").exists()
    assert (tmp_path / "s" / "segmenter" / "done.json").exists()


def test_cli_failed_stage_exit_1_one_line(minimal, tmp_path: Path, fake_stages: list[str], monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump(minimal()))

    def boom(ctx):
        raise ValueError("no positive case in the validation set")

    monkeypatch.setitem(STAGE_FUNCTIONS, "predict", boom)
    code = main(["study", str(conf), "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 1
    lines = [ln for ln in err.splitlines() if ln.startswith("sijscan study: error")]
    assert lines == ["sijscan study: error: stage 'predict' failed: ValueError: no positive case in the validation set"]
    assert "Traceback" not in err


def test_cli_ok_then_cached(minimal, tmp_path: Path, fake_stages: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump(minimal()))
    assert main(["study", str(conf), "--out", str(tmp_path / "s")]) == 0
    fake_stages.clear()
    assert main(["study", str(conf), "--out", str(tmp_path / "s")]) == 0
    captured = capsys.readouterr()
    assert fake_stages == []
    assert "cached 8" in captured.err and "report.html" in captured.out and "a finding" in captured.out


def test_cli_bad_config_exit_2_one_line(minimal, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump(minimal(segmenter__train__epochs=-3)))
    assert main(["study", str(conf), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["sijscan study: error: segmenter.train.epochs: must be an integer >= 1, got -3"]


def test_stale_stage_folder_is_cleared_on_rerun(tmp_path: Path, cfg, fake_stages: list[str]) -> None:
    run_study(cfg, out_dir=tmp_path / "s")
    leftover = tmp_path / "s" / "predict" / "stale.csv"
    leftover.write_text("x")
    run_study(dataclasses.replace(cfg, predict=dataclasses.replace(cfg.predict, batch_size=3)), out_dir=tmp_path / "s")
    assert not leftover.exists()


def test_demo_cli_uses_embedded_config(tmp_path: Path, fake_stages: list[str], capsys) -> None:
    assert main(["demo", "--out", str(tmp_path / "d")]) == 0
    done = json.loads((tmp_path / "d" / "cohorts" / "done.json").read_text())
    from sijscan.study.demo import demo_config

    assert done["key"] == _keys(demo_config())["cohorts"]
    assert "report:" in capsys.readouterr().out


def test_classifier_epochs_override_reaches_the_recipe(minimal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The classifiers stage trains both views with the same (overridden) recipe and the segmenter."""
    from sijscan.study.context import StageContext

    seen = []

    def fake_train(**kw):
        seen.append(kw)
        folder = Path(kw["out_dir"])
        folder.mkdir(parents=True)
        return folder

    class Card:
        cutoff = 0.4

    monkeypatch.setattr("sijscan.classify.train.train_classifier", fake_train)
    monkeypatch.setattr("sijscan.study.stage_functions.read_card", lambda folder: Card())
    cfg = config_from_dict(minimal(classifiers__epochs=3, study__precision="bf16"))
    ctx = StageContext(config=cfg, out_dir=tmp_path, stage_dir=tmp_path / "classifiers",
                       upstream={"cohorts": cohorts_with(proof="m.csv"), "segmenter": given_segmenter("seg")})
    out = work.run_classifiers(ctx)
    assert [kw["view"] for kw in seen] == ["full", "sij"]
    assert [kw["segmenter"] for kw in seen] == [None, "seg"]
    assert all(kw["recipe"] is seen[0]["recipe"] for kw in seen)
    assert {(st.head_epochs, st.all_epochs) for st in seen[0]["recipe"].stages} == {(3, 3)}
    assert seen[0]["recipe"].arch == "tiny-resnet" and seen[0]["init"] == "random" and seen[0]["seed"] == 1
    assert {kw["precision"] for kw in seen} == {"bf16"}  # study.precision reaches both trainings
    assert out.standard.cutoff == 0.4 and out.anatomy.view == "sij"


def test_cache_key_changes_when_the_code_redefines_what_a_config_names(cfg, monkeypatch) -> None:
    """A realism preset, the anatomy-variant ranges or the sijscan version changed by an upgrade rerun
    every stage: the config text is the same, the renders it names are not."""
    import dataclasses

    import sijscan
    from sijscan.phantom.ct import proportions
    from sijscan.phantom.ct.realism import REALISM_PRESETS

    base = _keys(cfg)
    assert _keys(cfg) == base  # stable
    for patch in (
        lambda: monkeypatch.setitem(REALISM_PRESETS, "varied", dataclasses.replace(REALISM_PRESETS["varied"], p_streaks=0.9)),
        lambda: monkeypatch.setattr(proportions, "DENSITY_RANGE", (0.6, 1.5)),
        lambda: monkeypatch.setattr(sijscan, "__version__", "99.0"),
    ):
        patch()
        keys = _keys(cfg)
        assert all(keys[n] != base[n] for n in STAGE_NAMES)
        monkeypatch.undo()
        assert _keys(cfg) == base
