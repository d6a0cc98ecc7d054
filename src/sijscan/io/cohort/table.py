"""The group's grades table (CSV or Excel) read through a column mapping into sijscan's names.

The mapping says which of the table's columns holds each of sijscan's fields
(``{"patient_id": "PatientID", "grade_left": "SIJ_left", ...}``). A field not mapped is taken from
a column of the same name when the table has one. Fields: the join keys :data:`JOIN_KEYS`, the
values :data:`VALUE_FIELDS`, and any other lower-case name (``site``, ``smoker``, ...) kept as an
extra manifest column. Cells that cannot be used (a grade 'n/a', a date '31.02.') make their row a
problem row: listed in the summary, left out, never guessed.
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from sijscan.errors import FileMissingError, InputError

#: Join keys, most specific first (the automatic choice takes the first one the mapping gives).
JOIN_KEYS = ("image", "sop_uid", "study_uid", "accession", "patient_id")
GRADE_FIELDS = ("grade_left", "grade_right", "followup_grade_left", "followup_grade_right")
LABEL_FIELDS = ("label", "followup_label")
VALUE_FIELDS = GRADE_FIELDS + LABEL_FIELDS + ("reader", "study_date", "split", "cohort", "mask", "sex", "age")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_CONFIG_KEYS = ("columns", "readers", "join", "sheet")


class CohortError(InputError):
    """The DICOM folder, the grades table or the column mapping cannot be used (one line, naming why)."""


@dataclass
class GradesTable:
    """The table in sijscan's field names; ``line`` is the 1-based line (CSV) or row (Excel) of each row."""

    path: Path
    frame: pd.DataFrame
    mapping: dict[str, str]
    problems: list[str] = field(default_factory=list)


def parse_column_flags(flags: Sequence[str]) -> dict[str, str]:
    """``["patient_id=PatientID", ...]`` -> ``{"patient_id": "PatientID"}``; bad flags raise ``CohortError``."""
    mapping: dict[str, str] = {}
    for flag in flags:
        field_name, sep, column = flag.partition("=")
        if not sep or not field_name.strip() or not column.strip():
            raise CohortError(f"--col {flag!r}: write FIELD=COLUMN, e.g. --col grade_left=SIJ_left")
        mapping[field_name.strip()] = column.strip()
    return mapping


def read_mapping_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A small YAML: ``columns: {field: column}``, optional ``readers``, ``join``, ``sheet``."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise FileMissingError(f"{p}: no such mapping file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CohortError(f"{p}: not readable YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise CohortError(f"{p}: must be a mapping with the key 'columns'")
    unknown = sorted(set(data) - set(_CONFIG_KEYS))
    if unknown:
        raise CohortError(f"{p}: unknown key(s) {', '.join(map(str, unknown))} (allowed: {', '.join(_CONFIG_KEYS)})")
    columns = data.get("columns") or {}
    if not isinstance(columns, dict):
        raise CohortError(f"{p}: 'columns' must map sijscan fields to your column names")
    data["columns"] = {str(k): str(v) for k, v in columns.items()}
    return data


def check_mapping(mapping: Mapping[str, str], header: Sequence[str], *, path: Path) -> dict[str, str]:
    """The full mapping (identity for same-named columns); refuses unknown fields and absent columns."""
    bad = [k for k in mapping if not _NAME.fullmatch(k) or k in ("path", "rel", "name")]
    if bad:
        raise CohortError(f"--col {bad[0]}=...: a field is a lower-case name such as patient_id, grade_left "
                          f"(known: {', '.join(JOIN_KEYS + VALUE_FIELDS)})")
    missing = [f"{k}={v}" for k, v in mapping.items() if v not in header]
    if missing:
        raise CohortError(f"{path}: column(s) not in the table: {', '.join(missing)} (the table has: "
                          f"{', '.join(map(str, header))})")
    full = {k: k for k in JOIN_KEYS + VALUE_FIELDS if k in header and k not in mapping.values()}
    full.update(mapping)
    return full


def _read_frame(path: Path, *, sheet: str | int | None) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        try:
            import openpyxl  # noqa: F401  (pandas reads .xlsx through it)
        except ImportError:
            raise CohortError(f"{path}: reading Excel needs openpyxl: pip install 'sijscan[cohort]' "
                              "(or save the sheet as CSV)") from None
        try:
            frame = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, dtype=object)
        except (ValueError, OSError, KeyError) as exc:
            raise CohortError(f"{path}: cannot read the sheet ({str(exc).splitlines()[0]})") from None
        frame.attrs["first_line"] = 2
        return frame
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, sep=None, engine="python",
                            encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, csv.Error) as exc:
        raise CohortError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    except pd.errors.EmptyDataError:
        raise CohortError(f"{path}: the grades table is empty") from None
    frame.attrs["first_line"] = 2
    return frame


