"""Users' own label maps skip the segmenter; run.json names what made an output folder and guards resume."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_standins import draw_pelvis, make_models

from sijscan.anatomy.localize import locate_sij
from sijscan.cli.main import main


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "predictions.csv", newline="", encoding="utf-8") as fh:
        return {r["image"]: r for r in csv.DictReader(fh)}


@pytest.fixture()
def case(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """One drawn pelvis, and a corrected mask that differs from what the stand-in segmenter finds."""
    img, labels = draw_pelvis(96, 128, seed=2)
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    Image.fromarray(np.rint(img * 255).astype(np.uint8)).save(images / "p1.png")
    own = labels.copy()
    own[:, :20][own[:, :20] == 2] = 0  # a user's correction: the left hip bone trimmed
    Image.fromarray(own).save(masks / "p1_mask.png")
    return images, masks, own


def test_own_masks_skip_the_segmenter_and_set_the_box(tmp_path: Path, case, monkeypatch) -> None:
    from sijscan.anatomy.segment import Segmenter

    images, masks, own = case
    models = make_models(tmp_path / "m")

    def no_segmenter(*a, **k):
        raise AssertionError("the segmenter must not run on an image with its own mask")

    monkeypatch.setattr(Segmenter, "segment", no_segmenter)
    monkeypatch.setattr(Segmenter, "logits", no_segmenter)  # the network call of Segmenter.run and of batches
    assert main(["predict", str(images), "--model", str(models), "--masks", str(masks), "--out", str(tmp_path / "o")]) == 0
    row = _rows(tmp_path / "o")["p1.png"]
    expected = locate_sij(own, dilation_frac=0.1, margin_frac=0.1).box  # the segmenter folder's localize recipe
    assert row["sij_box"] == " ".join(map(str, expected)) and row["probability"]
    detail = json.loads(next((tmp_path / "o" / "images").glob("p1.png*.json")).read_text())
    assert any("label map given by the user" in w for w in detail["qc_warnings"])


def test_manifest_mask_column_and_classifier_without_segmenter(tmp_path: Path, case) -> None:
    images, masks, _ = case
    models = make_models(tmp_path / "m")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"image,mask\n{images / 'p1.png'},{masks / 'p1_mask.png'}\n", encoding="utf-8")
    out = tmp_path / "o"
    assert main(["predict", str(manifest), "--classifier", str(models / "classifier"), "--out", str(out)]) == 0
    row = _rows(out)["images/p1.png"]  # a manifest's images are named by their path relative to its folder
    assert row["probability"] and row["path"] == str(images / "p1.png")
    # without masks an SIJ-crop classifier alone is a usage error, in one line
    assert main(["predict", str(images), "--classifier", str(models / "classifier"), "--out", str(tmp_path / "x")]) == 2


def test_bad_mask_is_a_row_error_not_a_crash(tmp_path: Path, case) -> None:
    images, masks, _ = case
    Image.fromarray(np.full((96, 128), 7, np.uint8)).save(masks / "p1_mask.png")
    models = make_models(tmp_path / "m")
    assert main(["predict", str(images), "--model", str(models), "--masks", str(masks), "--out", str(tmp_path / "o")]) == 1
    assert "label values must be 0-3" in _rows(tmp_path / "o")["p1.png"]["error"]


def test_run_json_names_the_models_and_refuses_a_resume_with_others(tmp_path: Path, case,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    images, _, _ = case
    a, b = make_models(tmp_path / "a", seed=0), make_models(tmp_path / "b", seed=1)
    out = tmp_path / "o"
    assert main(["predict", str(images), "--model", str(a), "--out", str(out)]) == 0
    run = json.loads((out / "run.json").read_text())
    card = json.loads((a / "classifier" / "model.json").read_text())
    assert run["command"] == "predict" and run["identity"]["classifier"]["sha256"] == card["sha256"]
    assert run["identity"]["segmenter"]["arch"] == "predict-test-seg" and run["sijscan_version"]
    assert run["identity"]["settings"] == {"backend": "torch", "fast": False, "own_masks": False}
    capsys.readouterr()
    assert main(["predict", str(images), "--model", str(a), "--out", str(out)]) == 0  # same models: resumes
    assert "skipped 1" in capsys.readouterr().out
    assert main(["predict", str(images), "--model", str(b), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds results of another run" in err and "sha256" in err and len(err.strip().splitlines()) == 1
    assert main(["predict", str(images), "--model", str(b), "--out", str(out), "--overwrite"]) == 0
    assert list(out.glob("predictions.csv.previous-*")) and list(out.glob("run.previous-*.json"))
    assert json.loads((out / "run.json").read_text())["identity"]["classifier"]["sha256"] != card["sha256"]
