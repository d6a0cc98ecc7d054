"""Batch prediction over files, folders and manifests: resumable CSV, one JSON per image, pictures.

Layout of ``out_dir``::

    predictions.csv          one row per image (``CSV_COLUMNS``); errors in ``error``, one line each
    images/<stem>.json       the full Prediction (no pixels, no patient fields)
    images/<stem>_overlay.png segmentation masks + SIJ boxes
    images/<stem>_gradcam.png Grad-CAM on the radiograph (with ``gradcam=True``)
    images/<stem>_gradcam_crop.png Grad-CAM on the SIJ crop
    report.html              with ``report=True``

Resuming: rows already in ``predictions.csv`` without an error are skipped (unless
``overwrite``); failed rows are retried. Each finished row is appended and flushed at once (one
``write`` call per row), so a crash loses at most the row being written; at the end the file is
rewritten de-duplicated (last row per image wins) through a temporary file and ``os.replace``.
Images are named by their path relative to the input folder (or by a content hash with
``hash_names``); DICOM patient fields never reach any output.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from sijscan._progress import progress_enabled
from sijscan.errors import InputError

log = logging.getLogger(__name__)

CSV_NAME = "predictions.csv"
CSV_COLUMNS = [
    "image", "probability", "probability_calibrated", "decision", "cutoff", "qc_passed", "qc_flags",
    "qc_reasons", "grade_left", "grade_right", "mny", "sij_box", "view", "total_s", "error",
]
IMAGE_SUFFIXES = {".dcm", ".dicom", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".nii", ".gz", ".bmp"}
_SKIP_NAMES = {CSV_NAME, "report.html"}


class NoInputsError(InputError):
    """No radiograph was found in the inputs given."""


@dataclass
class InputItem:
    path: Path
    image: str  # the name used in outputs (relative path or hash)


@dataclass
class BatchSummary:
    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    withheld: int = 0
    out_dir: Path | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def _looks_like_image(path: Path) -> bool:
    """Content first (sijscan.io's sniffer); files with an image extension are kept even if broken."""
    from sijscan.io.detect import HEAD_BYTES, sniff_format

    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return False
    return sniff_format(path, head) is not None


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:16]


def collect_inputs(inputs: Sequence[str | os.PathLike[str]], *, hash_names: bool = False,
                   skip_under: Path | None = None) -> list[InputItem]:
    """Expand files, folders (recursive) and manifest CSVs into a de-duplicated list of images."""
    items: list[InputItem] = []
    seen: set[Path] = set()
    skip = skip_under.resolve() if skip_under is not None else None

    def add(path: Path, name: str) -> None:
        rp = path.resolve()
        if rp in seen:
            return
        seen.add(rp)
        items.append(InputItem(path=path, image=name))

    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            for f in sorted(q for q in p.rglob("*") if q.is_file()):
                if skip is not None and skip in f.resolve().parents:
                    continue
                if f.name.startswith(".") or f.name in _SKIP_NAMES or not _looks_like_image(f):
                    continue
                add(f, f.relative_to(p).as_posix())
        elif p.suffix.lower() == ".csv" and p.is_file():
            from sijscan.io import read_manifest

            df = read_manifest(p, check_files=False)
            for img in df["image"]:
                add(Path(str(img)), Path(str(img)).name)
        else:
            add(p, p.name)  # missing or unreadable files become error rows
    if hash_names:
        for it in items:
            try:
                it.image = _content_hash(it.path)
            except OSError:
                it.image = hashlib.sha256(str(it.path).encode()).hexdigest()[:16]
    names = [it.image for it in items]
    if len(set(names)) != len(names):
        counts: dict[str, int] = {}
        for it in items:
            counts[it.image] = counts.get(it.image, 0) + 1
            if counts[it.image] > 1:
                it.image = f"{it.image}#{counts[it.image]}"
    return items


