"""Batch prediction over files, folders and manifests: resumable CSV, one JSON per image, pictures.

Layout of ``out_dir``::

    predictions.csv          one row per image (``CSV_COLUMNS``); errors in ``error``, one line each;
                             ``source_stamp`` = "size:mtime_ns" of the file that was read
    images/<stem>.json       the full Prediction (no pixels, no patient fields); <stem>: :func:`safe_stem`
    images/<stem>_overlay.png segmentation masks + SIJ boxes
    images/<stem>_gradcam.png Grad-CAM on the radiograph (with ``gradcam=True``)
    images/<stem>_gradcam_crop.png Grad-CAM on the SIJ crop
    report.html              with ``report=True``
    .sijscan.lock            held (``flock``) by the run writing the folder: a second run is refused

Resuming: an image is skipped when its row has no error and its file's ``source_stamp`` is
unchanged; failed, new and changed images are predicted. ``overwrite`` redoes every image named
in this run and keeps the rows of the others. Each finished row is appended and flushed at once
(one ``write`` call per row), so a crash loses at most the row being written; at the end the file
is rewritten de-duplicated (last row per image wins) through a temporary file and ``os.replace``.
Images are named by their path relative to the input folder (or by a content hash with
``hash_names``), bytes that are not UTF-8 as ``\\xNN``; DICOM patient fields never reach any output.
Every file-system failure on ``out_dir`` is an :class:`~sijscan.predict.outdir.OutputFolderError` (one line).
"""
from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from sijscan import jsonio
from sijscan._progress import progress_enabled
from sijscan.errors import InputError
from sijscan.predict.names import file_stamp, folder_files, printable_name, resolved, safe_stem
from sijscan.predict.table import CSV_NAME, RowWriter, prediction_row, read_rows

__all__ = ["run_batch", "collect_inputs", "todo_items", "BatchSummary"]

if TYPE_CHECKING:
    from sijscan.predict.pipeline import Pipeline
    from sijscan.predict.prediction import Prediction

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".dcm", ".dicom", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".nii", ".gz", ".bmp"}
_SKIP_NAMES = {CSV_NAME, "report.html"}


class NoInputsError(InputError):
    """No radiograph was found in the inputs given."""


@dataclass
class InputItem:
    path: Path
    image: str  # the name used in outputs (relative path or hash)
    stamp: str = ""  # "size:mtime_ns" of the file when the run started ("" when it cannot be read)
    mask: Path | None = None  # the user's own label map for this image (segmenter skipped)


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
                   skip_under: Path | None = None, masks: str | os.PathLike[str] | None = None) -> list[InputItem]:
    """Expand files, folders (recursive) and manifest CSVs into a de-duplicated list of images.

    A manifest's ``mask`` column, or ``masks`` (a folder searched with
    :func:`sijscan.io.labelmap.find_mask` by each image's name), gives images their own label maps.
    """
    items: list[InputItem] = []
    seen: set[Path] = set()
    skip = resolved(skip_under) if skip_under is not None else None

    def add(path: Path, name: str, mask: Path | None = None) -> None:
        rp = resolved(path)
        if rp in seen:
            return
        seen.add(rp)
        if mask is None and masks is not None:
            from sijscan.io.labelmap import find_mask

            mask = find_mask(masks, name)
        items.append(InputItem(path=path, image=printable_name(name), mask=mask))

    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            for f in folder_files(p):
                if skip is not None and skip in resolved(f).parents:
                    continue
                broken = f.is_symlink() and not f.exists()
                if f.name.startswith(".") or f.name in _SKIP_NAMES or not (broken or _looks_like_image(f)):
                    continue
                add(f, f.relative_to(p).as_posix())
        elif p.suffix.lower() == ".csv" and p.is_file():
            from sijscan.io import read_manifest

            df = read_manifest(p, check_files=False)
            given = df["mask"] if "mask" in df else [None] * len(df)
            for img, mask in zip(df["image"], given):
                has = isinstance(mask, str) and mask.strip() not in ("", "nan")
                add(Path(str(img)), Path(str(img)).name, Path(mask) if has else None)
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
    for it in items:
        it.stamp = file_stamp(it.path)
    return items