def _grade(value: Any, allowed: range) -> tuple[int | None, bool]:
    if value is None or (isinstance(value, float) and pd.isna(value)) or str(value).strip() == "":
        return None, True
    try:
        number = float(str(value).strip().replace(",", "."))
    except ValueError:
        return None, False
    return (int(number), True) if number.is_integer() and int(number) in allowed else (None, False)


def _table_date(value: Any) -> tuple[pd.Timestamp | None, bool]:
    if value is None or str(value).strip() == "" or (isinstance(value, float) and pd.isna(value)):
        return None, True
    if isinstance(value, pd.Timestamp) or hasattr(value, "year"):
        return pd.Timestamp(value).normalize(), True
    text = str(value).strip()
    fmt = "%Y%m%d" if re.fullmatch(r"\d{8}", text) else None
    try:
        return pd.Timestamp(pd.to_datetime(text, format=fmt, dayfirst=bool(re.match(r"\d{1,2}\.", text)))).normalize(), True
    except (ValueError, TypeError):
        return None, False


def _clean(frame: pd.DataFrame, mapping: Mapping[str, str], *, first_line: int) -> tuple[pd.DataFrame, list[str]]:
    out = pd.DataFrame({k: frame[v].tolist() for k, v in mapping.items()})
    out["line"] = [first_line + i for i in range(len(out))]
    problems: list[str] = []
    bad_rows: set[int] = set()
    for column in [c for c in out.columns if c in GRADE_FIELDS + LABEL_FIELDS]:
        allowed = range(0, 2) if column in LABEL_FIELDS else range(0, 5)
        values = []
        for i, raw in enumerate(out[column]):
            value, ok = _grade(raw, allowed)
            if not ok:
                problems.append(f"line {out['line'][i]}: {mapping[column]} = {str(raw)!r} is not "
                                f"{'0 or 1' if column in LABEL_FIELDS else 'a grade 0-4'}")
                bad_rows.add(i)
            values.append(value)
        out[column] = pd.array(values, dtype="Int64")
    if "study_date" in out.columns:
        dates = []
        for i, raw in enumerate(out["study_date"]):
            value, ok = _table_date(raw)
            if not ok:
                problems.append(f"line {out['line'][i]}: {mapping['study_date']} = {str(raw)!r} is not a date")
                bad_rows.add(i)
            dates.append(value)
        out["study_date"] = dates
    for column in out.columns:
        if column not in GRADE_FIELDS + LABEL_FIELDS + ("study_date", "line"):
            out[column] = [None if v is None or (isinstance(v, float) and pd.isna(v)) or str(v).strip() == ""
                           else str(v).strip() for v in out[column]]
    keep = [i for i in range(len(out)) if i not in bad_rows]
    return out.iloc[keep].reset_index(drop=True), problems


def read_grades_table(path: str | os.PathLike[str], *, mapping: Mapping[str, str],
                      sheet: str | int | None = None) -> GradesTable:
    """Read the grades table and rename its columns to sijscan's fields; bad cells become problems."""
    p = Path(path)
    if not p.is_file():
        raise FileMissingError(f"{p}: no such grades table")
    frame = _read_frame(p, sheet=sheet)
    frame.columns = [str(c).strip() for c in frame.columns]
    full = check_mapping(mapping, list(frame.columns), path=p)
    if not any(k in full for k in JOIN_KEYS):
        raise CohortError(f"{p}: no join key: map one of {', '.join(JOIN_KEYS)} to a column, e.g. "
                          "--col patient_id=PatientID (the table has: " + ", ".join(frame.columns) + ")")
    if not any(k in full for k in ("grade_left", "grade_right", "label")):
        raise CohortError(f"{p}: no grades: map grade_left and grade_right (or label), e.g. --col grade_left=SIJ_left")
    cleaned, problems = _clean(frame, full, first_line=int(frame.attrs.get("first_line", 2)))
    return GradesTable(path=p, frame=cleaned, mapping=full, problems=problems)
