"""Results that explain themselves (issue 25 items 6-7): disagreement in words, whose side, legend, model name
and sha256, empty Grad-CAM said, masks used by predict named, files with the user's umask, folders for info."""
from __future__ import annotations

import csv
import json
import logging
import os
import stat
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from sijscan.cli.main import main
from sijscan.predict.explain import EMPTY_CAM, OVERLAY_LEGEND, agreement_note
from sijscan.predict.prediction import Prediction, PredictionImages
from sijscan.predict.report import build_report
from sijscan.predict.table import CSV_COLUMNS
from test_standins import draw_pelvis, make_models


def test_agreement_note_says_which_output_disagrees():
    note = agreement_note(decision=0, grade_left=2, grade_right=2, mny=1)
    assert note.startswith("The decision is negative (probability below the cut-off), but the grade head's grades "
                           "2/2 (patient's left/right) meet the modified New York criterion")
    assert "do not meet" in agreement_note(decision="1", grade_left="1", grade_right="0", mny="0")
    assert agreement_note(decision=1, grade_left=3, grade_right=0, mny=1) is None
    assert agreement_note(decision="", grade_left=2, grade_right=2, mny=1) is None  # withheld: nothing to compare


def _out_folder(tmp_path: Path) -> Path:
    out = tmp_path / "pred"
    (out / "images").mkdir(parents=True)
    row = {c: "" for c in CSV_COLUMNS}
    row.update(image="a.png", probability="0.2", probability_calibrated="0.3", decision="0", cutoff="0.5",
               qc_passed="true", grade_left="2", grade_right="2", mny="1")
    with open(out / "predictions.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        w.writeheader()
        w.writerow(row)
    grey = np.full((20, 30, 3), 90, np.uint8)
    cv2.imwrite(str(out / "images" / "a.png_gradcam_crop.png"), grey)
    (out / "run.json").write_text(json.dumps({"identity": {
        "classifier": {"path": "/m/anatomy", "arch": "resnet50-sij", "sha256": "abcdef0123456789" * 4},
        "segmenter": {"path": "/m/anatomy/segmenter", "arch": "unet-paper", "sha256": "1234" * 16}}}))
    return out


def test_report_names_model_sides_legend_disagreement_and_empty_map(tmp_path):
    page = build_report(_out_folder(tmp_path))
    assert "classifier anatomy (resnet50-sij, sha256 abcdef012345); segmenter segmenter (unet-paper, sha256 123412341234)" in page
    assert OVERLAY_LEGEND.replace("'", "&#x27;") in page
    assert "<th>grades, patient's left / right</th>" in page
    assert "but the grade head&#x27;s grades 2/2" in page
    assert EMPTY_CAM.replace("'", "&#x27;") in page


def test_app_result_says_model_disagreement_and_empty_map():
    from sijscan.app.app import render_result

    crop = np.random.default_rng(0).random((40, 60)).astype(np.float32)
    pred = Prediction(image="upload", probability=0.2, probability_calibrated=0.3, decision=0, cutoff=0.5,
                      qc_passed=True, grades={"left": 3, "right": 0}, mny=1, view="sij", sij_box=[0, 0, 60, 40],
                      images=PredictionImages(pixels=crop, crop=crop, crop_box=[0, 0, 60, 40],
                                              cams={"positive": np.zeros((40, 60), np.float32)}))
    summary, images = render_result(pred, model="classifier anatomy (resnet50-sij, sha256 abcdef012345)")
    assert summary.startswith("Model: classifier anatomy (resnet50-sij, sha256 abcdef012345)")
    assert "grades 3/0 (patient's left/right) meet the modified New York criterion" in summary
    assert "Grad-CAM: empty map: no evidence for sacroiliitis" in images.replace("&#x27;", "'")
    assert "blue = hip bone on the image&#x27;s left (the patient&#x27;s right)" in images


def test_model_files_and_run_json_follow_the_umask(tmp_path):
    from sijscan.runinfo import check_and_write_run

    old = os.umask(0o022)
    try:
        root = make_models(tmp_path / "models")
        check_and_write_run(tmp_path / "out", command="test", identity={}, arguments={}, resume=False)
    finally:
        os.umask(old)
    for f in (root / "classifier" / "model.json", root / "classifier" / "weights.safetensors",
              tmp_path / "out" / "run.json"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f  # mkstemp alone gives 0600


def test_predict_names_the_manifest_masks_and_can_ignore_them(models, tmp_path, caplog):
    img, labels = draw_pelvis(seed=3)
    cv2.imwrite(str(tmp_path / "a.png"), (img * 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "a_mask.png"), labels.astype(np.uint8))
    pd.DataFrame([{"image": "a.png", "mask": "a_mask.png", "label": 1}]).to_csv(tmp_path / "m.csv", index=False)
    with caplog.at_level(logging.WARNING):
        assert main(["predict", str(tmp_path / "m.csv"), "--model", str(models), "--out", str(tmp_path / "p1")]) == 0
    assert "1 of 1 image(s) use their own label map (the manifest's mask column)" in caplog.text
    assert "--ignore-manifest-masks" in caplog.text
    assert json.loads((tmp_path / "p1" / "run.json").read_text())["identity"]["settings"]["own_masks"] is True
    caplog.clear()
    assert main(["predict", str(tmp_path / "m.csv"), "--model", str(models), "--out", str(tmp_path / "p2"),
                 "--ignore-manifest-masks"]) == 0
    assert "own label map" not in caplog.text
    assert json.loads((tmp_path / "p2" / "run.json").read_text())["identity"]["settings"]["own_masks"] is False


def test_info_takes_a_folder(tmp_path, capsys):
    img, _ = draw_pelvis(seed=1)
    (tmp_path / "d" / "sub").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "d" / "sub" / "x.png"), (img * 255).astype(np.uint8))
    (tmp_path / "d" / "notes.txt").write_text("no image")
    assert main(["info", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "x.png: png 128x96" in out and "notes" not in out