def write_image_outputs(pred: Prediction, *, images_dir: Path, gradcam: bool) -> None:
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
    payload = jsonio.dumps(pred.to_json(), indent=2) + "\n"
    write_bytes_atomic(images_dir / f"{stem}.json", payload.encode("utf-8"))


def _read_ahead(pipeline: Pipeline, items: Sequence[InputItem], workers: int) -> Iterator[tuple[InputItem, Any]]:
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
    pipeline: Pipeline, *, inputs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
    gradcam: bool = False, batch_size: int = 8, overwrite: bool = False, workers: int = 1,
    report: bool = False, progress: bool | None = None, hash_names: bool = False,
    masks: str | os.PathLike[str] | None = None, settings: dict[str, Any] | None = None,
) -> BatchSummary:
    """Predict every image in ``inputs`` into ``out_dir``; see the module docstring.

    ``masks``: a folder of the user's own label maps (see :func:`collect_inputs`). ``settings``:
    result-changing options recorded in ``run.json`` beside the models (e.g. backend, fast).
    """
    from sijscan.predict.outdir import out_lock, prepare_out_dir

    out = Path(out_dir)
    items = collect_inputs(inputs, hash_names=hash_names, skip_under=out, masks=masks)
    if not items:
        raise NoInputsError("no radiographs found in the inputs given")
    if pipeline.segmenter is None and pipeline.view == "sij":
        lacking = [it.image for it in items if it.mask is None]
        if lacking:
            raise NoInputsError(f"{len(lacking)} image(s) have no label map (first: {lacking[0]}) and no "
                                "segmenter was given: pass --segmenter DIR, or masks for every image")
    created = not out.exists()
    images_dir = prepare_out_dir(out)
    with out_lock(out, created=created):
        record_run(pipeline, out=out, overwrite=overwrite, settings=settings or {},
                   arguments={"n_inputs": len(items), "gradcam": gradcam, "batch_size": batch_size,
                              "workers": workers, "report": report, "hash_names": hash_names,
                              "masks": None if masks is None else str(masks)},
                   own_masks=any(it.mask is not None for it in items))
        summary = _run_locked(pipeline, items=items, out=out, images_dir=images_dir, gradcam=gradcam,
                              batch_size=batch_size, overwrite=overwrite, workers=workers, progress=progress)
        if report:
            from sijscan.predict.report import write_report

            write_report(out, order=[it.image for it in items])
    return summary


def record_run(pipeline: Pipeline, *, out: Path, overwrite: bool, settings: dict[str, Any],
               arguments: dict[str, Any], own_masks: bool) -> None:
    """``out/run.json`` names the models and settings; a resume with others is refused, and
    ``--overwrite`` sets the earlier run's table and images aside (``*.previous``) instead of mixing them."""
    from sijscan.runinfo import check_and_write_run, model_identity

    identity = {"classifier": model_identity(pipeline.classifier.card),
                "segmenter": None if pipeline.segmenter is None else model_identity(pipeline.segmenter.card),
                "settings": {**settings, "own_masks": own_masks}}
    if check_and_write_run(out, command="predict", identity=identity, arguments=arguments, resume=not overwrite):
        import datetime as _dt

        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
        for name in (CSV_NAME, "images", "report.html"):
            if (out / name).exists():
                (out / name).replace(out / f"{name}.previous-{stamp}")
        (out / "images").mkdir(exist_ok=True)


def todo_items(items: Sequence[InputItem], existing: dict[str, dict[str, str]], *,
               overwrite: bool) -> list[InputItem]:
    """The items to predict: all with ``overwrite``; else those without a row, with a failed row
    (retried), or whose file changed since its row was written (size or mtime differ)."""
    if overwrite:
        return list(items)
    todo = []
    for it in items:
        row = existing.get(it.image)
        if row is None or row.get("error") or not it.stamp or row.get("source_stamp", "") != it.stamp:
            todo.append(it)
    return todo


