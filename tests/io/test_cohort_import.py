"""``sijscan manifest`` / ``import_cohort``: a nested DICOM folder + a grades table with the group's own names."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sijscan.cli.main import main
from sijscan.io import read_manifest
from sijscan.io.cohort import CohortError, import_cohort
from sijscan.io.cohort.splits import assign_splits

from cohort_helpers import nested_cohort

# patient p: baseline grades (left, right) per reader A and B; follow-up grades one step higher on the left
GRADES = {0: ((0, 0), (0, 1)), 1: ((2, 2), (2, 3)), 2: ((3, 0), (3, 1)), 3: ((1, 1), (1, 1)),
          4: ((2, 1), (2, 2)), 5: ((0, 1), (0, 1)), 6: ((4, 4), (4, 4)), 7: ((1, 0), (1, 0))}
COLUMNS = {"patient_id": "PatientID", "grade_left": "SIJ_left", "grade_right": "SIJ_right", "reader": "Reader",
           "study_date": "Datum"}


@pytest.fixture
def cohort(tmp_path: Path) -> tuple[Path, list[dict]]:
    return tmp_path / "export", nested_cohort(tmp_path / "export")


def _grades_csv(path: Path, made: list[dict], *, readers: str = "AB") -> Path:
    rows = []
    for m in made:
        p = int(m["patient_id"][1:])
        for r, reader in enumerate(readers):
            left, right = GRADES[p][r]
            if m["visit"] == 1:
                left = min(4, left + 1)
            rows.append({"PatientID": m["patient_id"], "Datum": f"{m['date'][6:]}.{m['date'][4:6]}.{m['date'][:4]}",
                         "SIJ_left": left, "SIJ_right": right, "Reader": reader})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_several_readers_without_a_rule_is_refused_naming_the_rules(cohort, tmp_path):
    folder, made = cohort
    grades = _grades_csv(tmp_path / "grades.csv", made)
    with pytest.raises(CohortError, match=r"several rows \(readers in the table: A, B\).*--readers first\|max\|consensus"):
        import_cohort(folder=folder, grades=grades, out=tmp_path / "m.csv", columns=COLUMNS)


def test_max_rule_labels_pairs_followup_and_writes_relative_paths(cohort, tmp_path):
    folder, made = cohort
    grades = _grades_csv(tmp_path / "grades.csv", made)
    out = tmp_path / "data" / "manifest.csv"
    result = import_cohort(folder=folder, grades=grades, out=out, columns=COLUMNS, readers="max", seed=3)
    df = read_manifest(out)  # checked by sijscan's own manifest reader: files exist, labels agree with grades
    raw = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert all(not Path(p).is_absolute() and p.startswith("../export/") for p in raw["image"])
    assert len(df) == 8  # baseline rows only; the follow-up study gives followup_* columns
    by_patient = df.set_index("patient_id")
    for p, (a, b) in GRADES.items():
        row = by_patient.loc[f"P{p:03d}"]
        left, right = max(a[0], b[0]), max(a[1], b[1])
        assert (row["grade_left"], row["grade_right"]) == (left, right)
        from sijscan.mny import mny_positive

        assert row["label"] == mny_positive(left, right)
        assert row["followup_grade_left"] == min(4, left + 1)
        assert row["followup_label"] == mny_positive(min(4, left + 1), right)
        assert Path(row["image"]).parts[-2] == "study0"  # the earliest StudyDate is the baseline
    s = result.summary
    assert s["files"]["skipped"] == {"DICOM Modality CT (not a radiograph)": 1,
                                     "not an image (no DICOM, PNG, JPEG, TIFF or NIfTI content)": 1}
    assert s["followup"]["pairs"] == 8 and s["grade_rows"]["unmatched"] == []
    assert json.loads(out.with_suffix(".summary.json").read_text())["join_key"] == "patient_id"
    assert "follow-up pairs" in out.with_suffix(".summary.txt").read_text()
    assert "NOT^IN^MANIFEST" not in out.read_text() + out.with_suffix(".summary.json").read_text()


def test_splits_are_by_patient_stratified_and_seeded(cohort, tmp_path):
    folder, made = cohort
    grades = _grades_csv(tmp_path / "grades.csv", made)
    a = import_cohort(folder=folder, grades=grades, out=tmp_path / "a.csv", columns=COLUMNS, readers="first",
                      followup="rows", val_fraction=0.25, seed=1).frame
    b = import_cohort(folder=folder, grades=grades, out=tmp_path / "b.csv", columns=COLUMNS, readers="first",
                      followup="rows", val_fraction=0.25, seed=1).frame
    assert len(a) == 16  # every study its own row
    assert a["split"].tolist() == b["split"].tolist()
    assert a.groupby("patient_id")["split"].nunique().max() == 1  # baseline and follow-up on the same side
    val = a[a["split"] == "val"]
    assert set(val["label"]) == {0, 1}  # both classes held out (stratified)


def test_assign_splits_keeps_each_patient_on_one_side():
    df = pd.DataFrame({"image": [f"i{k}" for k in range(40)], "patient_id": [f"p{k // 2}" for k in range(40)],
                       "label": [k // 2 % 2 for k in range(40)]})
    split = assign_splits(df, val_fraction=0.2, seed=0)
    assert df.assign(split=split).groupby("patient_id")["split"].nunique().max() == 1
    assert (split == "val").sum() == 8  # 2 of 10 patients per stratum, 2 images each
    rare = pd.DataFrame({"image": [f"i{k}" for k in range(20)], "patient_id": [f"p{k}" for k in range(20)],
                         "label": [1, 1] + [0] * 18})
    for seed in range(10):  # the rare class is held out once per seed, never 0 or 2 times (stratified)
        held = rare[assign_splits(rare, val_fraction=0.25, seed=seed) == "val"]
        assert held["label"].tolist().count(1) == 1 and len(held) == 5


def test_join_by_accession_and_by_file_name(cohort, tmp_path):
    folder, made = cohort
    rows = [{"Acc": m["accession"], "L": m["visit"] + 1, "R": 2} for m in made]
    pd.DataFrame(rows).to_csv(tmp_path / "acc.csv", index=False)
    by_acc = import_cohort(folder=folder, grades=tmp_path / "acc.csv", out=tmp_path / "acc_m.csv",
                           columns={"accession": "Acc", "grade_left": "L", "grade_right": "R"}, role="test")
    assert by_acc.summary["join_key"] == "accession"
    assert set(by_acc.frame["split"]) == {"test"}
    assert set(by_acc.frame["label"]) == {0} and set(by_acc.frame["followup_label"]) == {1}  # 1/2 -> 0, 2/2 -> 1
    names = [{"File": m["rel"], "L": 3, "R": 0} for m in made if m["visit"] == 0]
    names.append({"File": "IMG0001", "L": 0, "R": 0})  # ambiguous: every study holds an IMG0001
    pd.DataFrame(names).to_csv(tmp_path / "names.csv", index=False)
    by_name = import_cohort(folder=folder, grades=tmp_path / "names.csv", out=tmp_path / "name_m.csv",
                            columns={"image": "File", "grade_left": "L", "grade_right": "R"}, followup="rows")
    assert len(by_name.frame) == 8 and set(by_name.frame["label"]) == {1}
    assert by_name.summary["grade_rows"]["unmatched"] == ["line 10: file name 'IMG0001' matches 16 files"]


def test_consensus_leaves_out_disagreement_and_named_reader_picks_rows(cohort, tmp_path):
    folder, made = cohort
    grades = _grades_csv(tmp_path / "grades.csv", made)
    cons = import_cohort(folder=folder, grades=grades, out=tmp_path / "c.csv", columns=COLUMNS, readers="consensus",
                         followup="rows")
    left_out = cons.summary["radiographs"]["left_out"]
    # P001 baseline: A 2/2 (1), B 2/3 (1): same label, right grade differs -> kept with right empty
    p1 = cons.frame[(cons.frame["patient_id"] == "P001") & (cons.frame["study_date"] == "2020-03-01")].iloc[0]
    assert p1["label"] == 1 and p1["grade_left"] == 2 and pd.isna(p1["grade_right"])
    # P004 baseline: A 2/1 (0), B 2/2 (1) -> disagreement, left out and named
    assert any(x.startswith("site0/P004/study0/IMG0001: 2 readers disagree") for x in left_out)
    named = import_cohort(folder=folder, grades=grades, out=tmp_path / "b.csv", columns=COLUMNS, readers="B",
                          followup="rows")
    p4 = named.frame[(named.frame["patient_id"] == "P004") & (named.frame["study_date"] == "2020-03-01")].iloc[0]
    assert (p4["grade_left"], p4["grade_right"], p4["label"]) == (2, 2, 1)


def test_bad_cells_and_unmatched_rows_are_listed_not_guessed(cohort, tmp_path):
    folder, made = cohort
    pd.DataFrame([{"PID": "P000", "L": "n/a", "R": 1}, {"PID": "P001", "L": 2, "R": 2},
                  {"PID": "NOBODY", "L": 0, "R": 0}]).to_csv(tmp_path / "g.csv", index=False)
    r = import_cohort(folder=folder, grades=tmp_path / "g.csv", out=tmp_path / "m.csv",
                      columns={"patient_id": "PID", "grade_left": "L", "grade_right": "R"}, followup="rows", role="none")
    assert r.summary["grade_rows"]["with_problems"] == ["line 2: L = 'n/a' is not a grade 0-4"]
    assert r.summary["grade_rows"]["unmatched"] == ["line 4: no image with patient_id NOBODY"]
    assert r.frame["patient_id"].tolist() == ["P001"] and r.summary["radiographs"]["without_grades"] == 15
    assert r.frame["study_date"].tolist() == ["2020-03-01"]  # by patient_id alone: the earliest study


def test_mapping_errors_name_the_columns(cohort, tmp_path):
    folder, made = cohort
    grades = _grades_csv(tmp_path / "grades.csv", made)
    with pytest.raises(CohortError, match=r"column\(s\) not in the table: grade_left=SIJ_L .*the table has: PatientID"):
        import_cohort(folder=folder, grades=grades, out=tmp_path / "m.csv", columns={**COLUMNS, "grade_left": "SIJ_L"})
    with pytest.raises(CohortError, match="no join key"):
        import_cohort(folder=folder, grades=grades, out=tmp_path / "m.csv", columns={"grade_left": "SIJ_left"})


def test_cli_with_flags_and_yaml_mapping(cohort, tmp_path, capsys):
    folder, made = cohort
    grades = _grades_csv(tmp_path / "grades.csv", made, readers="A")
    (tmp_path / "map.yaml").write_text("columns: {patient_id: PatientID, grade_left: SIJ_left}\nreaders: first\n")
    out = tmp_path / "m.csv"
    code = main(["manifest", str(folder), "--grades", str(grades), "--mapping", str(tmp_path / "map.yaml"),
                 "--col", "grade_right=SIJ_right", "--col", "study_date=Datum", "--out", str(out), "--cohort", "proof"])
    assert code == 0
    text = capsys.readouterr().out
    assert "radiographs in the manifest: 8" in text and "follow-up pairs" in text
    df = read_manifest(out)
    assert set(df["cohort"]) == {"proof"} and set(df["split"]) == {"train", "val"}
    assert main(["import-cohort", str(folder), "--grades", str(grades), "--col", "bad", "--out", str(out)]) == 2
    assert "write FIELD=COLUMN" in capsys.readouterr().err


def test_excel_grades_table(cohort, tmp_path):
    pytest.importorskip("openpyxl")
    folder, made = cohort
    csv = _grades_csv(tmp_path / "grades.csv", made, readers="A")
    pd.read_csv(csv).to_excel(tmp_path / "grades.xlsx", index=False)
    r = import_cohort(folder=folder, grades=tmp_path / "grades.xlsx", out=tmp_path / "m.csv", columns=COLUMNS)
    assert len(r.frame) == 8 and r.summary["followup"]["pairs"] == 8


def test_mask_paths_from_the_table_resolve_against_the_table(cohort, tmp_path):
    folder, made = cohort
    (tmp_path / "tables" / "masks").mkdir(parents=True)
    (tmp_path / "tables" / "masks" / "m0.png").write_bytes(b"x")
    pd.DataFrame([{"Acc": made[0]["accession"], "L": 0, "R": 0, "Mask": "masks/m0.png"}]).to_csv(
        tmp_path / "tables" / "g.csv", index=False)
    out = tmp_path / "out" / "m.csv"
    import_cohort(folder=folder, grades=tmp_path / "tables" / "g.csv", out=out, followup="rows", role="none",
                  columns={"accession": "Acc", "grade_left": "L", "grade_right": "R", "mask": "Mask"})
    assert pd.read_csv(out)["mask"].tolist() == ["../tables/masks/m0.png"]
    assert read_manifest(out)["mask"].tolist() == [str(tmp_path / "tables" / "masks" / "m0.png")]
