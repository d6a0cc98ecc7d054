"""Validation hold-out by patient (issue 25 item 5): baseline and follow-up films never straddle train/val."""
from __future__ import annotations

import pandas as pd
import pytest

from sijscan.classify.data import split_train_val
from sijscan.classify.errors import ClassifierInputError


def _frame(n_patients: int = 20, per_patient: int = 2, split=None) -> pd.DataFrame:
    rows = []
    for p in range(n_patients):
        for k in range(per_patient):
            rows.append({"image": f"/d/p{p}_{k}.png", "patient_id": f"p{p}", "label": p % 2, "split": split})
    return pd.DataFrame(rows)


def test_without_val_rows_whole_patients_are_held_out_stratified():
    df = _frame()
    train, val = split_train_val(df, seed=0)
    assert set(train["patient_id"]).isdisjoint(set(val["patient_id"]))
    assert len(train) + len(val) == 40
    assert val.groupby("label")["patient_id"].nunique().to_dict() == {0: 2, 1: 2}  # 15% of 10 per label, rounded
    again, _ = split_train_val(df, seed=0)
    assert again["image"].tolist() == train["image"].tolist()


def test_empty_split_cells_train_and_test_rows_are_left_out():
    """read_manifest gives every manifest a split column; empty cells mean train (not '0 train, 0 val')."""
    df = _frame(split=None)
    df.loc[df["patient_id"] == "p0", "split"] = "test"
    train, val = split_train_val(df, seed=1)
    assert "p0" not in set(train["patient_id"]) | set(val["patient_id"])
    assert len(train) + len(val) == 38


def test_given_val_rows_are_kept_and_an_empty_side_is_refused():
    df = _frame(4, 1, split="train")
    df.loc[0, "split"] = "val"
    train, val = split_train_val(df, seed=0)
    assert val["image"].tolist() == ["/d/p0_0.png"] and len(train) == 3
    with pytest.raises(ClassifierInputError, match="got 0 train, 1 val"):
        split_train_val(df.iloc[:1], seed=0)
