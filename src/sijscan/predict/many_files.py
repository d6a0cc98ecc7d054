"""Many files in, one output folder out: the inputs, the per-image files and the table's rules.

Used by the runner (:mod:`sijscan.predict.runner`, which documents ``OUT``'s layout):
:func:`collect_inputs` expands files, folders (recursive) and manifests into named items, each with
the user's own label map when there is one; :func:`todo_items` says which to predict (resume:
an image is skipped when its row has no error and its file's ``source_stamp`` is unchanged;
``overwrite`` redoes every image named in this run and keeps the rows of the others);
:func:`write_image_outputs` writes ``images/<stem>.json`` (the full Prediction, no pixels, no
patient fields), ``_overlay.png`` and the Grad-CAM pictures, each atomically; :func:`record_run`
writes ``run.json``. Images are named by their path relative to the input folder (or by a content
hash with ``hash_names``), bytes that are not UTF-8 as ``\\xNN``; DICOM patient fields never reach
any output. Every file-system failure on ``out_dir`` is an
:class:`~sijscan.predict.outdir.OutputFolderError` (one line).
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from sijscan import jsonio
from sijscan.errors import InputError
from sijscan.files import atomic_write, file_digest
from sijscan.io.detect import HEAD_BYTES, sniff_format
from sijscan.io.labelmap import find_mask
from sijscan.predict.names import file_stamp, folder_files, printable_name, resolved, safe_stem
from sijscan.predict.overlay import OVERLAY_LONGEST, cam_overlay, segmentation_overlay, write_png_atomic
from sijscan.predict.table import CSV_NAME, RowWriter, prediction_row
from sijscan.runinfo import check_and_write_run, model_identity

__all__ = ["collect_inputs", "todo_items", "BatchSummary", "InputItem", "write_image_outputs"]

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
    source: str = ""  # the file's path as given, made absolute (predictions.csv ``path``; "" with hash_names)
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
    images: list[str] = field(default_factory=list)
    """This run's images (their names in predictions.csv), in input order."""

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def _looks_like_image(path: Path) -> bool:
    """Content first (sijscan.io's sniffer); files with an image extension are kept even if broken."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return False
    return sniff_format(path, head) is not None


def collect_inputs(inputs: Sequence[str | os.PathLike[str]], *, hash_names: bool = False,
                   skip_under: Path | None = None, masks: str | os.PathLike[str] | None = None,
                   manifest_masks: bool = True) -> list[InputItem]:
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
            mask = find_mask(masks, name)
        items.append(InputItem(path=path, image=printable_name(name), mask=mask,
                               source="" if hash_names else printable_name(str(path.absolute()))))

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
            from sijscan.io import read_manifest  # lazy: pandas

            df = read_manifest(p, check_files=False)
            given = df["mask"] if "mask" in df and manifest_masks else [None] * len(df)
            for img, mask in zip(df["image"], given):
                has = isinstance(mask, str) and mask.strip() not in ("", "nan")
                add(Path(str(img)), _manifest_name(Path(str(img)), p.absolute().parent), Path(mask) if has else None)
        else:
            add(p, p.name)  # missing or unreadable files become error rows
    if hash_names:
        for it in items:
            try:
                it.image = file_digest(it.path)[:16]
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


def _manifest_name(image: Path, base: Path) -> str:
    """A manifest image's name in outputs: its path relative to the manifest's folder, as the manifest
    gives it (``../`` where it lies outside; the absolute path where no relative one exists)."""
    try:
        return Path(os.path.relpath(image, base)).as_posix()
    except ValueError:  # another drive (Windows)
        return image.as_posix()


def write_image_outputs(pred: Prediction, *, images_dir: Path, gradcam: bool) -> None:
    """Per-image JSON, overlay and (with Grad-CAM) heat-map PNGs, each written atomically."""
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
    atomic_write(images_dir / f"{stem}.json", payload)


def record_run(pipeline: Pipeline, *, out: Path, overwrite: bool, settings: dict[str, Any],
               arguments: dict[str, Any], own_masks: bool) -> None:
    """``out/run.json`` names the models and settings; a resume with others is refused, and
    ``--overwrite`` sets the earlier run's table and images aside (``*.previous``) instead of mixing them."""
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
