"""``import_cohort``: a folder of radiographs + a grades table -> a checked manifest CSV and a summary.

Steps: scan the folder (:mod:`.scan`), read the table through the column mapping (:mod:`.table`),
join (:mod:`.join`), one set of grades per radiograph (:mod:`.readers`), pair baseline with
follow-up by StudyDate, assign patient-level splits (:mod:`.splits`), write the manifest with paths
relative to it (:func:`sijscan.io.write_manifest`) and ``<manifest>.summary.json`` /
``.summary.txt`` saying what matched and what did not.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from sijscan import jsonio
from sijscan.io.cohort.join import followup_pairs, join_grades, choose_key, study_ids
from sijscan.io.cohort.readers import RULES, Resolved, resolve_readers
from sijscan.io.cohort.scan import scan_folder
from sijscan.io.cohort.splits import assign_splits, patients_on_both_sides
from sijscan.io.cohort.summary import render_summary
from sijscan.io.cohort.table import CohortError, read_grades_table
from sijscan.io.manifest import write_manifest

log = logging.getLogger(__name__)

FOLLOWUP_MODES = ("pair", "rows")
ROLES = ("train", "test", "none")
_EXTRA_FROM_SCAN = ("study_uid", "sop_uid", "accession", "study_date", "sex", "age", "kvp", "view")


@dataclass
class CohortImport:
    manifest: Path
    frame: pd.DataFrame
    summary: dict[str, Any]
    summary_text: str


def _resolve_all(images: pd.DataFrame, grades: pd.DataFrame, by_image: Mapping[int, list[int]],
                 rule: str | None) -> dict[int, Resolved]:
    several = [i for i, rows in by_image.items() if len(rows) > 1]
    if several and rule is None:
        readers = grades["reader"].dropna().unique().tolist() if "reader" in grades.columns else []
        named = f" (readers in the table: {', '.join(map(str, readers[:8]))})" if readers else ""
        raise CohortError(f"{len(several)} radiograph(s) have grades from several rows{named}: choose how to use them "
                          f"with --readers {'|'.join(RULES)}|READER_NAME")
    return {i: resolve_readers(grades.loc[rows], rule=rule) for i, rows in by_image.items()}


def _row(img: pd.Series, res: Resolved | None, *, cohort: str | None, grades: pd.DataFrame,
         rows: list[int]) -> dict[str, Any]:
    first = grades.loc[rows[0]] if rows else pd.Series(dtype=object)
    patient = img.get("patient_id") if isinstance(img.get("patient_id"), str) else first.get("patient_id")
    out: dict[str, Any] = {"image": img["path"], "patient_id": patient,
                           "cohort": first.get("cohort") or cohort, "split": first.get("split"),
                           "label": res.label if res else None, "grade_left": res.grade_left if res else None,
                           "grade_right": res.grade_right if res else None, "mask": first.get("mask")}
    for key in ("followup_grade_left", "followup_grade_right", "followup_label"):
        value = first.get(key)
        out[key] = None if value is None or value is pd.NA else value
    for key in _EXTRA_FROM_SCAN:
        value = img.get(key)
        if key in ("sex", "age") and first.get(key) is not None and not pd.isna(first.get(key)):
            value = first.get(key)  # the table wins over the DICOM header
        out[key] = value.date().isoformat() if isinstance(value, pd.Timestamp) else value
    for key in grades.columns:
        if key not in out and key not in ("line", "reader", "image", "study_date"):
            out[key] = first.get(key)
    return out


def _pair(rows: dict[int, dict[str, Any]], images: pd.DataFrame, resolved: Mapping[int, Resolved],
          pairs: Mapping[str, tuple[str, str]]) -> tuple[dict[int, dict[str, Any]], int]:
    """Keep the baseline study's rows of paired patients, with the follow-up study's grades on them."""
    studies = study_ids(images)
    follow_grades: dict[str, Resolved] = {}
    for i, res in resolved.items():
        if not res.left_out:
            follow_grades.setdefault(studies[i], res)
    kept: dict[int, dict[str, Any]] = {}
    n_paired = 0
    for i, row in rows.items():
        pair = pairs.get(str(images.at[i, "patient_id"]))
        if pair is None:
            kept[i] = row
        elif studies[i] == pair[0]:
            fu = follow_grades.get(pair[1])
            if fu is not None and row.get("followup_label") is None:
                row.update(followup_grade_left=fu.grade_left, followup_grade_right=fu.grade_right,
                           followup_label=fu.label)
            row["followup_study_uid"] = next((images.at[j, "study_uid"] for j in images.index if studies[j] == pair[1]), None)
            n_paired += 1
            kept[i] = row
    return kept, n_paired


def import_cohort(*, folder: str | os.PathLike[str], grades: str | os.PathLike[str], out: str | os.PathLike[str],
                  columns: Mapping[str, str], join: str | None = None, readers: str | None = None,
                  followup: str = "pair", role: str = "train", val_fraction: float = 0.15, test_fraction: float = 0.0,
                  seed: int = 0, cohort: str | None = None, keep_ungraded: bool = False,
                  sheet: str | int | None = None) -> CohortImport:
    """Build the manifest ``out`` from a radiograph folder and a grades table; see the module docstring."""
    if followup not in FOLLOWUP_MODES or role not in ROLES:
        raise CohortError(f"followup must be one of {', '.join(FOLLOWUP_MODES)}, role one of {', '.join(ROLES)}")
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise CohortError(f"--val-fraction {val_fraction} and --test-fraction {test_fraction}: each in [0, 1), sum < 1")
    if not Path(folder).is_dir():
        raise CohortError(f"{folder}: not a folder")
    scan = scan_folder(folder)
    if scan.images.empty:
        raise CohortError(f"{folder}: no radiographs found in {scan.n_files} file(s)")
    table = read_grades_table(grades, mapping=columns, sheet=sheet)
    key = choose_key(table.mapping, join)
    joined = join_grades(scan.images, table.frame, key=key)
    resolved = _resolve_all(scan.images, table.frame, joined.by_image, readers)
    rows: dict[int, dict[str, Any]] = {}
    left_out: list[str] = []
    for i, img in scan.images.iterrows():
        res = resolved.get(int(i))
        if res is not None and res.left_out:
            left_out.append(f"{img['rel']}: {res.note}")
            continue
        if (res is None or res.label is None) and not keep_ungraded:
            continue
        rows[int(i)] = _row(img, res, cohort=cohort, grades=table.frame, rows=joined.by_image.get(int(i), []))
    pairs, pair_notes = followup_pairs(scan.images) if followup == "pair" else ({}, [])
    rows, n_paired = _pair(rows, scan.images, resolved, pairs) if pairs else (rows, 0)
    if not rows:
        raise CohortError(f"no radiograph of {folder} matched a usable grade row by {key} "
                          f"({len(joined.unmatched)} of {len(table.frame)} grade rows found no image); "
                          "check --col/--join")
    frame = pd.DataFrame(list(rows.values()))
    frame = _splits(frame, role=role, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    target_dir = Path(os.path.abspath(out)).parent
    masks = [None if not isinstance(m, str) else os.path.abspath(table.path.parent / m) for m in frame["mask"]]
    written = frame.assign(image=[_rel(p, target_dir) for p in frame["image"]], mask=[_rel(m, target_dir) for m in masks])
    target = write_manifest(written, out)  # relative paths: the folder and the manifest can move together
    ungraded = [scan.images.at[i, "rel"] for i in scan.images.index
                if i not in resolved or resolved[i].label is None and not resolved[i].left_out]
    summary = _summary(scan=scan, table=table, key=key, joined=joined, frame=frame, left_out=left_out,
                       ungraded=ungraded, keep_ungraded=keep_ungraded, pair_notes=pair_notes, n_paired=n_paired,
                       readers=readers, role=role, seed=seed, manifest=target)
    text = render_summary(summary)
    target.with_suffix(".summary.json").write_text(jsonio.dumps(summary, indent=2) + "\n", encoding="utf-8")
    target.with_suffix(".summary.txt").write_text(text, encoding="utf-8")
    return CohortImport(manifest=target, frame=frame, summary=summary, summary_text=text)


def _rel(path: str | None, target_dir: Path) -> str | None:
    return None if path is None else Path(os.path.relpath(path, target_dir)).as_posix()


def _splits(frame: pd.DataFrame, *, role: str, val_fraction: float, test_fraction: float, seed: int) -> pd.DataFrame:
    given = frame["split"].notna() & (frame["split"].astype(str).str.strip() != "")
    if given.all() or role == "none":
        return frame
    if role == "test":
        frame.loc[~given, "split"] = "test"
        return frame
    todo = frame[~given]
    if val_fraction > 0 or test_fraction > 0:
        frame.loc[~given, "split"] = assign_splits(todo, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    else:
        frame.loc[~given, "split"] = "train"
    return frame


def _counts(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for split, group in frame.groupby(frame["split"].fillna("(none)")):
        labels = pd.to_numeric(group["label"], errors="coerce")
        out[str(split)] = {"images": int(len(group)), "patients": int(group["patient_id"].nunique()),
                           "positive": int((labels == 1).sum()), "negative": int((labels == 0).sum()),
                           "unlabelled": int(labels.isna().sum())}
    return out


def _summary(*, scan: Any, table: Any, key: str, joined: Any, frame: pd.DataFrame, left_out: list[str],
             ungraded: list[str], keep_ungraded: bool, pair_notes: list[str], n_paired: int, readers: str | None,
             role: str, seed: int, manifest: Path) -> dict[str, Any]:
    skipped: dict[str, int] = {}
    for _, reason in scan.skipped:
        skipped[reason] = skipped.get(reason, 0) + 1
    return {
        "manifest": str(manifest), "folder": str(scan.root), "grades_table": str(table.path),
        "join_key": key, "mapping": table.mapping, "readers_rule": readers, "role": role, "seed": seed,
        "files": {"scanned": scan.n_files, "radiographs": int(len(scan.images)),
                  "dicom": int((scan.images["format"] == "dicom").sum()), "skipped": skipped,
                  "skipped_examples": [f"{rel}: {why}" for rel, why in scan.skipped[:10]]},
        "grade_rows": {"read": int(len(table.frame) + len(table.problems)), "with_problems": table.problems,
                       "matched": int(len(table.frame) - len(joined.unmatched)),
                       "unmatched": [f"line {line}: {why}" for line, why in joined.unmatched]},
        "radiographs": {"in_manifest": int(len(frame)), "without_grades": len(ungraded),
                        "without_grades_kept": keep_ungraded, "without_grades_examples": ungraded[:20],
                        "left_out": left_out},
        "followup": {"pairs": n_paired, "notes": pair_notes},
        "splits": _counts(frame),
        "patients_in_several_splits": patients_on_both_sides(frame, sides=("train", "val", "test")),
    }
