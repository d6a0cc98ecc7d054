"""The exposed field: a phantom's label map marks bone behind the collimator too; ``visible_only`` training
and the benchmarks' ``dice_visible`` keep to the bone the radiograph shows."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import torch

import sijscan.anatomy.train as train_mod
from sijscan.anatomy.metrics import parse_box, visible_labels
from sijscan.anatomy.recipes import sijscan_recipe
from sijscan.anatomy.train import TrainConfig, _loaders
from sijscan.cli.main import main

from test_train_segment import _dataset  # noqa: E402  (tests/anatomy is on sys.path under pytest)

torch.set_num_threads(1)


def test_parse_box() -> None:
    assert parse_box("3 4 30 40") == (3, 4, 30, 40)
    assert parse_box("3.0 4 30 40.0") == (3, 4, 30, 40)
    assert parse_box("3,4, 30,40") == (3, 4, 30, 40)  # commas as a spreadsheet may write them
    assert parse_box("3.5 4 30.25 40", number=float) == (3.5, 4.0, 30.25, 40.0)
    for bad in (None, float("nan"), "", "1 2 3", "a b c d", "5 5 5 9", "0 9 10 3", "0 0 inf 9", "0 0 nan 9"):
        assert parse_box(bad) is None


def test_truth_boxes_of_a_row_with_a_text_box_are_taken_from_the_mask_not_a_traceback() -> None:
    """The segmenter run's and the Grad-CAM share's truth boxes read the manifest's box columns with
    parse_box: a box column holding text no longer raises (the run's old parser did)."""
    from sijscan.anatomy.run import _truth_for
    from sijscan.evaluate.cam_inside_sij import true_sij_boxes

    row = {"mask": "m.png", "sij_box_image_left": "see the left joint", "sij_box_image_right": "1 2 30 40"}
    assert _truth_for(row) == ("m.png", None)
    good = {**row, "sij_box_image_left": "1.5, 2, 20, 40"}
    assert _truth_for(good) == ("m.png", [[1, 2, 20, 40], [1, 2, 30, 40]])
    assert true_sij_boxes({**good, "height": 50, "width": 60}) == [[1.5, 2.0, 20.0, 40.0], [1.0, 2.0, 30.0, 40.0]]


def test_visible_labels_keeps_only_the_exposed_field() -> None:
    lab = np.full((6, 8), 2, np.uint8)
    out = visible_labels(lab, (1, 2, 5, 4))  # x0, y0, x1, y1 (end exclusive)
    assert out.dtype == lab.dtype and int(out.sum()) == 2 * 4 * 2
    assert (out[2:4, 1:5] == 2).all() and out[:2].sum() == 0 and out[:, 5:].sum() == 0
    assert visible_labels(lab, None) is lab


@pytest.fixture
def fielded(tmp_path: Path, draw: Callable[..., np.ndarray], render: Callable[..., np.ndarray]) -> Path:
    """A tiny manifest whose rows have an exposed field cutting off the image's right half."""
    manifest = _dataset(tmp_path / "a", draw, render, n=6, size=32)
    df = pd.read_csv(manifest)
    df["field_box"] = "0 0 16 64"  # the images are 32 px wide, 32-40 tall
    df.to_csv(manifest, index=False)
    return manifest


def test_visible_only_training_labels_nothing_outside_the_field(fielded: Path) -> None:
    recipe = sijscan_recipe(size=32)
    whole, _, _ = _loaders(fielded, TrainConfig(size=32), recipe)
    seen, _, _ = _loaders(fielded, TrainConfig(size=32, visible_only=True), recipe)
    y_all, y_vis = whole.dataset.y, seen.dataset.y
    assert int((y_all[..., 16:] > 0).sum()) > 0  # the toy pelvis reaches the right half
    assert int((y_vis[..., 16:] > 0).sum()) == 0
    square = slice(0, None, 2)  # the even rows' images are 32 x 32 (the odd ones 40 wide, resized)
    assert torch.equal(y_vis[square, ..., :16], y_all[square, ..., :16])
    assert torch.equal(seen.dataset.x, whole.dataset.x)  # the images are the same


def test_visible_only_without_field_box_changes_nothing(tmp_path: Path, draw: Callable[..., np.ndarray],
                                                        render: Callable[..., np.ndarray]) -> None:
    manifest = _dataset(tmp_path / "b", draw, render, n=4, size=32)
    recipe = sijscan_recipe(size=32)
    a, _, _ = _loaders(manifest, TrainConfig(size=32), recipe)
    b, _, _ = _loaders(manifest, TrainConfig(size=32, visible_only=True), recipe)
    assert torch.equal(a.dataset.y, b.dataset.y)


def test_cli_and_study_flags_reach_the_trainer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from sijscan.study.config import StudyConfigError, config_from_dict

    seen: list[TrainConfig] = []
    monkeypatch.setattr(train_mod, "train_segmenter", lambda **kw: seen.append(kw["config"]) or tmp_path)
    base = ["train-segmenter", "--manifest", "m.csv", "--out", str(tmp_path)]
    assert main(base) == 0 and seen[-1].visible_only is False
    assert main([*base, "--visible-only"]) == 0 and seen[-1].visible_only is True
    cfg = {"cohorts": {"proof": {"role": "train", "phantom": {"n": 4}}, "gespic": {"role": "test", "phantom": {"n": 4}}},
           "segmenter": {"train": {"visible_only": True}}}
    assert config_from_dict(cfg).segmenter.train.visible_only is True
    cfg["segmenter"]["train"]["visible_only"] = "yes"
    with pytest.raises(StudyConfigError, match="segmenter.train.visible_only: must be true or false"):
        config_from_dict(cfg)



def test_benchmark_scores_visible_bone_and_counts_bone_painted_outside_the_field(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load_benchmark) -> None:
    """sim_to_real.evaluate: ``dice`` against the whole label map, ``dice_visible`` against the bone inside
    ``field_box`` with the prediction whole. A segmenter that reproduces the whole label map (bone behind the
    collimator too) scores 1 on ``dice`` and less on ``dice_visible``."""
    import types

    import cv2

    import sijscan.anatomy.segment as segment

    s2r = load_benchmark("sim_to_real")
    lab = np.zeros((20, 30), np.uint8)
    lab[2:18, 2:9], lab[4:16, 10:20], lab[2:18, 21:28] = 2, 1, 3
    cv2.imwrite(str(tmp_path / "img.png"), (lab * 60).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "mask.png"), lab)
    pd.DataFrame([{"image": "img.png", "mask": "mask.png", "field_box": "0 0 30 10"}]).to_csv(tmp_path / "m.csv",
                                                                                               index=False)
    loc = types.SimpleNamespace(box=None, qc_flags=[])
    stub = types.SimpleNamespace(run=lambda radiograph: types.SimpleNamespace(labels=lab.copy(), location=loc))
    monkeypatch.setattr(segment.Segmenter, "load", classmethod(lambda cls, *a, **k: stub))
    ev = s2r.evaluate(Path("unused"), tmp_path / "m.csv")
    for k in ("sacrum", "hip_image_left", "hip_image_right"):
        assert ev["dice"][k]["mean"] == pytest.approx(1.0)
        assert 0.5 < ev["dice_visible"][k]["mean"] < 0.9


@pytest.mark.parametrize("flag, want", [([], None), (["--visible-only"], {"visible_only": True}),
                                        (["--no-visible-only"], {"visible_only": False})])
def test_stress_benchmark_passes_the_visible_only_choice(flag: list[str], want, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path, load_benchmark) -> None:
    """benchmarks/stress_ct.py: no flag trains the demo's recipe as it stands; either flag overrides it."""
    bench = load_benchmark("stress_ct")
    seen: dict = {}

    def fake_run(**kw):
        seen.update(kw)
        return {"mode": kw["mode"], "folds": {}, "timings": {}, "code": {}}

    monkeypatch.setattr(bench.s2r, "run", fake_run)
    for case in ("001", "002"):  # case folders only: nothing is rendered
        (tmp_path / "cts" / case).mkdir(parents=True)
    assert bench.main(["--quick", "--work", str(tmp_path), "--ct-root", str(tmp_path / "cts"), "--cases", "001,002",
                       "--holdout", "001", *flag]) == 0
    assert seen["overrides"] == want and seen["test_realism"] == "stress"
