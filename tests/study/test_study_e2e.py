"""One micro study end to end with the real stages (phantom -> models -> statistics -> report)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sijscan.study.config import config_from_dict
from sijscan.study.run import run_study
from sijscan.study.stages import STAGE_NAMES

MICRO = {
    "study": {"name": "micro", "seed": 0, "device": "cpu", "workers": 1},
    "cohorts": {"proof": {"role": "train", "phantom": {"n": 16, "size": 128}},
                "gespic": {"role": "test", "phantom": {"n": 12, "size": 128}},
                "optiref": {"role": "test", "phantom": {"n": 12, "size": 128, "overrides": {"prevalence": 0.5}}}},
    "segmenter": {"train": {"epochs": 2, "size": 64, "batch_size": 4}},
    "classifiers": {"recipe": "quick", "arch": "tiny-resnet", "init": "random"},
    "predict": {"batch_size": 8, "gradcam_examples": 1},
    "evaluate": {"n_bootstrap": 20, "progression_bootstrap": 20},
}


@pytest.mark.slow
def test_micro_study_end_to_end_then_cached(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    cfg = config_from_dict(MICRO)
    res = run_study(cfg, out_dir=tmp_path / "s")
    assert res.ran == list(STAGE_NAMES)
    # both models predicted the same images of every evaluation set
    pred = res.outputs["predict"]
    assert set(pred["sets"]) == {"proof-val", "gespic", "optiref"}
    for name in pred["sets"]:
        import pandas as pd

        a = pd.read_csv(pred["predictions"]["standard"][name])
        b = pd.read_csv(pred["predictions"]["anatomy"][name])
        assert list(a["image"]) == list(b["image"])
        assert a["probability"].between(0, 1).all()
    comp = json.loads(Path(res.outputs["compare"]["comparison"]).read_text())
    assert {"gespic", "optiref"} <= set(comp["cohorts"])
    md = Path(res.outputs["report"]["markdown"]).read_text()
    assert "## Table 1: cohorts" in md and "## Table 2: standard vs anatomy-aware model" in md
    assert res.report is not None and res.report.is_file()
    # issue 7: CAM share inside the true SIJ boxes on the phantom positives, both models
    cam = res.outputs["evaluate"]["camshare"]
    assert {"gespic", "optiref"} <= set(cam)
    for block in cam.values():
        for model in ("standard", "anatomy"):
            s = block["models"][model]
            assert 0 < s["chance_image"] < 0.5 and (s["mean"] is None or 0 <= s["mean"] <= 1)
    assert "## Where the models look" in md and "## Grade head: per-side grade agreement" in md
    # the phantom manifests carry grades, so both classifiers have a grade head
    grades = res.outputs["evaluate"]["grades"]
    assert all(grades[m]["gespic"]["available"] for m in ("standard", "anatomy"))
    assert 0 <= grades["anatomy"]["gespic"]["sides"]["both"]["exact"] <= 1
    again = run_study(cfg, out_dir=tmp_path / "s")
    assert again.ran == [] and again.skipped == list(STAGE_NAMES)
