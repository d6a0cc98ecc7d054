"""Reading predictions, joining them with a manifest, and the input errors."""

import numpy as np
import pandas as pd
import pytest

from sijscan.errors import InputError
from sijscan.evaluate.errors import KeyMismatchError, PredictionsError
from sijscan.evaluate.predictions import (fill_labels, join_predictions, load_dataset, load_manifest,
                                          read_predictions, select)

COLUMNS = ["image", "patient_id", "cohort", "split", "label", "grade_left", "grade_right", "mask",
           "followup_label", "followup_grade_left", "followup_grade_right"]


def write_manifest(path, images, labels, **extra):
    rows = {c: [""] * len(images) for c in COLUMNS}
    rows["image"] = [str(i) for i in images]
    rows["patient_id"] = [f"p{i}" for i in range(len(images))]
    rows["label"] = labels
    rows.update(extra)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture()
def setup(tmp_path):
    img_dir = tmp_path / "images"
    images = [img_dir / f"case{i:02d}.png" for i in range(6)]
    man = write_manifest(tmp_path / "manifest.csv", images, [0, 1, 0, 1, 0, 1],
                         cohort=["X", "X", "X", "Y", "Y", "Y"], split=["test"] * 5 + ["val"])
    preds_dir = tmp_path / "out"
    preds_dir.mkdir()
    return tmp_path, images, man, preds_dir


def test_relative_and_absolute_paths_join(setup):
    tmp_path, images, man, preds_dir = setup
    pd.DataFrame({"image": ["../images/case00.png", str(images[1]), "../images/case02.png"],
                  "probability": [0.1, 0.9, 0.4]}).to_csv(preds_dir / "p.csv", index=False)
    j = join_predictions(read_predictions(preds_dir / "p.csv"), load_manifest(man))
    assert j.table["label"].tolist() == [0, 1, 0]
    assert j.table["probability"].tolist() == [0.1, 0.9, 0.4]
    assert j.n_matched_by_name == 0


def test_file_name_fallback_when_unique(setup):
    tmp_path, images, man, preds_dir = setup
    pd.DataFrame({"image": ["/elsewhere/case03.png", "case04.png"], "probability": [0.7, 0.2]}).to_csv(
        preds_dir / "p.csv", index=False)
    j = join_predictions(read_predictions(preds_dir / "p.csv"), load_manifest(man))
    assert j.n_matched_by_name == 2 and j.table["label"].tolist() == [1, 0]
    assert "file name" in j.notes[0]


def test_file_name_fallback_refused_when_ambiguous(tmp_path):
    images = [tmp_path / "a" / "x.png", tmp_path / "b" / "x.png"]
    man = write_manifest(tmp_path / "m.csv", images, [0, 1])
    pd.DataFrame({"image": ["/other/x.png"], "probability": [0.5]}).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(KeyMismatchError, match="x.png"):
        join_predictions(read_predictions(tmp_path / "p.csv"), load_manifest(man))


def test_mismatch_lists_first_ten_and_count(setup):
    tmp_path, images, man, preds_dir = setup
    names = [f"missing{i:02d}.png" for i in range(15)]
    pd.DataFrame({"image": names + ["case00.png"], "probability": [0.5] * 16}).to_csv(preds_dir / "p.csv", index=False)
    with pytest.raises(KeyMismatchError) as exc:
        join_predictions(read_predictions(preds_dir / "p.csv"), load_manifest(man))
    msg = str(exc.value)
    assert "\n" not in msg and "15 predicted image(s) not in" in msg
    assert "missing09.png" in msg and "missing10.png" not in msg and "+5 more; 15 in all" in msg
    assert isinstance(exc.value, InputError)


@pytest.mark.parametrize("probs,match", [([0.2, 1.2], "line 3"), ([0.2, float("nan")], "line 3"),
                                         (["0.2", "abc"], "abc"), ([-0.1, 0.5], "line 2")])
def test_bad_probabilities(tmp_path, probs, match):
    pd.DataFrame({"image": ["a.png", "b.png"], "probability": probs}).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(PredictionsError, match=match):
        read_predictions(tmp_path / "p.csv")


