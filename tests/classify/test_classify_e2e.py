"""`quick` recipe, both views, end to end through the CLI: model folders that load and predict."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sijscan.classify.data import crop_from_mask, read_image, read_training_manifest
from sijscan.classify.predict import classify_views, load_classifier
from sijscan.classify.synthetic import write_synthetic_cohort
from sijscan.cli.main import main
from sijscan.mny import mny_positive

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_cohort(tmp_path_factory.mktemp("syn"), n=12, height=64, width=96, seed=2)


@pytest.mark.slow
@pytest.mark.parametrize("view", ["sij", "full"])
def test_quick_trains_and_predicts(view: str, cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / f"model-{view}"
    argv = ["train-classifier", "--manifest", str(cohort), "--view", view, "--recipe", "quick", "--out", str(out),
            "--accelerator", "cpu", "--init", "random", "--seed", "1"]
    if view == "sij":
        argv.append("--crop-from-mask")
    assert main(argv) == 0
    card = json.loads((out / "model.json").read_text())
    assert card["kind"] == "classifier" and card["arch"] == "resnet50-sij"
    assert card["recipe"]["view"] == view and card["recipe"]["preprocess"]["mirror"] is False
    assert card["recipe"]["input_size_hw"] == [64, 96] and card["init_args"]["grade_head"] is True
    assert 0.0 <= card["cutoff"] <= 1.0 + 1e-9 and card["temperature"] > 0
    log = card["recipe"]["training"]["stage_log"]
    assert [(s["stage"], s["phase"]) for s in log] == [(0, "head"), (0, "all"), (1, "head"), (1, "all")]
    assert all("best_val_mcc" in s and s["images_per_s"] > 0 for s in log)
    assert card["provenance"]["seed"] == 1 and card["provenance"]["init"] == "random"

    model = load_classifier(out)
    df = read_training_manifest(cohort)
    rows = [r for _, r in df.head(3).iterrows()]
    images = [read_image(r["image"]) for r in rows]
    if view == "sij":
        images = [crop_from_mask(img, r) for img, r in zip(images, rows)]
    preds = classify_views(model, images)
    assert len(preds) == 3
    for p in preds:
        assert 0 <= p.probability <= 1 and 0 <= p.probability_calibrated <= 1
        assert p.decision == int(p.probability >= card["cutoff"])
        assert set(p.grades) == {"left", "right"} and p.mny_from_grades == mny_positive(p.grades["left"],
                                                                                         p.grades["right"])
    # the same again from the folder path gives the same numbers (deterministic inference)
    again = classify_views(out, images)
    assert np.allclose([p.probability for p in preds], [p.probability for p in again])


def test_cli_bad_inputs_give_one_line_errors(cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["train-classifier", "--manifest", str(cohort), "--recipe", "quick", "--out", str(tmp_path / "x"),
            "--accelerator", "cpu", "--init", "random"]
    assert main(base + ["--view", "sij"]) == 2  # neither --segmenter nor --crop-from-mask
    assert main(base + ["--view", "full", "--crop-from-mask"]) == 2
    assert main(["train-classifier", "--manifest", str(tmp_path / "missing.csv"), "--view", "full", "--out",
                 str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("sijscan train-classifier: error:") for line in err)
