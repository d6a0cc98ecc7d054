"""Training gives a verdict (issue 25 item 4, issue 26 items 6 and 8): where, how good, and what is wrong."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from sijscan.classify.calibration import T_BOUNDS
from sijscan.classify.synthetic import write_synthetic_cohort
from sijscan.classify.verdict import judge
from sijscan.cli.main import main

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_cohort(tmp_path_factory.mktemp("syn"), n=12, height=48, width=64, seed=1)


def _args(manifest: Path, out: Path) -> list[str]:
    return ["train-classifier", "--manifest", str(manifest), "--view", "full", "--recipe", "quick", "--arch",
            "tiny-resnet", "--init", "random", "--accelerator", "cpu", "--out", str(out)]


def test_a_good_model_has_no_flags():
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 20)
    p = np.clip(0.25 + 0.5 * y + 0.1 * rng.standard_normal(40), 0, 1)
    v = judge(y=y, probability=p, cutoff=0.5, temperature=1.3, val_auc=0.97)
    assert v.flags == {} and not v.degenerate and v.val_mcc > 0.8


def test_each_degenerate_sign_is_flagged():
    y = np.array([0, 1] * 20)
    constant = judge(y=y, probability=np.full(40, 0.501), cutoff=0.5, temperature=T_BOUNDS[1] - 1e-4, val_auc=0.39)
    assert set(constant.flags) == {"constant_predictions", "mcc_zero", "temperature_at_bound", "val_auc_below_chance"}
    assert constant.degenerate
    one_class = judge(y=np.zeros(6, int), probability=np.linspace(0.1, 0.4, 6), cutoff=0.3, temperature=2.0,
                      val_auc=None, leaked_patients=["p1", "p2"])
    assert {"val_auc_undefined", "tiny_validation", "patients_in_train_and_val"} <= set(one_class.flags)
    assert "2 patient(s) have radiographs in both train and val (p1, p2)" in one_class.flags["patients_in_train_and_val"]
    small = judge(y=np.array([0, 1] * 4), probability=np.array([0.2, 0.8] * 4), cutoff=0.5, temperature=1.0, val_auc=1.0)
    assert set(small.flags) == {"tiny_validation"} and not small.degenerate
    below = judge(y=y, probability=np.linspace(0.1, 0.4, 40), cutoff=0.5, temperature=1.0, val_auc=0.6)
    assert "constant_predictions" in below.flags and below.degenerate  # spread, but all on one side of the cut-off
    rare = np.array([1, 1] + [0] * 38)
    few = judge(y=rare, probability=rare * 0.8 + 0.1, cutoff=0.5, temperature=1.0, val_auc=1.0)
    assert set(few.flags) == {"tiny_validation"}  # 40 images but only 2 positives


def test_single_class_training_set_is_refused_with_exit_2(cohort, tmp_path, capsys):
    df = pd.read_csv(cohort)
    df["label"] = 0
    df = df.drop(columns=["grade_left", "grade_right"])
    bad = cohort.parent / "negatives.csv"
    df.to_csv(bad, index=False)
    assert main(_args(bad, tmp_path / "m")) == 2
    err = capsys.readouterr().err
    assert "the training split has 8 image(s) with only label 0: a classifier needs both" in err
    assert not (tmp_path / "m" / "model.json").exists()


def test_cli_prints_where_the_figures_and_warnings_and_refuses_to_overwrite(cohort, tmp_path, capsys):
    df = pd.read_csv(cohort)
    df.loc[df["split"] == "val", "patient_id"] = "p000"  # a patient on both sides
    leaky = cohort.parent / "leaky.csv"
    df.to_csv(leaky, index=False)
    out = tmp_path / "model"
    assert main(_args(leaky, out)) == 0
    captured = capsys.readouterr()
    assert f"model folder written: {out}" in captured.out
    assert "validation: 4 images (2 positive), AUC " in captured.out
    assert "warning: tiny_validation: validation has 4 image(s)" in captured.err
    assert "warning: patients_in_train_and_val: 1 patient(s) have radiographs in both train and val (p000)" in captured.err
    verdict = json.loads((out / "model.json").read_text())["provenance"]["verdict"]
    assert {"tiny_validation", "patients_in_train_and_val"} <= set(verdict["flags"]) and verdict["val_n"] == 4
    stamp = (out / "weights.safetensors").stat().st_mtime_ns
    assert main(_args(leaky, out)) == 2
    assert "already holds a trained model (model.json): give another --out, or --overwrite" in capsys.readouterr().err
    assert (out / "weights.safetensors").stat().st_mtime_ns == stamp
    assert main(_args(leaky, out) + ["--overwrite"]) == 0


def test_train_segmenter_refuses_to_overwrite(tmp_path, capsys):
    manifest = write_synthetic_cohort(tmp_path / "syn", n=4, height=32, width=32)
    (tmp_path / "seg").mkdir()
    (tmp_path / "seg" / "model.json").write_text("{}")
    assert main(["train-segmenter", "--manifest", str(manifest), "--out", str(tmp_path / "seg"), "--epochs", "1"]) == 2
    assert "already holds a trained model" in capsys.readouterr().err


def test_segmenter_verdict_flags_a_useless_segmenter():
    from sijscan.anatomy.train import segmenter_verdict

    assert segmenter_verdict(0.07, n_val=10)["flags"].keys() == {"val_dice_low"}
    assert segmenter_verdict(0.07, n_val=10)["degenerate"]
    good = segmenter_verdict(0.91, n_val=10)
    assert good["flags"] == {} and not good["degenerate"]
    assert set(segmenter_verdict(None, n_val=2)["flags"]) == {"val_dice_undefined", "tiny_validation"}


def test_train_segmenter_with_a_wild_learning_rate_says_so(tmp_path, capsys):
    manifest = write_synthetic_cohort(tmp_path / "syn", n=6, height=32, width=32)
    out = tmp_path / "seg"
    assert main(["train-segmenter", "--manifest", str(manifest), "--out", str(out), "--epochs", "1", "--size", "32",
                 "--lr", "1e4", "--batch-size", "2", "--accelerator", "cpu"]) == 0
    captured = capsys.readouterr()
    assert f"model folder written: {out}" in captured.out and "validation: 2 images, best mean Dice" in captured.out
    assert "warning: val_dice_low" in captured.err and "DEGENERATE" in captured.err
    assert json.loads((out / "model.json").read_text())["provenance"]["verdict"]["degenerate"] is True
