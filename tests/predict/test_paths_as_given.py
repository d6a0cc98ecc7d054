"""Issue 25 item 7: predictions carry each file's path as given, so ``evaluate`` joins them to the manifest
exactly wherever the output folder lies; ``--hash-names`` leaves paths and DICOM UIDs out and evaluate
matches its rows by file content; CSVs without a path column fall back to the relative path, then the name."""
from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from sijscan.cli.main import main
from sijscan.evaluate.predictions import join_predictions, load_manifest, read_predictions
from sijscan.files import file_digest
from test_standins import draw_pelvis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from cohort_helpers import write_tiny_dicom  # noqa: E402


@pytest.fixture
def cohort(tmp_path: Path) -> tuple[Path, Path]:
    """``in/a/x.png`` and ``in/b/x.png`` (one file name, two patients) and a DICOM, with a manifest in
    another folder naming them relative to itself."""
    root = tmp_path / "in"
    for sub, seed in (("a", 1), ("b", 2)):
        img, _ = draw_pelvis(seed=seed)
        (root / sub).mkdir(parents=True)
        cv2.imwrite(str(root / sub / "x.png"), (img * 255).astype(np.uint8))
    img, _ = draw_pelvis(seed=3)
    write_tiny_dicom(root / "c" / "IMG0001", patient_id="PAT-1", study_uid="1.2.826.0.1.3680043.2.1.9",
                     accession="ACC-1", study_date="20200101", pixels=np.round(img * 4000))
    manifest = tmp_path / "tables" / "manifest.csv"
    manifest.parent.mkdir()
    manifest.write_text("image,label\n../in/a/x.png,1\n../in/b/x.png,0\n../in/c/IMG0001,1\n", encoding="utf-8")
    return root, manifest


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "predictions.csv", newline="") as fh:
        return {r["image"]: r for r in csv.DictReader(fh)}


def test_each_row_carries_its_path_and_evaluate_joins_exactly(models: Path, cohort, tmp_path: Path) -> None:
    root, manifest = cohort
    out = tmp_path / "far" / "away" / "out"
    given = [root / "a" / "x.png", root / "b" / "x.png", root / "c"]  # two files of one name, and a folder
    assert main(["predict", *map(str, given), "--model", str(models), "--out", str(out), "--device", "cpu"]) == 0
    rows = _rows(out)
    assert {n: r["path"] for n, r in rows.items()} == {
        "x.png": str(given[0]), "x.png#2": str(given[1]), "IMG0001": str(root / "c" / "IMG0001")}
    # the names cannot tell the two x.png apart, and the output folder is nowhere near them: the path joins
    joined = join_predictions(read_predictions(out / "predictions.csv"), load_manifest(manifest))
    assert joined.n_matched_by_name == 0 and not joined.notes
    assert dict(zip(joined.table["image"], joined.table["probability"])) == pytest.approx({
        str(given[0]): float(rows["x.png"]["probability"]), str(given[1]): float(rows["x.png#2"]["probability"]),
        str(root / "c" / "IMG0001"): float(rows["IMG0001"]["probability"])})
    assert main(["evaluate", "--predictions", str(out / "predictions.csv"), "--manifest", str(manifest),
                 "--cutoff", "0.5", "--bootstrap", "10", "--out", str(tmp_path / "eval")]) == 0


def test_a_manifests_images_are_named_relative_to_it_and_match_it(models: Path, cohort, tmp_path: Path) -> None:
    _, manifest = cohort
    out = tmp_path / "out"
    assert main(["predict", str(manifest), "--model", str(models), "--out", str(out), "--device", "cpu"]) == 0
    assert list(_rows(out)) == ["../in/a/x.png", "../in/b/x.png", "../in/c/IMG0001"]  # as the manifest gives them
    joined = join_predictions(read_predictions(out / "predictions.csv"), load_manifest(manifest))
    assert joined.n_matched_by_name == 0 and joined.table["label"].tolist() == [1, 0, 1]


def test_hash_names_leave_out_paths_and_uids_and_evaluate_matches_by_content(models: Path, cohort,
                                                                              tmp_path: Path) -> None:
    root, manifest = cohort
    out = tmp_path / "out"
    assert main(["predict", str(root), "--model", str(models), "--out", str(out), "--device", "cpu",
                 "--hash-names"]) == 0
    rows = _rows(out)
    assert len(rows) == 3 and all(re.fullmatch(r"[0-9a-f]{16}", n) for n in rows)
    for r in rows.values():
        assert r["path"] == "" and r["study_uid"] == r["series_uid"] == r["sop_uid"] == ""
    for f in out.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert b"1.2.826.0.1.3680043.2.1.9" not in data and b"x.png" not in data and b"IMG0001" not in data
    joined = join_predictions(read_predictions(out / "predictions.csv"), load_manifest(manifest))
    assert dict(zip(joined.table["image"], joined.table["label"])) == {
        str(root / "a/x.png"): 1, str(root / "b/x.png"): 0, str(root / "c/IMG0001"): 1}
    assert any("by file content" in n for n in joined.notes)
    hashes = dict(zip(joined.table["image"], rows))  # each row went to the file whose content it names
    assert all(file_digest(path)[:16] == name for path, name in hashes.items())


def test_a_csv_without_paths_joins_on_its_relative_path_before_the_name(tmp_path: Path) -> None:
    """An older predictions CSV (no path column) elsewhere: ``a/x.png`` and ``b/x.png`` cannot be told
    apart by name, but their relative paths end exactly one manifest path each."""
    for sub in ("a", "b"):
        (tmp_path / "data" / sub).mkdir(parents=True)
        (tmp_path / "data" / sub / "x.png").write_bytes(sub.encode())
    manifest = tmp_path / "data" / "m.csv"
    manifest.write_text("image,label\na/x.png,1\nb/x.png,0\n", encoding="utf-8")
    (tmp_path / "old").mkdir()
    pd.DataFrame({"image": ["b/x.png", "./a/x.png"], "probability": [0.1, 0.9]}).to_csv(tmp_path / "old" / "p.csv",
                                                                                         index=False)
    joined = join_predictions(read_predictions(tmp_path / "old" / "p.csv"), load_manifest(manifest))
    assert joined.table["label"].tolist() == [0, 1] and joined.n_matched_by_name == 0 and not joined.notes
