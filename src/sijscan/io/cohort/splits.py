"""Patient-level splits: every radiograph of one patient on the same side, stratified by label, seeded.

Used by ``sijscan manifest`` to assign ``split`` and by ``train-classifier`` to hold out a
validation share when a manifest has no ``val`` rows. A patient's stratum is the highest label
among their radiographs (unknown labels form their own stratum). In each stratum of n patients,
``round(fraction * n)`` of them (at least one when n >= 2) go to the held-out side.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def patient_keys(df: pd.DataFrame) -> pd.Series:
    """The grouping key per row: ``patient_id`` where given, else the row's image (a patient of its own)."""
    ids = df["patient_id"] if "patient_id" in df.columns else pd.Series([None] * len(df), index=df.index)
    images = df["image"] if "image" in df.columns else pd.Series(range(len(df)), index=df.index)
    return pd.Series([f"patient:{p}" if isinstance(p, str) and p.strip() or isinstance(p, (int, np.integer))
                      else f"image:{i}" for p, i in zip(ids, images)], index=df.index)


def held_out_patients(df: pd.DataFrame, *, fraction: float, seed: int) -> set[str]:
    """The patient keys (:func:`patient_keys`) held out: ``fraction`` of each label stratum, seeded."""
    if not 0 < fraction < 1:
        raise ValueError(f"the held-out fraction must be in (0, 1), got {fraction}")
    keys = patient_keys(df)
    labels = pd.to_numeric(df["label"], errors="coerce") if "label" in df.columns else pd.Series(np.nan, index=df.index)
    stratum = labels.groupby(keys).max()
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for value in sorted(stratum.fillna(-1).unique()):
        members = sorted(stratum.index[stratum.fillna(-1) == value])
        if len(members) < 2:
            continue
        n = max(1, int(round(fraction * len(members))))
        n = min(n, len(members) - 1)
        held.update(members[i] for i in rng.permutation(len(members))[:n])
    return held


def assign_splits(df: pd.DataFrame, *, val_fraction: float, test_fraction: float = 0.0, seed: int = 0) -> pd.Series:
    """``split`` per row ('train', 'val', 'test') by patient: test first, then val from the rest."""
    keys = patient_keys(df)
    split = pd.Series("train", index=df.index, dtype=object)
    rest = df
    if test_fraction > 0:
        test = held_out_patients(df, fraction=test_fraction, seed=seed)
        split[keys.isin(test)] = "test"
        rest = df[~keys.isin(test)]
    if val_fraction > 0 and len(rest):
        share = val_fraction / (1 - test_fraction)
        val = held_out_patients(rest, fraction=min(share, 0.95), seed=seed + 1)
        split[keys.isin(val) & (split == "train")] = "val"
    return split


def patients_on_both_sides(df: pd.DataFrame, *, sides: Sequence[str] = ("train", "val")) -> list[str]:
    """Patient ids that have radiographs in more than one of ``sides`` (a leak between the splits)."""
    if "patient_id" not in df.columns or "split" not in df.columns:
        return []
    rows = df[df["split"].isin(sides) & df["patient_id"].notna()]
    per_patient = rows.groupby(rows["patient_id"].astype(str))["split"].nunique()
    return sorted(per_patient.index[per_patient > 1])
