"""Pipeline API and ``sijscan predict``: outputs, resumability, bad-file rows, report, exit codes."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sijscan.cli.main import main
from test_standins import draw_pelvis, make_models


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    for i in range(3):
        img, _ = draw_pelvis(seed=i)
        cv2.imwrite(str(d / ("sub" if i == 2 else "") / f"case{i}.png"), (img * 255).astype(np.uint8))
    (d / "empty.png").write_bytes(b"")
    (d / "notes.png").write_text("not an image\n")
    (d / "README.txt").write_text("ignored: not an image by name or content\n")
    return d


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "predictions.csv", newline="") as fh:
        return {r["image"]: r for r in csv.DictReader(fh)}


def test_prediction_fields_match_an_independent_forward_pass(models: Path) -> None:
    from sijscan import Pipeline, Prediction
    from sijscan.classify.predict import classify_views, load_classifier

    pipe = Pipeline.from_dirs(segmenter=models / "segmenter", classifier=models / "classifier", device="cpu")
    img, _ = draw_pelvis()
    pred = pipe.predict(img, name="x", gradcam=True)
    assert isinstance(pred, Prediction) and pred.qc_passed and pred.error is None
    # the crop is the SIJ box in original pixels; the classifier's own predict agrees on it
    x0, y0, x1, y1 = pred.sij_box
    ref = classify_views(load_classifier(models / "classifier"), [img[y0:y1, x0:x1]])[0]
    assert pred.probability == pytest.approx(ref.probability, abs=1e-5)
    assert pred.probability_calibrated == pytest.approx(ref.probability_calibrated, abs=1e-5)
    assert pred.grades == ref.grades and set(pred.grades) == {"left", "right"}
    assert pred.cutoff == 0.5 and pred.temperature == 2.0
    assert {"read_s", "segment_s", "qc_s", "classify_s", "total_s"} <= set(pred.timings)
    cam = pred.cam_on_radiograph()
    assert cam.shape == img.shape and cam[:y0].max() == 0 and cam[y1:].max() == 0
    json.dumps(pred.to_json())  # serialisable, no arrays
    many = pipe.predict_many([img, img[:, ::-1].copy()], batch_size=2)
    assert many[0].probability == pytest.approx(pred.probability, abs=1e-5)


def test_predict_cli_rows_errors_resume_and_report(models: Path, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    rc = main(["predict", str(folder), "--model", str(models), "--out", str(out), "--gradcam", "--report",
               "--device", "cpu", "--batch-size", "2", "--workers", "2"])
    assert rc == 1
    rows = _rows(out)
    assert set(rows) == {"case0.png", "case1.png", "sub/case2.png", "empty.png", "notes.png"}
    assert rows["empty.png"]["error"] and rows["notes.png"]["error"]
    assert "\n" not in rows["notes.png"]["error"]
    for name in ("case0.png", "case1.png", "sub/case2.png"):
        r = rows[name]
        assert r["error"] == "" and r["decision"] in ("0", "1") and 0 <= float(r["probability"]) <= 1
        assert r["qc_passed"] == "true" and r["grade_left"] != ""
    assert (out / "images" / "case0.png.json").is_file()
    assert (out / "images" / "case0.png_overlay.png").is_file()
    assert (out / "images" / "case0.png_gradcam.png").is_file()
    report = (out / "report.html").read_text()
    assert report.count("data:image/jpeg;base64,") >= 6 and "http" not in report.replace("http-equiv", "")
    assert not list(out.rglob("*.tmp"))
    before = (out / "images" / "case0.png.json").stat().st_mtime_ns
    # rerun: the three good images are skipped, the two bad ones retried (and still fail)
    rc = main(["predict", str(folder), "--model", str(models), "--out", str(out), "--device", "cpu"])
    assert rc == 1 and len(_rows(out)) == 5
    assert (out / "images" / "case0.png.json").stat().st_mtime_ns == before
    # remove the bad files: everything named is done, exit 0; --overwrite keeps the rows of images not named
    (folder / "empty.png").unlink()
    (folder / "notes.png").unlink()
    assert main(["predict", str(folder), "--model", str(models), "--out", str(out), "--device", "cpu",
                 "--overwrite"]) == 0
    assert len(_rows(out)) == 5 and (out / "images" / "case0.png.json").stat().st_mtime_ns != before


def test_resume_survives_a_torn_last_row(models: Path, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    main(["predict", str(folder / "case0.png"), "--model", str(models), "--out", str(out), "--device", "cpu"])
    with open(out / "predictions.csv", "a") as fh:
        fh.write("case1.png,0.3")  # a crash in the middle of a row
    assert main(["predict", str(folder / "case0.png"), str(folder / "case1.png"), "--model", str(models),
                 "--out", str(out), "--device", "cpu"]) == 0
    rows = _rows(out)
    assert set(rows) == {"case0.png", "case1.png"} and rows["case1.png"]["probability"]


def test_no_patient_fields_in_outputs(models: Path, tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    img, _ = draw_pelvis()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(tmp_path / "x.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.PatientName, ds.PatientID = "Doe^Jane", "PID-123456"
    ds.Modality, ds.SOPClassUID, ds.SOPInstanceUID = "CR", meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = img.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (img * 4095).astype(np.uint16).tobytes()
    ds.save_as(str(tmp_path / "scan.dcm"), enforce_file_format=True)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "scan.dcm"), "--model", str(models), "--out", str(out),
                 "--device", "cpu", "--report", "--hash-names"]) == 0
    for f in out.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert b"Doe" not in data and b"PID-123456" not in data and b"scan.dcm" not in data


def test_usage_errors_exit_2(models: Path, tmp_path: Path) -> None:
    assert main(["predict", str(tmp_path), "--model", str(models), "--out", str(tmp_path / "o")]) == 2  # no images
    assert main(["predict", str(tmp_path), "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert main(["predict", str(tmp_path), "--out", str(tmp_path / "o")]) == 2


def test_full_view_classifier_without_segmenter(tmp_path: Path) -> None:
    from sijscan import Pipeline

    root = make_models(tmp_path / "m", view="full", grade_head=False)
    pipe = Pipeline.from_folder(root, device="cpu")
    assert pipe.segmenter is None and pipe.view == "full"
    img, _ = draw_pelvis()
    pred = pipe.predict(img, name="full", gradcam=True)
    assert pred.qc_passed and "no_segmenter" in pred.qc_flags and pred.qc_warnings
    assert pred.grades is None and pred.mny is None and pred.sij_box is None
    assert pred.cam_on_radiograph().shape == img.shape
    with pytest.raises(Exception, match="needs a segmenter"):
        Pipeline.from_dirs(classifier=models_sij(tmp_path) / "classifier", device="cpu")


def models_sij(tmp_path: Path) -> Path:
    return make_models(tmp_path / "sij")


def test_predict_many_on_threads_gives_the_same_predictions_in_order(models: Path, tmp_path: Path) -> None:
    """``predict_many(threads=2)``: the same fields as on one thread, in the sources' order, a bad file
    recorded in its place, Grad-CAM included."""
    from sijscan import Pipeline

    pipe = Pipeline.from_dirs(segmenter=models / "segmenter", classifier=models / "classifier", device="cpu")
    sources: list[object] = [draw_pelvis(seed=i)[0] for i in range(4)]
    bad = tmp_path / "bad.png"
    bad.write_text("not an image\n")
    sources.insert(2, str(bad))
    one = pipe.predict_many(sources, batch_size=3, gradcam=True, on_error="record")
    two = pipe.predict_many(sources, batch_size=3, gradcam=True, on_error="record", threads=2)
    assert [p.error is None for p in two] == [True, True, False, True, True]
    for a, b in zip(one, two):
        assert (a.image, a.error, a.sij_box, a.decision, a.grades) == (b.image, b.error, b.sij_box, b.decision, b.grades)
        if a.error is None:
            assert b.probability == pytest.approx(a.probability, abs=1e-6)
            assert "preprocess_s" in b.timings and np.array_equal(a.images.model_input, b.images.model_input)
    with pytest.raises(Exception, match="threads must be >= 1"):
        pipe.predict_many(sources, threads=0)
