"""Issue 25 item 3: predictions keyed by StudyInstanceUID / SeriesInstanceUID / SOPInstanceUID for DICOM
inputs (empty for other formats), never by patient names; old-format CSVs still resume and evaluate."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from sijscan.cli.main import main
from sijscan.predict.many_files import safe_stem
from sijscan.predict.table import CSV_COLUMNS
from test_standins import draw_pelvis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from cohort_helpers import write_tiny_dicom  # noqa: E402

UID_COLUMNS = ["study_uid", "series_uid", "sop_uid"]


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """Two extensionless DICOMs in study folders and one PNG."""
    img, _ = draw_pelvis(seed=1)
    root = tmp_path / "in"
    write_tiny_dicom(root / "a" / "IMG0001", patient_id="PAT-7731", study_uid="1.2.826.0.1.3680043.2.1.1",
                     accession="ACC-441", study_date="20200101", pixels=np.round(img * 4000))
    write_tiny_dicom(root / "b" / "IMG0001", patient_id="PAT-7732", study_uid="1.2.826.0.1.3680043.2.1.2",
                     accession="ACC-442", study_date="20200102", pixels=np.round(img[:, ::-1] * 4000))
    cv2.imwrite(str(root / "plain.png"), (img * 255).astype(np.uint8))
    return root


def _rows(out: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    with open(out / "predictions.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), {r["image"]: r for r in reader}


def _uids(path: Path) -> dict[str, str]:
    from pydicom import dcmread

    ds = dcmread(path)
    return {"study_uid": ds.StudyInstanceUID, "series_uid": ds.SeriesInstanceUID, "sop_uid": ds.SOPInstanceUID}


def test_radiograph_keeps_the_instance_uids_apart_from_its_metadata(inputs: Path) -> None:
    from sijscan.io import read_radiograph

    rad = read_radiograph(inputs / "a" / "IMG0001")
    assert dict(rad.uids) == _uids(inputs / "a" / "IMG0001")
    assert not set(rad.uids.values()) & set(map(str, rad.metadata.values()))  # metadata stays UID-free
    assert dict(read_radiograph(inputs / "plain.png").uids) == {}


def test_predictions_csv_and_json_are_keyed_by_dicom_uids_never_names(models: Path, inputs: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["predict", str(inputs), "--model", str(models), "--out", str(out), "--device", "cpu"]) == 0
    header, rows = _rows(out)
    assert header == CSV_COLUMNS and header[2:5] == UID_COLUMNS
    for name in ("a/IMG0001", "b/IMG0001"):
        want = _uids(inputs / name)
        assert {k: rows[name][k] for k in UID_COLUMNS} == want
        per_image = json.loads((out / "images" / f"{safe_stem(name)}.json").read_text())
        assert {k: per_image[k] for k in UID_COLUMNS} == want
    assert {k: rows["plain.png"][k] for k in UID_COLUMNS} == dict.fromkeys(UID_COLUMNS, "")
    assert rows["a/IMG0001"]["study_uid"] != rows["b/IMG0001"]["study_uid"]
    for f in out.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert b"NOT^IN^MANIFEST" not in data and b"PAT-773" not in data and b"ACC-44" not in data


def test_a_folder_with_an_old_format_csv_resumes_and_evaluates(models: Path, inputs: Path, tmp_path: Path) -> None:
    """A predictions.csv written before the UID columns: the resumed run keeps its rows (UIDs empty until
    re-predicted), rewrites it under the new header and adds the new image's UIDs; evaluate reads both."""
    out = tmp_path / "out"
    assert main(["predict", str(inputs), "--model", str(models), "--out", str(out), "--device", "cpu"]) == 0
    header, rows = _rows(out)
    old_columns = [c for c in header if c not in UID_COLUMNS]
    with open(out / "predictions.csv", "w", newline="") as fh:  # the pre-UID format, b/IMG0001 not yet done
        w = csv.DictWriter(fh, fieldnames=old_columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(r for name, r in rows.items() if name != "b/IMG0001")
    manifest = tmp_path / "manifest.csv"
    # predict names images relative to its input folder and evaluate resolves them against the CSV's folder;
    # the two DICOMs share the file name IMG0001, so the manifest names them as evaluate resolves them
    manifest.write_text("image,label\n" + "".join(f"out/{n},{i % 2}\n"
                                                    for i, n in enumerate(("a/IMG0001", "b/IMG0001", "plain.png"))))
    evaluate = ["evaluate", "--predictions", str(out / "predictions.csv"), "--manifest", str(manifest),
                "--cutoff", "0.5", "--bootstrap", "10", "--out", str(tmp_path / "eval")]
    assert main(evaluate) == 0  # the old format
    assert main(["predict", str(inputs), "--model", str(models), "--out", str(out), "--device", "cpu"]) == 0
    header, new = _rows(out)
    assert header == CSV_COLUMNS and set(new) == set(rows)
    assert new["a/IMG0001"]["sop_uid"] == ""  # skipped on resume: its old row is kept as it was
    assert new["a/IMG0001"]["probability"] == rows["a/IMG0001"]["probability"]
    assert {k: new["b/IMG0001"][k] for k in UID_COLUMNS} == _uids(inputs / "b" / "IMG0001")
    assert main(evaluate) == 0  # the new format
