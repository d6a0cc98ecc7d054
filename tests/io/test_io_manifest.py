"""Manifest CSV: reading, validation with line numbers, relative paths, atomic writing."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from sijscan.errors import EmptyFileError, FileMissingError, ManifestError
from sijscan.io import MANIFEST_COLUMNS, read_manifest, write_manifest
from sijscan.io.manifest import validate_manifest


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"x")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


VALID = (
    "image,patient_id,split,label,grade_left,grade_right,mask,box_x0\n"
    "img/a.png,P1,train,1,2,2,masks/a.png,10\n"
    "img/b.png,P2,val,0,1,1,,12\n"
    "img/c.png,P3,test,,,,,\n"
)


def test_valid_manifest_is_typed_and_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _touch(data, "img/a.png", "img/b.png", "img/c.png", "masks/a.png")
    csv_path = _write(data / "manifest.csv", VALID)
    monkeypatch.chdir(tmp_path)  # paths must be relative to the CSV's folder, not the working directory
    df = read_manifest("data/manifest.csv")
    assert list(df.columns) == list(MANIFEST_COLUMNS) + ["box_x0"]
    assert df["image"].tolist() == [str(data / "img" / n) for n in ("a.png", "b.png", "c.png")]
    assert df["mask"].tolist()[0] == str(data / "masks" / "a.png") and df["mask"].isna().tolist()[1:] == [True, True]
    for column in ("label", "grade_left", "grade_right", "followup_label", "followup_grade_left", "followup_grade_right"):
        assert str(df[column].dtype) == "Int64"
    assert df["label"].tolist()[:2] == [1, 0] and pd.isna(df["label"].iloc[2])
    assert df["cohort"].isna().all()  # an absent optional column is added empty
    assert df["box_x0"].tolist()[:2] == [10, 12] and pd.isna(df["box_x0"].iloc[2])
    assert df.attrs["manifest_path"] == str(csv_path)


def test_round_trip_keeps_content_and_writes_relative_paths(tmp_path: Path) -> None:
    _touch(tmp_path, "img/a.png", "img/b.png", "img/c.png", "masks/a.png")
    df = read_manifest(_write(tmp_path / "m.csv", VALID))
    out = write_manifest(df, tmp_path / "copy.csv")
    assert out == tmp_path / "copy.csv"
    text = out.read_text().splitlines()
    assert text[0] == ",".join(MANIFEST_COLUMNS) + ",box_x0"
    assert text[1].startswith("img/a.png,P1,,train,1,2,2,masks/a.png,,,,10")
    again = read_manifest(out)
    pd.testing.assert_frame_equal(again, df, check_like=False)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary file left behind


def test_write_keeps_outside_paths_absolute_and_moves_relative_ones(tmp_path: Path) -> None:
    _touch(tmp_path, "img/a.png", "img/b.png", "img/c.png", "masks/a.png")
    df = read_manifest(_write(tmp_path / "m.csv", VALID))
    out = write_manifest(df, tmp_path / "sub" / "deeper.csv")  # the images are outside sub/
    row = out.read_text().splitlines()[1].split(",")
    assert row[0] == str(tmp_path / "img" / "a.png")
    assert read_manifest(out)["image"].tolist() == df["image"].tolist()
    fresh = pd.DataFrame({"image": ["x/1.png", "x/2.png"], "label": [1, 0], "grade_left": [3, 0], "grade_right": [0, 0]})
    written = write_manifest(fresh, tmp_path / "fresh.csv")  # no manifest_path: already relative to the CSV
    assert written.read_text().splitlines()[1].startswith("x/1.png,,,,1,3,0,")
    assert oct(os.stat(written).st_mode & 0o777) == "0o644"


def test_every_bad_row_is_reported_with_its_line(tmp_path: Path) -> None:
    _touch(tmp_path, "a.png", "b.png", "c.png", "d.png", "e.png", "f.png", "g.png", "h.png", "i.png")
    text = (
        "image,split,label,grade_left,grade_right,mask,followup_label,followup_grade_left,followup_grade_right\n"  # 1
        "a.png,train,1,2,2,,,,\n"  # 2 fine
        "b.png,training,0,0,0,,,,\n"  # 3 bad split
        "c.png,val,2,,,,,,\n"  # 4 bad label
        "d.png,val,0,5,x,,,,\n"  # 5 two bad grades
        "e.png,test,0,3,0,,,,\n"  # 6 label contradicts grades (3 on one side is positive)
        "\n"  # 7 blank line: skipped, but line numbers stay physical
        "a.png,test,,,,,,,\n"  # 8 duplicate of line 2
        "missing.png,test,,,,,,,\n"  # 9 file not found
        "f.png,test,,,,nomask.png,,,\n"  # 10 mask not found
        ",test,,,,,,,\n"  # 11 empty image
        "g.png,test,1,2,2,,0,4,4\n"  # 12 follow-up label contradicts follow-up grades
        "h.png,test,1,2,2\n"  # 13 wrong number of fields
        "i.png,val,1,2.0,2.0,,,,\n"  # 14 fine: integral floats are integers
    )
    with pytest.raises(ManifestError) as caught:
        read_manifest(_write(tmp_path / "m.csv", text))
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(f"{tmp_path / 'm.csv'}: invalid manifest: 11 problem(s) in 10 row(s)")
    body = "\n".join(lines[1:])
    expected = [
        "line 3: split must be one of train, val, test, got 'training'",
        "line 4: label must be 0 or 1, got '2'",
        "line 5: grade_left must be an integer 0-4, got '5'",
        "line 5: grade_right must be an integer 0-4, got 'x'",
        "line 6: label 0 contradicts grades left 3 / right 0 (modified New York gives 1)",
        "line 8: image 'a.png' duplicates line 2",
        f"line 9: image file not found: {tmp_path / 'missing.png'}",
        f"line 10: mask file not found: {tmp_path / 'nomask.png'}",
        "line 11: required column 'image' is empty",
        "line 12: followup_label 0 contradicts grades left 4 / right 4 (modified New York gives 1)",
        "line 13: has 5 fields, the header has 9",
    ]
    for message in expected:
        assert message in body, message
    assert "line 2:" not in body and "line 14:" not in body
    assert len(caught.value.problems) == 11  # type: ignore[attr-defined]


def test_require_and_check_files(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.csv", "image,label\nnot_there.png,\n")
    df = read_manifest(path, check_files=False)
    assert df["image"].tolist() == [str(tmp_path / "not_there.png")]
    with pytest.raises(ManifestError, match="line 2: required column 'label' is empty"):
        read_manifest(path, require=("label",), check_files=False)
    with pytest.raises(ManifestError, match="missing required column"):
        read_manifest(_write(tmp_path / "n.csv", "image\nx.png\n"), require=("label", "split"), check_files=False)
    with pytest.raises(ManifestError, match="missing required column"):
        read_manifest(_write(tmp_path / "o.csv", "path,label\nx.png,1\n"), check_files=False)


def test_file_level_problems(tmp_path: Path) -> None:
    with pytest.raises(FileMissingError):
        read_manifest(tmp_path / "none.csv")
    with pytest.raises(EmptyFileError):
        read_manifest(_write(tmp_path / "empty.csv", ""))
    with pytest.raises(ManifestError, match="no header"):
        read_manifest(_write(tmp_path / "blank.csv", "\n\n"))
    with pytest.raises(ManifestError, match="duplicated"):
        read_manifest(_write(tmp_path / "dup.csv", "image,label,label\nx.png,1,1\n"), check_files=False)
    (tmp_path / "latin1.csv").write_bytes("image\nr\xe9sum\xe9.png\n".encode("latin-1"))
    with pytest.raises(ManifestError, match="UTF-8"):
        read_manifest(tmp_path / "latin1.csv", check_files=False)


def test_write_refuses_an_invalid_table(tmp_path: Path) -> None:
    bad = pd.DataFrame({"image": ["a.png", "a.png"], "label": [1, 7]})
    with pytest.raises(ManifestError) as caught:
        write_manifest(bad, tmp_path / "bad.csv")
    assert "line 3: label must be 0 or 1, got '7'" in str(caught.value)
    assert "line 3: image 'a.png' duplicates line 2" in str(caught.value)
    assert not list(tmp_path.iterdir())


def test_validate_manifest_on_a_typed_frame(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"image": [str(tmp_path / "a.png")], "label": pd.array([1], dtype="Int64"),
         "grade_left": pd.array([1], dtype="Int64"), "grade_right": pd.array([pd.NA], dtype="Int64")}
    )
    assert validate_manifest(frame, base_dir=tmp_path, check_files=False) == []
    frame["grade_right"] = pd.array([1], dtype="Int64")
    assert validate_manifest(frame, base_dir=tmp_path, check_files=False) == [
        "line 2: label 1 contradicts grades left 1 / right 1 (modified New York gives 0)"
    ]


def test_empty_label_is_filled_from_both_grades(tmp_path: Path) -> None:
    """The user guide: `label` may be left empty (or absent) when both grades are given."""
    path = _write(tmp_path / "m.csv", "image,label,grade_left,grade_right,followup_grade_left,followup_grade_right\n"
                                      "a.png,,2,2,1,1\nb.png,,0,3,,\nc.png,1,4,0,,\n")
    df = read_manifest(path, require=("label",), check_files=False)
    assert df["label"].tolist() == [1, 1, 1]
    assert df["followup_label"].tolist()[0] == 0 and df["followup_label"].isna().tolist()[1:] == [True, True]
    no_column = _write(tmp_path / "n.csv", "image,grade_left,grade_right\na.png,1,2\n")
    assert read_manifest(no_column, require=("label",), check_files=False)["label"].tolist() == [0]
    one_grade = _write(tmp_path / "o.csv", "image,label,grade_left,grade_right\na.png,,2,\n")
    with pytest.raises(ManifestError, match="line 2: required column 'label' is empty"):
        read_manifest(one_grade, require=("label",), check_files=False)
