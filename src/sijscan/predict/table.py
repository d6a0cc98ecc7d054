"""``predictions.csv``, the table of a prediction output folder: its columns, rows, reader and writer.

One row per image (:data:`CSV_COLUMNS`), errors in ``error`` as one line, ``source_stamp`` =
"size:mtime_ns" of the file that was read; ``study_uid``/``series_uid``/``sop_uid`` key a DICOM
input's row by its StudyInstanceUID/SeriesInstanceUID/SOPInstanceUID (empty for other formats; never
patient names); ``path`` is the file's path as given, made absolute, so ``sijscan evaluate`` joins
each row to its manifest row exactly (empty with ``hash_names``, which also leaves the UIDs out). A folder whose CSV has an older header is rewritten under this one on resume (the
rows it holds keep empty values in the new columns until they are predicted again).
:class:`RowWriter` appends one flushed ``write`` per row (a crash loses at most the row being
written) and ``finalize`` rewrites the file de-duplicated through a temporary file and
``os.replace``; :func:`read_rows` reads it back for resuming, the report and ``evaluate``;
:func:`read_table` reads it as a typed ``pandas.DataFrame`` (what ``sijscan.predict(...)`` returns).
"""
from __future__ import annotations

import csv
import io
import logging
import os
from pathlib import Path
from typing import Any, Sequence

from sijscan.files import atomic_write
from sijscan.predict.outdir import OutputFolderError, os_reason

log = logging.getLogger(__name__)

CSV_NAME = "predictions.csv"
CSV_COLUMNS = [
    "image", "path", "study_uid", "series_uid", "sop_uid", "probability", "probability_calibrated", "decision", "cutoff",
    "qc_passed", "qc_flags", "qc_reasons", "grade_left", "grade_right", "mny", "sij_box", "view", "total_s", "error",
    "source_stamp",
]


def prediction_row(pred: Any) -> dict[str, Any]:
    """One CSV row from a ``Prediction``."""
    def num(v: float | None) -> str:
        return "" if v is None else f"{v:.6f}"

    g = pred.grades or {}
    return {
        "image": pred.image, "study_uid": pred.study_uid or "", "series_uid": pred.series_uid or "",
        "sop_uid": pred.sop_uid or "", "probability": num(pred.probability),
        "probability_calibrated": num(pred.probability_calibrated),
        "decision": "" if pred.decision is None else str(pred.decision),
        "cutoff": num(pred.cutoff), "qc_passed": "" if pred.error else str(bool(pred.qc_passed)).lower(),
        "qc_flags": ";".join(pred.qc_flags), "qc_reasons": "; ".join(pred.qc_reasons),
        "grade_left": g.get("left", ""), "grade_right": g.get("right", ""),
        "mny": "" if pred.mny is None else pred.mny,
        "sij_box": "" if pred.sij_box is None else " ".join(str(v) for v in pred.sij_box),
        "view": pred.view, "total_s": pred.timings.get("total_s", ""), "error": pred.error or "",
    }


# How :func:`read_table` types the columns; the rest stay text ("" where empty).
_FLOATS = ("probability", "probability_calibrated", "cutoff", "total_s")
_INTS = ("decision", "grade_left", "grade_right", "mny")


def read_table(csv_path: str | os.PathLike[str], *, images: Sequence[str] | None = None) -> Any:
    """``predictions.csv`` as a ``pandas.DataFrame`` with :data:`CSV_COLUMNS` in order, one row per image.

    Numbers are floats, ``decision``/grades/``mny`` nullable ``Int64`` (``<NA>`` where QC withheld or
    the image failed), ``qc_passed`` nullable ``boolean``, text columns ``str`` ("" where empty).
    ``images``: only these rows, in this order (a name without a row raises ``KeyError``).
    """
    import pandas as pd

    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8")
    frame = frame.reindex(columns=CSV_COLUMNS, fill_value="")
    if images is not None:
        frame = frame.drop_duplicates("image", keep="last").set_index("image").loc[list(images)].reset_index()
    for col in _FLOATS:
        frame[col] = pd.to_numeric(frame[col].replace("", None), errors="coerce").astype("float64")
    for col in _INTS:
        frame[col] = pd.to_numeric(frame[col].replace("", None), errors="coerce").astype("Int64")
    frame["qc_passed"] = frame["qc_passed"].map({"true": True, "false": False}).astype("boolean")
    return frame.reset_index(drop=True)