def safe_stem(image: str) -> str:
    """A file-name-safe stem for an image name (path separators and odd characters replaced)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", image).strip("._") or "image"
    if stem != image.replace("/", "_"):
        stem += "_" + hashlib.sha1(image.encode()).hexdigest()[:6]
    return stem[:150]


def prediction_row(pred: Any) -> dict[str, Any]:
    """One CSV row from a ``Prediction``."""
    def num(v: float | None) -> str:
        return "" if v is None else f"{v:.6f}"

    g = pred.grades or {}
    return {
        "image": pred.image, "probability": num(pred.probability),
        "probability_calibrated": num(pred.probability_calibrated),
        "decision": "" if pred.decision is None else str(pred.decision),
        "cutoff": num(pred.cutoff), "qc_passed": "" if pred.error else str(bool(pred.qc_passed)).lower(),
        "qc_flags": ";".join(pred.qc_flags), "qc_reasons": "; ".join(pred.qc_reasons),
        "grade_left": g.get("left", ""), "grade_right": g.get("right", ""),
        "mny": "" if pred.mny is None else pred.mny,
        "sij_box": "" if pred.sij_box is None else " ".join(str(v) for v in pred.sij_box),
        "view": pred.view, "total_s": pred.timings.get("total_s", ""), "error": pred.error or "",
    }


def _row_text(row: dict[str, Any]) -> str:
    buf = io.StringIO()
    csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n").writerow(row)
    return buf.getvalue()


def read_rows(csv_path: Path) -> dict[str, dict[str, str]]:
    """Rows of an existing predictions.csv keyed by image (last wins); a torn last line is dropped."""
    if not csv_path.is_file():
        return {}
    rows: dict[str, dict[str, str]] = {}
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return {}
        for values in reader:
            if len(values) != len(header):
                log.warning("%s: dropping an incomplete row (interrupted write?)", csv_path)
                continue
            row = dict(zip(header, values))
            if row.get("image"):
                rows[row["image"]] = row
    return rows


class RowWriter:
    """Appends rows to predictions.csv, one flushed ``write`` per row; ``finalize`` rewrites atomically."""

    def __init__(self, csv_path: Path, existing: dict[str, dict[str, str]]) -> None:
        self.path = csv_path
        self.rows = dict(existing)
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
        self.rows[str(row["image"])] = {k: str(row.get(k, "")) for k in CSV_COLUMNS}
        self._write(_row_text(row))

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def finalize(self, *, order: Sequence[str]) -> None:
        """Rewrite the CSV de-duplicated, images in ``order`` first, through tmp + ``os.replace``."""
        from sijscan.predict.overlay import write_bytes_atomic

        keys = [k for k in order if k in self.rows] + sorted(k for k in self.rows if k not in set(order))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for k in keys:
            writer.writerow({c: self.rows[k].get(c, "") for c in CSV_COLUMNS})
        if hasattr(self, "_fh"):
            self.close()
        write_bytes_atomic(self.path, buf.getvalue().encode("utf-8"))


def write_image_outputs(pred: Any, *, images_dir: Path, gradcam: bool) -> None:
    """Per-image JSON, overlay and (with Grad-CAM) heat-map PNGs, each written atomically."""
    from sijscan.predict.overlay import (OVERLAY_LONGEST, cam_overlay, segmentation_overlay, write_bytes_atomic,
                                         write_png_atomic)

    stem = safe_stem(pred.image)
    im = pred.images
    if im is not None:
        write_png_atomic(images_dir / f"{stem}_overlay.png",
                         segmentation_overlay(im.pixels, im.labels, box=pred.sij_box, side_boxes=pred.sij_boxes))
        if gradcam and im.cams:
            full = pred.cam_on_radiograph("positive")
            crop = pred.cam_on_crop("positive")
            if full is not None:
                write_png_atomic(images_dir / f"{stem}_gradcam.png",
                                 cam_overlay(im.pixels, full, longest=OVERLAY_LONGEST))
            if crop is not None and im.crop is not None:
                write_png_atomic(images_dir / f"{stem}_gradcam_crop.png", cam_overlay(im.crop, crop))
    payload = json.dumps(pred.to_json(), indent=2) + "\n"
    write_bytes_atomic(images_dir / f"{stem}.json", payload.encode("utf-8"))


def _read_ahead(pipeline: Any, items: Sequence[InputItem], workers: int) -> Iterator[tuple[InputItem, Any]]:
    """Yield ``(item, Radiograph or the InputError)``, reading up to ``workers`` files ahead."""
    from sijscan.errors import SijscanError
    from sijscan.predict.pipeline import to_radiograph

    def read(item: InputItem) -> Any:
        try:
            return to_radiograph(item.path)
        except SijscanError as exc:
            return exc

    if workers <= 1:
        for it in items:
            yield it, read(it)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        window = 2 * workers
        futures = [pool.submit(read, it) for it in items[:window]]
        for i, it in enumerate(items):
            if i + window < len(items):
                futures.append(pool.submit(read, items[i + window]))
            yield it, futures[i].result()


def run_batch(
    pipeline: Any, *, inputs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
    gradcam: bool = False, batch_size: int = 8, overwrite: bool = False, workers: int = 1,
    report: bool = False, progress: bool | None = None, hash_names: bool = False,
) -> BatchSummary:
    """Predict every image in ``inputs`` into ``out_dir``; see the module docstring."""
    from sijscan.io.radiograph import one_line
    from sijscan.predict.pipeline import Prediction

    out = Path(out_dir)
    items = collect_inputs(inputs, hash_names=hash_names, skip_under=out)
    if not items:
        raise NoInputsError("no radiographs found in the inputs given")
    images_dir = out / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out / CSV_NAME
    existing = {} if overwrite else read_rows(csv_path)
    if overwrite:
        csv_path.unlink(missing_ok=True)
    summary = BatchSummary(total=len(items), out_dir=out)
    todo = [it for it in items if not (it.image in existing and not existing[it.image].get("error"))]
    summary.skipped = len(items) - len(todo)
    if summary.skipped:
        log.info("skipping %d image(s) already in %s (use --overwrite to redo)", summary.skipped, csv_path)
    show = progress_enabled(progress)
    from tqdm import tqdm

    bar = tqdm(total=len(todo), disable=not show, file=sys.stderr, unit="image", desc="predict")
    writer = RowWriter(csv_path, existing)
    t0 = time.perf_counter()
    try:
        batch: list[tuple[InputItem, Any]] = []

        def flush() -> None:
            ready = [(it, r) for it, r in batch if not isinstance(r, Exception)]
            preds = pipeline.predict_many([r for _, r in ready], batch_size=max(1, len(ready)), gradcam=gradcam,
                                          names=[it.image for it, _ in ready], on_error="record") if ready else []
            by_name = {p.image: p for p in preds}
            for it, r in batch:
                pred = Prediction(image=it.image, error=_scrub(one_line(r), it), view=pipeline.view) \
                    if isinstance(r, Exception) else by_name[it.image]
                if pred.error:
                    pred.error = _scrub(pred.error, it)
                _finish(pred, writer=writer, images_dir=images_dir, gradcam=gradcam, summary=summary)
                bar.update(1)
            batch.clear()

        for item, result in _read_ahead(pipeline, todo, workers):
            batch.append((item, result))
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
    finally:
        bar.close()
        writer.finalize(order=[it.image for it in items])
    summary.failed = sum(1 for it in items if writer.rows.get(it.image, {}).get("error"))
    log.info("predicted %d, skipped %d, failed %d in %.1f s", summary.done, summary.skipped, summary.failed,
             time.perf_counter() - t0)
    if report:
        from sijscan.predict.report import write_report

        write_report(out, order=[it.image for it in items])
    return summary


def _scrub(message: str, item: InputItem) -> str:
    """The error message with the file's path replaced by its output name (no folder names leak)."""
    for form in sorted({str(item.path), str(item.path.resolve()), os.fspath(item.path)}, key=len, reverse=True):
        message = message.replace(form, item.image)
    return message


def _finish(pred: Any, *, writer: RowWriter, images_dir: Path, gradcam: bool, summary: BatchSummary) -> None:
    write_outputs_safely(pred, images_dir=images_dir, gradcam=gradcam)
    record_row(pred, writer=writer, summary=summary)


def write_outputs_safely(pred: Any, *, images_dir: Path, gradcam: bool) -> None:
    """The per-image files of a prediction without error; an ``OSError`` becomes its error (thread-safe)."""
    if pred.error:
        return
    try:
        write_image_outputs(pred, images_dir=images_dir, gradcam=gradcam)
    except OSError as exc:
        pred.error = f"cannot write outputs: {exc}"


def record_row(pred: Any, *, writer: RowWriter, summary: BatchSummary) -> None:
    """Count the prediction in ``summary`` and append its row (after :func:`write_outputs_safely`)."""
    if pred.error:
        summary.failures.append((pred.image, pred.error))
        log.debug("%s: %s", pred.image, pred.error)
    else:
        summary.done += 1
        summary.withheld += int(not pred.qc_passed)
    writer.add(prediction_row(pred))