def test_duplicates_empty_and_missing_columns(tmp_path):
    pd.DataFrame({"image": ["a.png", "./a.png"], "probability": [0.1, 0.2]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(PredictionsError, match=r"duplicate images.*\./a.png, a.png"):
        read_predictions(tmp_path / "d.csv")
    (tmp_path / "e.csv").write_text("image,probability\n")
    with pytest.raises(PredictionsError, match="no rows"):
        read_predictions(tmp_path / "e.csv")
    (tmp_path / "z.csv").write_text("")
    with pytest.raises(PredictionsError, match="empty"):
        read_predictions(tmp_path / "z.csv")
    pd.DataFrame({"image": ["a.png"], "prob": [0.1]}).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(PredictionsError, match="lack column.*probability"):
        read_predictions(tmp_path / "c.csv")
    with pytest.raises(PredictionsError, match="not found"):
        read_predictions(tmp_path / "nope.csv")
    pd.DataFrame({"image": ["a.png"], "probability": [0.1], "decision": [2]}).to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(PredictionsError, match="decision must be 0 or 1"):
        read_predictions(tmp_path / "x.csv")


def test_labels_from_grades_and_missing_labels(tmp_path):
    images = [tmp_path / f"i{i}.png" for i in range(4)]
    man = write_manifest(tmp_path / "m.csv", images, ["", "", 1, ""], grade_left=[2, 1, "", ""],
                         grade_right=[2, 1, "", ""])
    pd.DataFrame({"image": [str(i) for i in images], "probability": [0.9, 0.1, 0.8, 0.5]}).to_csv(
        tmp_path / "p.csv", index=False)
    j = join_predictions(read_predictions(tmp_path / "p.csv"), load_manifest(man))
    labelled, dropped = fill_labels(j.table)
    assert labelled["label"].tolist() == [1, 0, 1] and dropped == 1


def test_select_and_dataset_info(setup):
    tmp_path, images, man, preds_dir = setup
    pd.DataFrame({"image": [str(i) for i in images[:5]], "probability": np.linspace(0.1, 0.9, 5)}).to_csv(
        preds_dir / "p.csv", index=False)
    ds = load_dataset(predictions=preds_dir / "p.csv", manifests=[man], cohort="Y", split="test")
    assert len(ds.table) == 2 and ds.info["filters"] == {"cohort": "Y", "split": "test"}
    assert ds.info["n_manifest_rows_without_prediction"] == 0
    ds = load_dataset(predictions=preds_dir / "p.csv", manifests=[man], cohort="Y")
    assert ds.info["n_manifest_rows_without_prediction"] == 1 and ds.info["notes"]
    with pytest.raises(PredictionsError, match="no labelled predictions"):
        load_dataset(predictions=preds_dir / "p.csv", manifests=[man], cohort="Z")
    with pytest.raises(PredictionsError, match="no 'cohort' column"):
        select(ds.table.drop(columns=["cohort"]), cohort="Y")


def test_adapter_calls_io_read_manifest(monkeypatch, tmp_path):
    calls = {}

    def fake_read_manifest(path, *, require=(), check_files=False):
        calls["args"] = (str(path), require, check_files)
        df = pd.DataFrame({"image": [str(tmp_path / "a.png")], "label": pd.array([1], dtype="Int64")})
        df.attrs["manifest_path"] = str(path)
        return df

    import sijscan.evaluate.predictions as ep

    monkeypatch.setattr(ep, "read_manifest", fake_read_manifest)  # the name evaluate imported from sijscan.io.manifest
    df = load_manifest(tmp_path / "m.csv")
    assert calls["args"] == (str(tmp_path / "m.csv"), (), False) and len(df) == 1


def test_relative_paths_on_both_sides(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    man = write_manifest(tmp_path / "data" / "m.csv", ["img/a.png", "img/b.png"], [0, 1])
    pd.DataFrame({"image": ["../../data/img/b.png", "../../data/img/a.png"], "probability": [0.9, 0.2]}).to_csv(
        tmp_path / "runs" / "r1" / "p.csv", index=False)
    j = join_predictions(read_predictions(tmp_path / "runs" / "r1" / "p.csv"), load_manifest(man))
    assert j.table["label"].tolist() == [1, 0] and j.n_matched_by_name == 0
