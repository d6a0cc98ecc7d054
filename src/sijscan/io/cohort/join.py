"""Join grade rows to the scanned images by one key, and pair baseline with follow-up studies.

Keys: ``image`` (the file's path relative to the folder, else its file name, else its name
without extension), ``sop_uid``, ``study_uid``, ``accession``, ``patient_id`` (with ``study_date``
in the table: the patient's study of that date; without: the patient's baseline, the earliest
study). A grade row that matches no image, or several files by name, is listed, never guessed.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pandas as pd

from sijscan.io.cohort.table import JOIN_KEYS, CohortError


@dataclass
class Join:
    """Grade-row positions per image position, and the grade rows that found no image (line, reason)."""

    key: str
    by_image: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    unmatched: list[tuple[int, str]] = field(default_factory=list)


def choose_key(mapping: dict[str, str], requested: str | None) -> str:
    if requested is not None:
        if requested not in JOIN_KEYS:
            raise CohortError(f"--join {requested}: choose one of {', '.join(JOIN_KEYS)}")
        if requested not in mapping:
            raise CohortError(f"--join {requested}: the table has no {requested} column (map it: --col {requested}=COLUMN)")
        return requested
    return next(k for k in JOIN_KEYS if k in mapping)


def study_ids(images: pd.DataFrame) -> pd.Series:
    """A study per image: StudyInstanceUID, else patient + date, else the image itself."""
    out = []
    for i, row in images.iterrows():
        if isinstance(row.get("study_uid"), str):
            out.append(f"uid:{row['study_uid']}")
        elif isinstance(row.get("patient_id"), str) and row.get("study_date") is not None and not pd.isna(row["study_date"]):
            out.append(f"date:{row['patient_id']}:{pd.Timestamp(row['study_date']).date()}")
        else:
            out.append(f"image:{i}")
    return pd.Series(out, index=images.index)


def baseline_studies(images: pd.DataFrame) -> dict[str, str]:
    """Patient id -> the study id of their earliest study (by StudyDate, then StudyTime)."""
    studies = images.assign(study=study_ids(images))
    out: dict[str, str] = {}
    for patient, group in studies[studies["patient_id"].notna()].groupby("patient_id"):
        order = group.sort_values(["study_date", "study_time", "study"], na_position="last")
        out[str(patient)] = str(order["study"].iloc[0])
    return out


def _name_index(images: pd.DataFrame) -> dict[str, list[int]]:
    index: dict[str, list[int]] = defaultdict(list)
    for i, rel in zip(images.index, images["rel"]):
        p = PurePosixPath(rel)
        for name in {rel, p.name, p.stem if p.suffix else p.name}:
            index[name.lower()].append(i)
    return index


def join_grades(images: pd.DataFrame, grades: pd.DataFrame, *, key: str) -> Join:
    """Which grade rows belong to which image (positions in ``images``, ``grades``)."""
    result = Join(key=key)
    studies = study_ids(images)
    by_study: dict[str, list[int]] = defaultdict(list)
    for i, s in studies.items():
        by_study[s].append(int(i))
    names = _name_index(images) if key == "image" else {}
    baselines = baseline_studies(images) if key == "patient_id" else {}
    dated = key == "patient_id" and "study_date" in grades.columns
    for g, row in grades.iterrows():
        value = row.get(key)
        if value is None:
            result.unmatched.append((int(row["line"]), f"empty {key}"))
            continue
        if key == "image":
            text = str(value).replace("\\", "/").strip("/").lower()
            hits = names.get(text, [])
            if len(set(hits)) > 1 and text not in {r.lower() for r in images.loc[hits, "rel"]}:
                result.unmatched.append((int(row["line"]), f"file name {value!r} matches {len(set(hits))} files"))
                continue
            exact = [i for i in hits if images.at[i, "rel"].lower() == text]
            targets = exact or sorted(set(hits))
        elif key == "patient_id" and dated and row.get("study_date") is not None:
            day = pd.Timestamp(row["study_date"]).normalize()
            targets = [int(i) for i in images.index[(images["patient_id"] == value) &
                                                    (pd.to_datetime(images["study_date"]).dt.normalize() == day)]]
        elif key == "patient_id":
            study = baselines.get(str(value))
            targets = by_study.get(study, []) if study else []
        else:
            matched = images.index[images[key] == value]
            targets = sorted({j for i in matched for j in by_study[studies[i]]}) if key != "sop_uid" else list(matched)
        if not targets:
            result.unmatched.append((int(row["line"]), f"no image with {key} {value}"))
            continue
        for t in targets:
            result.by_image[int(t)].append(int(g))
    return result


def followup_pairs(images: pd.DataFrame) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Patient -> (baseline study, follow-up study): earliest and latest by StudyDate.

    Returns the pairs and notes for patients whose studies cannot be ordered (a missing date) or
    who have more than two (the latest is the follow-up; the others are named in the note)."""
    studies = images.assign(study=study_ids(images))
    pairs: dict[str, tuple[str, str]] = {}
    notes: list[str] = []
    for patient, group in studies[studies["patient_id"].notna()].groupby("patient_id"):
        per_study = group.groupby("study").agg(date=("study_date", "first"), time=("study_time", "first"))
        if len(per_study) < 2:
            continue
        if per_study["date"].isna().any():
            notes.append(f"patient {patient}: {len(per_study)} studies, some without StudyDate: not paired")
            continue
        order = per_study.sort_values(["date", "time"])
        if len(order) > 2:
            notes.append(f"patient {patient}: {len(order)} studies; baseline {order['date'].iloc[0].date()}, "
                         f"follow-up {order['date'].iloc[-1].date()} (the latest), {len(order) - 2} in between unused")
        if order["date"].iloc[0] == order["date"].iloc[-1]:
            notes.append(f"patient {patient}: {len(order)} studies on the same day: not paired")
            continue
        pairs[str(patient)] = (str(order.index[0]), str(order.index[-1]))
    return pairs, notes