def _row_text(row: dict[str, Any]) -> str:
    buf = io.StringIO()
    csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n").writerow(row)
    return buf.getvalue()


def read_rows(csv_path: Path) -> dict[str, dict[str, str]]:
    """Rows of an existing predictions.csv keyed by image (last wins); a torn last line is dropped.

    A file that is not a sijscan predictions CSV (not UTF-8 text, no ``image`` column, unreadable)
    raises :class:`~sijscan.predict.outdir.OutputFolderError`: it is never overwritten.
    """
    if not csv_path.is_file():
        return {}
    rows: dict[str, dict[str, str]] = {}
    why = "move it away or choose another --out"
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                return {}
            if "image" not in header:
                raise OutputFolderError(f"{csv_path}: not a sijscan predictions file (no 'image' column); {why}")
            for values in reader:
                if len(values) != len(header):
                    log.warning("%s: dropping an incomplete row (interrupted write?)", csv_path)
                    continue
                row = dict(zip(header, values))
                if row.get("image"):
                    rows[row["image"]] = row
    except UnicodeDecodeError as exc:
        raise OutputFolderError(f"{csv_path}: not a sijscan predictions file (not UTF-8 text at byte {exc.start}); "
                                f"{why}") from exc
    except csv.Error as exc:
        raise OutputFolderError(f"{csv_path}: not a sijscan predictions file ({exc}); {why}") from exc
    except OSError as exc:
        raise OutputFolderError(f"{csv_path}: cannot read ({os_reason(exc)})") from exc
    return rows


class RowWriter:
    """Appends rows to predictions.csv, one flushed ``write`` per row; ``finalize`` rewrites atomically."""

    def __init__(self, csv_path: Path, existing: dict[str, dict[str, str]],
                 stamps: dict[str, str] | None = None, sources: dict[str, str] | None = None) -> None:
        self.path = csv_path
        self.rows = dict(existing)
        self.stamps = stamps or {}  # image -> file stamp, written with each row
        self.sources = sources or {}  # image -> the file's path as given (absolute), written with each row
        fresh = not csv_path.is_file() or csv_path.stat().st_size == 0
        if not fresh:
            with open(csv_path, encoding="utf-8") as fh:
                fresh = fh.readline().strip() != ",".join(CSV_COLUMNS)
            if fresh:  # an older or foreign header: rewrite what we keep under ours
                self.finalize(order=list(self.rows))
        self._fh = open(csv_path, "a", newline="", encoding="utf-8")
        if fresh and csv_path.stat().st_size == 0:
            self._write(",".join(CSV_COLUMNS) + "\n")

    def _write(self, text: str) -> None:
        self._fh.write(text)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def add(self, row: dict[str, Any]) -> None:
        image = str(row["image"])
        row = {**row, "source_stamp": self.stamps.get(image, row.get("source_stamp", "")),
               "path": self.sources.get(image, row.get("path", ""))}
        self.rows[str(row["image"])] = {k: str(row.get(k, "")) for k in CSV_COLUMNS}
        self._write(_row_text(row))

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def finalize(self, *, order: Sequence[str]) -> None:
        """Rewrite the CSV de-duplicated, images in ``order`` first, through tmp + ``os.replace``."""
        keys = [k for k in order if k in self.rows] + sorted(k for k in self.rows if k not in set(order))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for k in keys:
            writer.writerow({c: self.rows[k].get(c, "") for c in CSV_COLUMNS})
        if hasattr(self, "_fh"):
            self.close()
        atomic_write(self.path, buf.getvalue())
