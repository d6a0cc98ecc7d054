"""Reading a predictions CSV and joining it with a manifest.

A predictions CSV has at least the columns ``image`` and ``probability`` (of the positive class,
definite radiographic sacroiliitis); ``decision`` (0/1) is optional. Relative ``image`` paths are
relative to the CSV's folder; a ``path`` column (``sijscan predict`` writes each file's path as
given, made absolute) takes precedence. Rows are matched to the manifest on the resolved absolute
path and, for rows that do not match, on their relative path as the end of a manifest path, then on
the file name, then (``predict --hash-names``) on the file's content, each only when unique on both sides.

``sijscan predict``'s own CSV (and the study's) is read as it is: a row with a non-empty ``error``
(the image failed) is left out, counted and named (``Predictions.excluded``, then the notes and
``info`` of :func:`load_dataset`), never an error. A row whose decision input QC withheld is kept:
:data:`QC_RULE`, found by :func:`qc_withheld_rows`, is the one rule ``sijscan evaluate`` and the study
follow (the study's evaluate stage calls :func:`sijscan.evaluate.api.evaluate_predictions`).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sijscan.evaluate.errors import KeyMismatchError, PredictionsError, list_some
from sijscan.files import file_digest
from sijscan.io.manifest import read_manifest
from sijscan.mny import mny_positive

log = logging.getLogger(__name__)

_HASH_NAME = re.compile(r"[0-9a-f]{16}")
"""How ``sijscan predict --hash-names`` names an image: 16 hex digits of its file's SHA-256."""


#: The one rule for images whose decision input QC withheld, in ``sijscan evaluate`` and the study.
QC_RULE = ("all images with a probability are analysed, QC-withheld ones included (as the paper analysed all "
           "images; positive when probability >= cut-off); the same analysis with the QC-withheld images "
           "excluded is given beside it (qc_excluded)")


def qc_withheld_rows(df: pd.DataFrame) -> np.ndarray:
    """Rows of a predictions table whose decision input QC withheld (bool array; failed rows never count).

    ``qc_passed`` false (predict's and the study's tables); in a table without ``qc_passed`` but with
    predict's ``error`` column, an empty ``decision``. Any other table has none.
    """
    error = (df["error"].astype(object).fillna("").astype(str).str.strip() if "error" in df.columns
             else pd.Series("", index=df.index))
    failed = (error != "").to_numpy()
    if "qc_passed" in df.columns:
        flag = df["qc_passed"].astype(object).fillna("").astype(str).str.strip().str.lower()
        return ~failed & flag.isin(["false", "0"]).to_numpy()
    if "error" in df.columns and "decision" in df.columns:
        return ~failed & df["decision"].isna().to_numpy()
    return np.zeros(len(df), dtype=bool)


