"""Study wiring of the CAM share (issue #7) and the grade agreement, with a fake pipeline (no torch)."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sijscan.study import report as study_report
from sijscan.study.config import config_from_dict
from sijscan.study.context import StageContext
from sijscan.study.report_grades import grades_section
from sijscan.study.outputs import PredictOutput
from sijscan.study.where_models_look import cam_shares, score_sets, table_rows
from tests.study.study_fakes import classifiers_with, evaluate_with, given_segmenter

H, W = 40, 60
LEFT, RIGHT = [10, 10, 20, 30], [40, 10, 50, 30]   # 200 px each: chance = 400 / 2400


class FakePipeline:
    """Standard: CAM uniform over the image. Anatomy-aware: all mass in the left joint, crop = both boxes."""

    def __init__(self, view: str) -> None:
        self.view = view

    def predict_many(self, images, **kw):
        assert kw["gradcam"] is True
        out = []
        for img in images:
            cam = np.full((H, W), 0.5, np.float32)
            crop = [0, 0, W, H]
            if self.view == "sij":
                cam = np.zeros((H, W), np.float32)
                cam[10:30, 10:20] = 1.0
                crop = [5, 5, 55, 35]
            if self.view == "full" and img.endswith("_2.png"):
                cam = np.zeros((H, W), np.float32)  # no evidence for 'positive' anywhere
            if "fail" in img:
                out.append(SimpleNamespace(error="cannot read", images=None, cam_on_radiograph=lambda cls: None))
                continue
            out.append(SimpleNamespace(error=None, images=SimpleNamespace(crop_box=crop),
                                       cam_on_radiograph=lambda cls, c=cam: c))
        return out


def _manifest(path: Path, n: int, *, boxes: bool = True) -> str:
    df = pd.DataFrame({"image": [str(path.parent / f"{'fail' if i == 0 else 'ok'}_{path.stem}_{i}.png") for i in range(n)],
                       "patient_id": [f"p{i}" for i in range(n)], "label": [1, 0] * (n // 2),
                       "height": H, "width": W})
    if boxes:
        df["sij_box_image_left"] = " ".join(map(str, LEFT))
        df["sij_box_image_right"] = " ".join(map(str, RIGHT))
    df.to_csv(path, index=False)
    return str(path)


@pytest.fixture
def ctx(tmp_path: Path, minimal, monkeypatch: pytest.MonkeyPatch) -> StageContext:
    from sijscan.predict import pipeline

    monkeypatch.setattr(pipeline.Pipeline, "from_dirs",
                        classmethod(lambda cls, *, classifier, segmenter=None, device="auto":
                                    FakePipeline("sij" if segmenter else "full")))
    cfg = config_from_dict(minimal(predict__cam_share_images=4, evaluate__n_bootstrap=50))
    sets = {"proof-val": _manifest(tmp_path / "val.csv", 12), "optiref": _manifest(tmp_path / "o.csv", 6),
            "real": _manifest(tmp_path / "r.csv", 6, boxes=False)}
    up = {"predict": PredictOutput(sets=sets, predictions={}, combined={}, failed={}, gradcam=()),
          "segmenter": given_segmenter("seg"), "classifiers": classifiers_with(standard="a", anatomy="b")}
    return StageContext(config=cfg, out_dir=tmp_path, stage_dir=tmp_path / "predict", upstream=up)


def _shares(ctx: StageContext, tmp_path: Path) -> dict:
    """The predict stage's half (Grad-CAM runs, one CSV per set), then the evaluate stage's (statistics only)."""
    tables = score_sets(ctx, sets=ctx.predict.sets, out_dir=tmp_path / "cs")
    return cam_shares(tables, n_bootstrap=ctx.config.evaluate.n_bootstrap, seed=ctx.config.study.seed)


def test_cam_shares_per_set_and_model(ctx: StageContext, tmp_path: Path) -> None:
    res = _shares(ctx, tmp_path)
    assert set(res) == {"proof-val", "optiref"}           # 'real' has no boxes and no masks
    val = res["proof-val"]
    assert val["n_positives"] == 4                        # capped at cam_share_images
    std, ana = val["models"]["standard"], val["models"]["anatomy"]
    # the first positive could not be read; the standard model's CAM of the second is all zero
    assert std["n"] == 2 and std["n_no_cam"] == 1 and std["n_zero_cam"] == 1
    assert ana["n"] == 3 and ana["n_no_cam"] == 1 and ana["n_zero_cam"] == 0
    assert std["mean"] == pytest.approx(400 / 2400) and std["chance_image"] == pytest.approx(400 / 2400)
    assert ana["mean"] == pytest.approx(1.0) and ana["median"] == pytest.approx(1.0)
    assert ana["chance_region"] == pytest.approx(400 / (50 * 30))
    assert val["difference_anatomy_minus_standard"]["mean"] == pytest.approx(1 - 400 / 2400)
    assert res["optiref"]["n_positives"] == 3
    per_image = pd.read_csv(val["csv"])
    assert len(per_image) == 4 and per_image["standard_share"].isna().sum() == 2
    rows = table_rows(res)
    assert len(rows) == 4 and rows[0][-1] == "-"
    assert rows[0][:3] == ["proof-val", "standard", "2 (1 all-zero CAM, 1 without CAM)"]


def test_cam_shares_switched_off(ctx: StageContext, tmp_path: Path, minimal) -> None:
    ctx.config = config_from_dict(minimal(predict__cam_share_images=0))
    assert score_sets(ctx, sets=ctx.predict.sets, out_dir=tmp_path / "cs") == {}
    assert cam_shares({}, n_bootstrap=10, seed=0) == {}


def test_report_sections_for_cam_share_and_grades(ctx: StageContext, tmp_path: Path) -> None:
    from sijscan.evaluate.grades import grade_agreement
    from sijscan.evaluate.report import Report

    cam = _shares(ctx, tmp_path)
    sec = {"available": True, **grade_agreement(true_left=[0, 2, 3], true_right=[1, 2, 4], pred_left=[0, 2, 2],
                                                pred_right=[1, 3, 4], label=[0, 1, 1])}
    ctx.upstream["evaluate"] = evaluate_with(camshare=cam, grades={  # type: ignore[index]
        "standard": {"optiref": sec}, "anatomy": {"optiref": {"available": False, "reason": "x"}}})
    rep = Report(title="t")
    out = tmp_path / "rep"
    out.mkdir()
    study_report._where(rep, ctx, out)
    grades_section(rep, ctx, out)
    md = rep.markdown()
    assert "## Where the models look" in md and "| proof-val | anatomy-aware | 3 (1 without CAM) |" in md
    assert "## Grade head: per-side grade agreement" in md and "| optiref | standard | patient's left | 3 |" in md
    assert json.loads((out / "where_models_look.json").read_text())["optiref"]["n_positives"] == 3
    assert json.loads((out / "grade_agreement.json").read_text())["standard"]["optiref"]["mny"]["n"] == 3
    empty = Report(title="e")
    ctx.upstream["evaluate"] = evaluate_with()  # type: ignore[index]
    study_report._where(empty, ctx, out)
    grades_section(empty, ctx, out)
    assert empty.markdown().count("(not computed") == 2


def test_the_evaluate_half_runs_no_model(ctx: StageContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 23: evaluate is pure statistics; the Grad-CAMs are run in the predict stage only."""
    from sijscan.predict import pipeline

    tables = score_sets(ctx, sets=ctx.predict.sets, out_dir=tmp_path / "cs")
    monkeypatch.setattr(pipeline.Pipeline, "from_dirs", classmethod(lambda cls, **k: pytest.fail("a model ran")))
    assert cam_shares(tables, n_bootstrap=20, seed=0)["optiref"]["n_positives"] == 3


def test_old_config_place_of_cam_share_images_is_read(minimal) -> None:
    from sijscan.study.config_fields import StudyConfigError

    assert config_from_dict(minimal(evaluate__cam_share_images=7)).predict.cam_share_images == 7
    with pytest.raises(StudyConfigError, match="give it once"):
        config_from_dict(minimal(evaluate__cam_share_images=7, predict__cam_share_images=3))


def test_each_model_is_loaded_once_for_every_set(ctx: StageContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from sijscan.predict import pipeline

    loads = []

    def counted(cls, *, classifier, segmenter=None, device="auto"):
        loads.append(classifier)
        return FakePipeline("sij" if segmenter else "full")

    monkeypatch.setattr(pipeline.Pipeline, "from_dirs", classmethod(counted))
    tables = score_sets(ctx, sets=ctx.predict.sets, out_dir=tmp_path / "cs")
    assert len(tables) == 2  # two sets with true boxes, each scored by both models
    assert sorted(loads) == ["a", "b"]