def _run_locked(pipeline: Pipeline, *, items: list[InputItem], out: Path, images_dir: Path, gradcam: bool,
                batch_size: int, overwrite: bool, workers: int, progress: bool | None) -> BatchSummary:
    from sijscan.io.radiograph import one_line
    from sijscan.predict.outdir import OutputFolderError, os_reason
    from sijscan.predict.pipeline import Prediction

    csv_path = out / CSV_NAME
    existing = read_rows(csv_path)  # with --overwrite too: rows of images not named in this run are kept
    summary = BatchSummary(total=len(items), out_dir=out)
    todo = todo_items(items, existing, overwrite=overwrite)
    changed = sum(1 for it in todo if it.image in existing and not existing[it.image].get("error")) if not overwrite else 0
    summary.skipped = len(items) - len(todo)
    if summary.skipped:
        log.info("skipping %d image(s) already in %s (use --overwrite to redo)", summary.skipped, csv_path)
    if changed:
        log.warning("redoing %d image(s) whose file changed (size or modification time) since its row was written",
                    changed)
    show = progress_enabled(progress)
    from tqdm import tqdm

    try:
        writer = RowWriter(csv_path, existing, stamps={it.image: it.stamp for it in items})
    except OSError as exc:
        raise OutputFolderError(f"cannot write {csv_path} ({os_reason(exc)})") from exc
    bar = tqdm(total=len(todo), disable=not show, file=sys.stderr, unit="image", desc="predict")
    t0 = time.perf_counter()
    try:
        batch: list[tuple[InputItem, Any]] = []

        def flush() -> None:
            ready = [(it, r) for it, r in batch if not isinstance(r, Exception)]
            preds = pipeline.predict_many([r for _, r in ready], batch_size=max(1, len(ready)), gradcam=gradcam,
                                          names=[it.image for it, _ in ready], on_error="record",
                                          masks=[it.mask for it, _ in ready]) if ready else []
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
    except OSError as exc:  # the CSV itself cannot be appended to (disk full, removed, read-only)
        raise OutputFolderError(f"cannot write {csv_path} ({os_reason(exc)}); rows written so far are kept") from exc
    finally:
        bar.close()
        try:
            writer.finalize(order=[it.image for it in items])
        except OSError as exc:
            log.error("cannot rewrite %s (%s); the rows appended so far are in it", csv_path, os_reason(exc))
    summary.failed = sum(1 for it in items if writer.rows.get(it.image, {}).get("error"))
    log.info("predicted %d, skipped %d, failed %d in %.1f s", summary.done, summary.skipped, summary.failed,
             time.perf_counter() - t0)
    return summary


def _scrub(message: str, item: InputItem) -> str:
    """The error message with the file's path replaced by its output name (no folder names leak)."""
    for form in sorted({str(item.path), str(resolved(item.path)), os.fspath(item.path)}, key=len, reverse=True):
        message = message.replace(form, item.image)
    return printable_name(message)


def _finish(pred: Prediction, *, writer: RowWriter, images_dir: Path, gradcam: bool, summary: BatchSummary) -> None:
    write_outputs_safely(pred, images_dir=images_dir, gradcam=gradcam)
    record_row(pred, writer=writer, summary=summary)


def write_outputs_safely(pred: Prediction, *, images_dir: Path, gradcam: bool) -> None:
    """The per-image files of a prediction without error; an ``OSError`` becomes its error (thread-safe)."""
    if pred.error:
        return
    try:
        write_image_outputs(pred, images_dir=images_dir, gradcam=gradcam)
    except OSError as exc:
        pred.error = f"cannot write outputs: {exc}"


def record_row(pred: Prediction, *, writer: RowWriter, summary: BatchSummary) -> None:
    """Count the prediction in ``summary`` and append its row (after :func:`write_outputs_safely`)."""
    if pred.error:
        summary.failures.append((pred.image, pred.error))
        log.debug("%s: %s", pred.image, pred.error)
    else:
        summary.done += 1
        summary.withheld += int(not pred.qc_passed)
    writer.add(prediction_row(pred))
