"""The manifest: one CSV row per radiograph, the contract between data, training and evaluation.

Columns (``MANIFEST_COLUMNS``): image, patient_id, cohort, split (train/val/test), label (0/1,
definite radiographic sacroiliitis by the modified New York criterion), grade_left, grade_right
(0-4, the patient's side), mask, followup_label, followup_grade_left, followup_grade_right.
Only ``image`` is required; optional cells may be empty; extra columns are kept. Paths are
relative to the CSV's folder (absolute paths are allowed). Line numbers in messages are 1-based
CSV lines (the header is line 1).
"""
from __future__ import annotations

import csv
import logging
import math
import os
import io
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from sijscan.errors import EmptyFileError, FileMissingError, ManifestError
from sijscan.files import atomic_write
from sijscan.mny import mny_positive

MANIFEST_COLUMNS: tuple[str, ...] = (
    "image", "patient_id", "cohort", "split", "label", "grade_left", "grade_right", "mask",
    "followup_label", "followup_grade_left", "followup_grade_right",
)
INT_COLUMNS = ("label", "grade_left", "grade_right", "followup_label", "followup_grade_left", "followup_grade_right")
PATH_COLUMNS = ("image", "mask")
TEXT_COLUMNS = ("patient_id", "cohort", "split")
SPLITS = ("train", "val", "test")
_MAX_LISTED = 50
log = logging.getLogger(__name__)