def load_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest with ``sijscan.io.manifest.read_manifest`` (image files are not checked).

    The one place evaluate touches the manifest format: absolute ``image`` paths, nullable
    ``Int64`` label/grade columns, ``df.attrs["manifest_path"]``. Its errors are ``InputError`` s.
    """
    return read_manifest(path, require=(), check_files=False)


@dataclass
class Predictions:
    """One predictions file after validation."""

    path: str
    table: pd.DataFrame
    """Columns ``image`` (as written), ``key`` (resolved absolute path), ``probability``, ``qc_withheld``
    (bool, :func:`qc_withheld_rows`), and ``decision`` (Int64, <NA> where QC withheld it) when the file has one."""
    has_decision: bool = False
    excluded: dict[str, list[str]] = field(default_factory=dict)
    """Images left out, by reason: ``"failed"`` (predict's ``error`` column)."""


def _resolve(image: str, base: Path) -> str:
    p = Path(image).expanduser()
    return str((p if p.is_absolute() else base / p).resolve())


def read_predictions(path: str | Path) -> Predictions:
    """Read and validate a predictions CSV; raise :class:`PredictionsError` with a one-line reason."""
    path = Path(path)
    if not path.is_file():
        raise PredictionsError(f"predictions file not found: {path}")
    try:
        df = pd.read_csv(path, dtype={"image": str})
    except pd.errors.EmptyDataError as exc:
        raise PredictionsError(f"predictions file is empty: {path}") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PredictionsError(f"cannot read predictions {path}: {str(exc).splitlines()[0]}") from exc
    missing = [c for c in ("image", "probability") if c not in df.columns]
    if missing:
        raise PredictionsError(f"predictions {path} lack column(s) {', '.join(missing)} "
                               f"(need image, probability; optional decision; found {', '.join(map(str, df.columns))})")
    if len(df) == 0:
        raise PredictionsError(f"predictions file has no rows: {path}")
    if df["image"].isna().any():
        rows = [str(i + 2) for i in np.flatnonzero(df["image"].isna().to_numpy())]
        raise PredictionsError(f"predictions {path}: empty image at CSV line(s) {list_some(rows)}")
    df, excluded = _drop_failed(df, path=path)
    withheld = qc_withheld_rows(df)
    prob = pd.to_numeric(df["probability"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(prob) | (prob < 0) | (prob > 1)
    if bad.any():
        rows = [f"line {i + 2} ({df['probability'].iloc[i]!r})" for i in np.flatnonzero(bad)]
        raise PredictionsError(f"predictions {path}: probability must be a number in [0, 1]; bad: {list_some(rows)}")
    base = path.resolve().parent
    given = (df["path"].astype(object).fillna("").astype(str).str.strip() if "path" in df.columns
             else pd.Series([""] * len(df), index=df.index))
    out = pd.DataFrame({"image": df["image"].astype(str).to_numpy(),
                        "key": [_resolve(g or i, base) for g, i in zip(given, df["image"].astype(str))],
                        "probability": prob, "qc_withheld": withheld, "row": df.index.to_numpy()})
    dup = out["key"].duplicated(keep=False)
    if dup.any():
        names = sorted(set(out.loc[dup, "image"]))
        raise PredictionsError(f"predictions {path}: duplicate images (rows naming the same file): {list_some(names)}")
    has_decision = "decision" in df.columns
    if has_decision:
        dec = pd.to_numeric(df["decision"], errors="coerce")
        bad_dec = ~dec.isin([0, 1]) & ~(dec.isna().to_numpy() & withheld)
        if bad_dec.any():
            rows = [str(i + 2) for i in np.flatnonzero(bad_dec.to_numpy())]
            raise PredictionsError(f"predictions {path}: decision must be 0 or 1; bad CSV line(s) {list_some(rows)}")
        out["decision"] = dec.astype("Int64").to_numpy()
    return Predictions(path=str(path.resolve()), table=out, has_decision=has_decision, excluded=excluded)


def _drop_failed(df: pd.DataFrame, *, path: Path) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Rows of ``sijscan predict``'s CSV to leave out: failed ones (non-empty ``error``).

    Only a file with predict's ``error`` column is read this way; in any other file an empty
    probability stays an error. The index of the returned frame is the row's position in the file
    (``Predictions.table["row"]``).
    """
    if "error" not in df.columns:
        return df, {}
    failed = (df["error"].astype(object).fillna("").astype(str).str.strip() != "").to_numpy()
    if failed.all():
        raise PredictionsError(f"predictions {path}: no usable rows: {int(failed.sum())} failed of {len(df)}")
    return df.loc[~failed], {"failed": df.loc[failed, "image"].astype(str).tolist()}


def excluded_notes(excluded: dict[str, list[str]]) -> list[str]:
    """One note per reason for the rows :func:`read_predictions` left out, naming the images."""
    what = {"failed": "failed in predict (error column)"}
    return [f"{len(names)} image(s) {what[k]} were excluded: {list_some(names)}"
            for k, names in excluded.items() if names]


@dataclass
class Joined:
    """Predictions joined with their manifest rows."""

    table: pd.DataFrame
    """Manifest columns plus ``probability`` (and ``decision``) for every predicted image."""
    n_matched_by_name: int = 0
    notes: list[str] = field(default_factory=list)


def join_predictions(predictions: Predictions, manifest: pd.DataFrame) -> Joined:
    """Attach each prediction to its manifest row; raise :class:`KeyMismatchError` for unmatched ones.

    A row matches by its file (``sijscan predict`` writes each file's path as given, so its rows match
    exactly); rows without a path (older files, other tools) fall back to a unique match of their
    ``image`` as a trailing part of a manifest path, then of the file name alone (noted), then of a
    content hash (``predict --hash-names``; noted).
    """
    man = manifest.reset_index(drop=True).copy()
    man_keys = [str(Path(str(p)).expanduser().resolve()) for p in man["image"].astype(str)]
    man["_key"] = man_keys
    if man["_key"].duplicated().any():
        dups = sorted(set(man.loc[man["_key"].duplicated(keep=False), "image"].astype(str)))
        raise KeyMismatchError(f"manifest lists the same image more than once: {list_some(dups)}")
    index_of = {k: i for i, k in enumerate(man_keys)}
    pred = predictions.table
    rows = np.array([index_of.get(key, -1) for key in pred["key"]], dtype=int)
    images = [re.sub(r"^(\./)+", "", str(i).replace("\\", "/")) for i in pred["image"]]
    _match_unique(rows, images, man_keys, whole_name=False)
    n_by_name = _match_unique(rows, images, man_keys, whole_name=True)
    n_by_content = _match_by_content(rows, images, man_keys)
    still = np.flatnonzero(rows < 0)
    if still.size:
        names = [str(pred["image"].iloc[j]) for j in still]
        src = manifest.attrs.get("manifest_path", "the manifest")
        raise KeyMismatchError(f"{still.size} predicted image(s) not in {src}: {list_some(names)}")
    table = man.iloc[rows].reset_index(drop=True).drop(columns=["_key"])
    table["probability"] = pred["probability"].to_numpy()
    table["qc_withheld"] = pred["qc_withheld"].to_numpy()
    if predictions.has_decision:
        table["decision"] = pred["decision"].to_numpy()
    notes = []
    if n_by_name:
        notes.append(f"{n_by_name} prediction(s) matched to the manifest by file name only")
    if n_by_content:
        notes.append(f"{n_by_content} prediction(s) named by content hash matched to the manifest by file content")
    return Joined(table=table, n_matched_by_name=n_by_name, notes=notes)


def _match_unique(rows: np.ndarray, pred_paths: list[str], man_keys: list[str], *, whole_name: bool) -> int:
    """Give each unmatched prediction (``rows`` -1) the one manifest row, not yet taken, whose path ends
    with the prediction's relative path (``whole_name``: whose file name is the prediction's file name),
    when no other prediction names the same and no other manifest row fits; in place."""
    if not (rows < 0).any():
        return 0
    keys = [Path(p).name if whole_name else "/" + p for p in pred_paths]
    counts = pd.Series(keys).value_counts()
    by_name: dict[str, list[int]] = {}
    for r, m in enumerate(man_keys):
        by_name.setdefault(Path(m).name, []).append(r)
    candidates = {j: [r for r in by_name.get(Path(pred_paths[j]).name, [])
                      if whole_name or man_keys[r].endswith(keys[j])]
                  for j in np.flatnonzero(rows < 0)
                  if counts[keys[j]] == 1 and (whole_name or "/" in pred_paths[j])}  # a bare name: the name pass
    return _take_unique(rows, candidates)


def _match_by_content(rows: np.ndarray, images: list[str], man_keys: list[str]) -> int:
    """Match predictions named by ``predict --hash-names`` (16 hex digits of the file's SHA-256) to the
    manifest's files by their content; manifest files are hashed only when such names are left."""
    left = [j for j in np.flatnonzero(rows < 0) if _HASH_NAME.fullmatch(images[j])]
    if not left:
        return 0
    taken = set(rows[rows >= 0].tolist())
    by_hash: dict[str, list[int]] = {}
    for r, key in enumerate(man_keys):
        if r in taken:
            continue
        try:
            by_hash.setdefault(file_digest(key)[:16], []).append(r)
        except OSError:
            continue
    return _take_unique(rows, {j: by_hash.get(images[j], []) for j in left})


def _take_unique(rows: np.ndarray, candidates: dict[int, list[int]]) -> int:
    """Set ``rows[j]`` to its one candidate manifest row when that row is not taken yet; in place; how many."""
    taken = set(rows[rows >= 0].tolist())
    n = 0
    for j, hits in candidates.items():
        if len(hits) == 1 and hits[0] not in taken:
            rows[j] = hits[0]
            taken.add(hits[0])
            n += 1
    return n


def fill_labels(table: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Return rows with a usable baseline ``label`` and the number dropped for lacking one.

    A missing ``label`` is derived from ``grade_left``/``grade_right`` (modified New York) when
    both grades are present.
    """
    df = table.copy()
    if "label" not in df.columns:
        df["label"] = pd.array([pd.NA] * len(df), dtype="Int64")
    label = df["label"].astype("Int64")
    if {"grade_left", "grade_right"} <= set(df.columns):
        need = label.isna() & df["grade_left"].notna() & df["grade_right"].notna()
        for i in np.flatnonzero(need.to_numpy()):
            label.iloc[i] = mny_positive(int(df["grade_left"].iloc[i]), int(df["grade_right"].iloc[i]))
    bad = label.notna() & ~label.isin([0, 1])
    if bad.any():
        names = df.loc[bad.to_numpy(), "image"].astype(str).tolist()
        raise PredictionsError(f"label must be 0 or 1; bad rows: {list_some(names)}")
    df["label"] = label
    keep = label.notna().to_numpy()
    return df.loc[keep].reset_index(drop=True), int((~keep).sum())


def select(table: pd.DataFrame, *, cohort: str | None = None, split: str | None = None) -> pd.DataFrame:
    """Rows of one cohort and/or split (``None`` = no filter)."""
    df = table
    for col, value in (("cohort", cohort), ("split", split)):
        if value is None:
            continue
        if col not in df.columns:
            raise PredictionsError(f"--{col} {value} given but the manifest has no '{col}' column")
        df = df[df[col].astype(str) == str(value)]
    return df.reset_index(drop=True)


def load_manifests(paths: list[str | Path]) -> pd.DataFrame:
    """Read one or more manifests into one table; a missing ``cohort`` is filled with the file's stem."""
    frames = []
    for path in paths:
        df = load_manifest(path).copy()
        stem = Path(path).stem
        if "cohort" not in df.columns:
            df["cohort"] = stem
        else:
            df["cohort"] = df["cohort"].astype("object").where(df["cohort"].notna(), stem).astype(str)
        frames.append(df)
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    out.attrs["manifest_path"] = ", ".join(str(Path(p).resolve()) for p in paths)
    return out


@dataclass
class Dataset:
    """Labelled predictions of one model, after joining and filtering."""

    table: pd.DataFrame
    info: dict[str, object]
    """Where the data came from and what was left out (goes into the JSON outputs)."""


def load_dataset(*, predictions: str | Path, manifests: list[str | Path], cohort: str | None = None,
                 split: str | None = None, manifest_table: pd.DataFrame | None = None) -> Dataset:
    """Read, validate, join, filter and keep rows with a label; raise on anything unusable."""
    pred = read_predictions(predictions)
    man = manifest_table if manifest_table is not None else load_manifests(list(manifests))
    joined = join_predictions(pred, man)
    chosen = select(joined.table, cohort=cohort, split=split)
    labelled, n_no_label = fill_labels(chosen)
    n_unpredicted = len(select(man, cohort=cohort, split=split)) - len(chosen)
    notes = excluded_notes(pred.excluded) + list(joined.notes)
    withheld = labelled.loc[labelled["qc_withheld"].to_numpy(dtype=bool), "image"].astype(str).tolist()
    if withheld:
        notes.append(f"{len(withheld)} image(s) had their decision withheld by QC and are analysed with their "
                     f"probability (the analysis without them: qc_excluded): {list_some(withheld)}")
    if n_no_label:
        notes.append(f"{n_no_label} predicted case(s) without a baseline label were left out")
    if n_unpredicted:
        notes.append(f"{n_unpredicted} manifest row(s) in the selection have no prediction")
    if len(labelled) == 0:
        raise PredictionsError(f"no labelled predictions left in {predictions} after filters "
                               f"(cohort={cohort}, split={split}; {len(pred.table)} predictions read)")
    for note in notes:
        log.warning(note)
    info: dict[str, object] = {
        "predictions": pred.path, "manifests": [str(Path(p).resolve()) for p in manifests],
        "filters": {"cohort": cohort, "split": split}, "n_predictions_read": int(len(pred.table)),
        "n_after_filters": int(len(chosen)), "n_without_label": n_no_label,
        "n_manifest_rows_without_prediction": int(n_unpredicted), "n_matched_by_file_name": joined.n_matched_by_name,
        "has_decision_column": pred.has_decision, "notes": notes,
        "n_failed_excluded": len(pred.excluded.get("failed", [])),
        "excluded": pred.excluded, "qc_rule": QC_RULE, "n_qc_withheld": len(withheld), "qc_withheld": withheld,
    }
    return Dataset(table=labelled, info=info)