def _is_empty(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _text(value: Any) -> str:
    return "" if _is_empty(value) else str(value).strip()


def _parse_int(value: Any) -> tuple[int | None, bool]:
    """(integer or None when empty, True when the cell is empty or an integer like 2, '2' or '2.0')."""
    if _is_empty(value):
        return None, True
    if isinstance(value, bool):
        return None, False
    if isinstance(value, int) or type(value).__module__ == "numpy" and float(value).is_integer():
        return int(value), True
    text = str(value).strip()
    try:
        return int(text), True
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None, False
    return (int(number), True) if number.is_integer() else (None, False)


def _resolve(value: str, base_dir: Path) -> str:
    path = Path(value)
    return os.path.abspath(path if path.is_absolute() else base_dir / path)




def _check_grades(row: dict[str, Any], prefix: str, line: int, problems: list[str]) -> None:
    """Label in {0, 1}, grades 0-4, and label consistent with the grades (modified New York)."""
    label_key, left_key, right_key = f"{prefix}label", f"{prefix}grade_left", f"{prefix}grade_right"
    values: dict[str, int | None] = {}
    invalid = False
    for key in (label_key, left_key, right_key):
        value, ok = _parse_int(row.get(key))
        allowed = (0, 1) if key == label_key else (0, 1, 2, 3, 4)
        if not ok or (value is not None and value not in allowed):
            wanted = "0 or 1" if key == label_key else "an integer 0-4"
            problems.append(f"line {line}: {key} must be {wanted}, got {_text(row.get(key))!r}")
            invalid = True
        values[key] = value
    if invalid:
        return
    label, left, right = values[label_key], values[left_key], values[right_key]
    if label is not None and left is not None and right is not None:
        expected = mny_positive(left, right)
        if label != expected:
            problems.append(
                f"line {line}: {label_key} {label} contradicts grades left {left} / right {right} "
                f"(modified New York gives {expected})"
            )


def fill_labels_from_grades(raw: pd.DataFrame) -> int:
    """Fill empty ``label`` / ``followup_label`` cells from both grades (modified New York), in place.

    Only rows whose two grades are integers 0-4 are filled; anything else is left for
    :func:`validate_manifest` to report. Returns how many cells were filled."""
    filled = 0
    for prefix in ("", "followup_"):
        label, left, right = f"{prefix}label", f"{prefix}grade_left", f"{prefix}grade_right"
        if not {label, left, right} <= set(raw.columns):
            continue
        for i in raw.index:
            if not _is_empty(raw.at[i, label]):
                continue
            (gl, ok_l), (gr, ok_r) = _parse_int(raw.at[i, left]), _parse_int(raw.at[i, right])
            if ok_l and ok_r and gl in range(5) and gr in range(5):
                raw.at[i, label] = str(mny_positive(gl, gr))
                filled += 1
    return filled


def validate_manifest(
    df: pd.DataFrame, *, base_dir: str | os.PathLike[str], check_files: bool = True, require: Sequence[str] = (),
    lines: Sequence[int] | None = None,
) -> list[str]:
    """Every problem of a manifest table, one line each naming its CSV line; empty when fine.

    Works on the raw strings of a CSV as well as on ``read_manifest``'s typed frame. ``require``
    names columns that must be filled on every row (``image`` always must). ``lines``: each row's
    physical CSV line (``read_manifest`` passes them); without them row i (0-based position) is
    reported as line i + 2, the line ``write_manifest`` gives it.
    """
    base = Path(base_dir)
    problems: list[str] = []
    if lines is None or len(lines) != len(df):
        lines = [i + 2 for i in range(len(df))]
    must_fill = ["image"] + [c for c in require if c != "image"]
    seen: dict[str, int] = {}
    columns = list(df.columns)
    for line, values in zip(lines, df.itertuples(index=False, name=None)):
        row = dict(zip(columns, values))
        for column in must_fill:
            if column in row and _is_empty(row[column]):
                problems.append(f"line {line}: required column {column!r} is empty")
        split = _text(row.get("split"))
        if split and split not in SPLITS:
            problems.append(f"line {line}: split must be one of {', '.join(SPLITS)}, got {split!r}")
        _check_grades(row, "", line, problems)
        _check_grades(row, "followup_", line, problems)
        image = _text(row.get("image"))
        if image:
            resolved = _resolve(image, base)
            if resolved in seen:
                problems.append(f"line {line}: image {image!r} duplicates line {seen[resolved]}")
            else:
                seen[resolved] = line
            if check_files and not os.path.isfile(resolved):
                problems.append(f"line {line}: image file not found: {resolved}")
        mask = _text(row.get("mask"))
        if mask and check_files and not os.path.isfile(_resolve(mask, base)):
            problems.append(f"line {line}: mask file not found: {_resolve(mask, base)}")
    return problems


def _error(path: Path, problems: list[str], *, what: str) -> ManifestError:
    rows = {p.split(":", 1)[0] for p in problems}
    summary = f"{path}: {what}: {len(problems)} problem(s) in {len(rows)} row(s)"
    listed = problems[:_MAX_LISTED]
    if len(problems) > _MAX_LISTED:
        listed.append(f"... and {len(problems) - _MAX_LISTED} more")
    exc = ManifestError("\n".join([summary] + [f"  {p}" for p in listed]))
    exc.problems = problems  # type: ignore[attr-defined]
    return exc


def _read_csv(path: Path) -> tuple[list[str], list[list[str]], list[int], list[str]]:
    """Header, rows (padded to the header), their 1-based line numbers, and field-count problems."""
    problems: list[str] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header: list[str] | None = None
            rows: list[list[str]] = []
            lines: list[int] = []
            start = 1
            for record in reader:
                line, start = start, reader.line_num + 1
                if not any(cell.strip() for cell in record):
                    continue
                if header is None:
                    header = [cell.strip() for cell in record]
                    continue
                if len(record) != len(header):
                    problems.append(f"line {line}: has {len(record)} fields, the header has {len(header)}")
                    record = (record + [""] * len(header))[: len(header)]
                rows.append([cell.strip() for cell in record])
                lines.append(line)
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not a UTF-8 text CSV ({exc.reason} at byte {exc.start})") from exc
    except csv.Error as exc:
        raise ManifestError(f"{path}: malformed CSV ({exc})") from exc
    if header is None:
        raise ManifestError(f"{path}: manifest has no header row")
    for sep, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
        if len(header) == 1 and sep in header[0]:
            raise ManifestError(f"{path}: the header is one column {header[0][:60]!r}: the file looks {name}-separated; "
                                "a manifest is comma-separated (save it as CSV with ',' as the delimiter)")
    blank = [i + 1 for i, name in enumerate(header) if not name]
    duplicated = sorted({name for name in header if name and header.count(name) > 1})
    if blank or duplicated:
        raise ManifestError(f"{path}: bad header: empty column name(s) at {blank}, duplicated {duplicated}")
    return header, rows, lines, problems


def _numeric_or_text(series: pd.Series) -> pd.Series:
    filled = series[series != ""]
    try:
        pd.to_numeric(filled)
    except (ValueError, TypeError):
        return series.where(series != "", None)
    return pd.to_numeric(series.where(series != "", None))


def read_manifest(
    path: str | os.PathLike[str], *, require: Sequence[str] = (), check_files: bool = True
) -> pd.DataFrame:
    """Read and validate a manifest CSV; raise ``ManifestError`` listing every bad row.

    Returns all ``MANIFEST_COLUMNS`` (missing optional ones added empty) then the extra columns:
    ``image``/``mask`` as absolute path strings (empty mask -> None), label and grade columns as
    pandas ``Int64`` (an empty label with both grades given is filled from them:
    :func:`fill_labels_from_grades`), patient_id/cohort/split as strings or None, extra columns numeric when every
    filled cell is a number (else strings, empty -> None). ``df.attrs["manifest_path"]`` is the
    absolute CSV path.
    """
    p = Path(path)
    if not p.is_file():
        raise FileMissingError(f"{p}: no such manifest file")
    if p.stat().st_size == 0:
        raise EmptyFileError(f"{p}: manifest file is empty (0 bytes)")
    header, rows, lines, problems = _read_csv(p)
    wanted = ["image"] + [c for c in require if c != "image"]
    derivable = {"label"} if {"grade_left", "grade_right"} <= set(header) else set()
    missing = [c for c in wanted if c not in header and c not in derivable]
    if missing:
        raise ManifestError(f"{p}: missing required column(s) {', '.join(missing)} (found: {', '.join(header)})")
    raw = pd.DataFrame(rows, columns=header, dtype=object)
    for column in MANIFEST_COLUMNS:
        if column not in raw.columns:
            raw[column] = ""
    raw = raw[list(MANIFEST_COLUMNS) + [c for c in header if c not in MANIFEST_COLUMNS]]
    base = p.absolute().parent
    filled = fill_labels_from_grades(raw)
    if filled:
        log.info("%s: %d empty label cell(s) filled from both grades (modified New York)", p, filled)
    # the CSV lines go as an argument, not in ``raw.attrs``: pandas deep-copies attrs on every derived
    # frame and column, which made reading a 1,000-row manifest quadratic (~25 s in the demo's profile)
    problems += validate_manifest(raw, base_dir=base, check_files=check_files, require=require, lines=lines)
    if problems:
        order = {line: i for i, line in enumerate(lines)}
        problems.sort(key=lambda msg: order.get(int(msg.split(":", 1)[0].split()[1]), 0))
        raise _error(p, problems, what="invalid manifest")
    df = pd.DataFrame(index=range(len(raw)))
    for column in raw.columns:
        values = raw[column]
        if column in PATH_COLUMNS:
            df[column] = [(_resolve(v, base) if v else None) for v in values]
        elif column in INT_COLUMNS:
            df[column] = pd.array([_parse_int(v)[0] for v in values], dtype="Int64")
        elif column in TEXT_COLUMNS:
            df[column] = pd.Series([v if v else None for v in values], dtype=object)
        else:
            df[column] = _numeric_or_text(values.reset_index(drop=True))
    df.attrs["manifest_path"] = str(p.absolute())
    return df


def _path_for_csv(value: Any, *, target_dir: Path, source_dir: Path | None) -> str:
    text = _text(value)
    if not text:
        return ""
    path = Path(text)
    if not path.is_absolute():
        if source_dir is None:
            return path.as_posix()  # already relative to the new CSV's folder
        path = source_dir / path
    path = Path(os.path.abspath(path))
    try:
        return path.relative_to(target_dir).as_posix()
    except ValueError:
        return str(path)


def _cell(value: Any) -> str:
    if _is_empty(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def write_manifest(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` as a manifest CSV atomically (temporary file + ``os.replace``); return its path.

    Columns: ``MANIFEST_COLUMNS`` first (missing ones empty), then the extras in their order.
    Absolute image/mask paths inside the CSV's folder become relative to it; relative ones are
    taken relative to ``df.attrs["manifest_path"]``'s folder when set (a frame from
    ``read_manifest``), else as already relative to the new CSV. Refuses (``ManifestError``) to
    write a table that fails ``validate_manifest`` (files are not checked).
    """
    target = Path(os.path.abspath(path))
    target_dir = target.parent
    source = df.attrs.get("manifest_path")
    source_dir = Path(source).parent if source else None
    columns = list(MANIFEST_COLUMNS) + [c for c in df.columns if c not in MANIFEST_COLUMNS]
    out = pd.DataFrame(index=range(len(df)))
    for column in columns:
        values = list(df[column]) if column in df.columns else [""] * len(df)
        if column in PATH_COLUMNS:
            out[column] = [_path_for_csv(v, target_dir=target_dir, source_dir=source_dir) for v in values]
        elif column in INT_COLUMNS:
            out[column] = [(_cell(_parse_int(v)[0]) if _parse_int(v)[1] else _text(v)) for v in values]
        else:
            out[column] = [_cell(v) for v in values]
    problems = validate_manifest(out, base_dir=target_dir, check_files=False)
    if problems:
        raise _error(target, problems, what="refusing to write an invalid manifest")
    target_dir.mkdir(parents=True, exist_ok=True)
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(out.itertuples(index=False, name=None))
    return atomic_write(target, text.getvalue(), fsync=True, mode=0o644)  # a manifest is shared data
