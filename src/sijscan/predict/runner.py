"""The one prediction runner: inputs -> reader -> batched predictor -> writer, on one process or many.

``run_prediction(pipeline, inputs=..., out_dir=..., options=PredictOptions(...))`` writes::

    OUT/predictions.csv       one row per image (input order; errors in ``error``, one line each)
    OUT/images/<stem>.*       per-image JSON, overlay and Grad-CAM pictures (sijscan.predict.many_files)
    OUT/run.json              the models and settings (a resume with others is refused)
    OUT/report.html           with ``report``
    OUT/ranks/predictions.rank<R>.csv   the rows rank R wrote in this run (several processes or
                              ``loader_workers``); merged into predictions.csv at the end

Every process runs the same steps, top to bottom:

1. collect the inputs (files, folders, manifests; the user's label maps), the same list everywhere;
2. the first process takes the folder's lock and writes run.json; with several processes
   (``devices x num_nodes``) Lightning Fabric starts them (DDP: gloo on CPUs, NCCL on GPUs; torchrun
   and SLURM launches are recognised) and gives each its rank and device;
3. rank 0 folds rows an interrupted run left in ``ranks/`` into predictions.csv; after a barrier
   every rank takes the same to-do list (finished, unchanged images are skipped unless
   ``overwrite``) and its own share of it, ``todo[rank::world]`` (nnU-Net's ``part_id::num_parts``);
4. the loop: the reader (:mod:`~sijscan.predict.file_loader`: threads, or a DataLoader with
   ``loader_workers`` processes) yields batches, the predictor (:mod:`~sijscan.predict.device_batches`)
   runs the segmenter and the classifier on each batch, the writer writes each image's files on
   threads and appends its row (one flushed write per row: a crash loses at most that row);
5. after a barrier rank 0 merges the rank files into predictions.csv, writes the report and returns
   the :class:`~sijscan.predict.many_files.BatchSummary`; other ranks return None.
"""
from __future__ import annotations

import logging
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from sijscan._logs import follow_our_logging
from sijscan._progress import progress_bar
from sijscan.devices import resolve_accelerator
from sijscan.predict.device_batches import BatchedPredictor
from sijscan.predict.file_loader import RadiographDataset, make_loader, thread_batches
from sijscan.predict.many_files import (BatchSummary, InputItem, NoInputsError, collect_inputs, record_row, record_run,
                                        todo_items, write_outputs_safely)
from sijscan.predict.options import PredictOptions
from sijscan.predict.outdir import OutputFolderError, os_reason, out_lock, prepare_out_dir
from sijscan.predict.report import write_report
from sijscan.predict.table import CSV_NAME, RowWriter, read_rows

if TYPE_CHECKING:
    from sijscan.predict.pipeline import Pipeline

log = logging.getLogger(__name__)

RANKS_DIR = "ranks"
LAUNCHED_ENV = ("LOCAL_RANK", "RANK", "NODE_RANK", "WORLD_SIZE", "SLURM_PROCID")


@dataclass
class Job:
    """What every rank needs: the inputs, the output folder, the options; ``todo`` indexes ``items``."""

    items: list[InputItem]
    out: Path
    options: PredictOptions
    todo: list[int] = field(default_factory=list)

    @property
    def csv_path(self) -> Path:
        return self.out / CSV_NAME

    @property
    def order(self) -> list[str]:
        return [it.image for it in self.items]

    @property
    def stamps(self) -> dict[str, str]:
        return {it.image: it.stamp for it in self.items}

    @property
    def sources(self) -> dict[str, str]:
        return {it.image: it.source for it in self.items}


# --- 1-2: inputs, lock, processes ------------------------------------------------------------------
def run_prediction(pipeline: Pipeline, *, inputs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
                   options: PredictOptions = PredictOptions()) -> BatchSummary | None:
    """Predict every radiograph in ``inputs`` into ``out_dir`` (see the module docstring).

    ``pipeline``: loaded on this process's device (one process), or on the CPU when Fabric starts
    several (each rank moves the torch networks to its device; ONNX sessions stay where they were
    loaded). Returns the summary on rank 0 and None on the other ranks.
    """
    options.check()
    out = Path(out_dir)
    items = collect_inputs(inputs, hash_names=options.hash_names, skip_under=out, masks=options.masks,
                           manifest_masks=options.manifest_masks)
    if not items:
        raise NoInputsError("no radiographs found in the inputs given")
    n_own = sum(it.mask is not None for it in items)
    if n_own and is_first_process():
        log.warning("%d of %d image(s) use their own label map (%s); the segmenter is skipped for them%s", n_own,
                    len(items), "--masks" if options.masks is not None else "the manifest's mask column",
                    "" if options.masks is not None else " (--ignore-manifest-masks segments them instead)")
    if pipeline.segmenter is None and pipeline.view == "sij":
        lacking = [it.image for it in items if it.mask is None]
        if lacking:
            raise NoInputsError(f"{len(lacking)} image(s) have no label map (first: {lacking[0]}) and no "
                                "segmenter was given: pass --segmenter DIR, or masks for every image")
    created = not out.exists()  # a failed first run removes the folder it made
    prepare_out_dir(out)
    job = Job(items=items, out=out, options=options)
    if not is_first_process():  # a rank Fabric or a launcher started: rank 0's process holds the lock
        return _run(pipeline, job)
    with out_lock(out, created=created):
        record_run(pipeline, out=out, overwrite=options.overwrite, settings=options.settings(),
                   arguments={"n_inputs": len(items), "gradcam": options.gradcam, "batch_size": options.batch_size,
                              "workers": options.workers, "report": options.report,
                              "hash_names": options.hash_names,
                              "masks": None if options.masks is None else str(options.masks)},
                   own_masks=any(it.mask is not None for it in items))
        return _run(pipeline, job)


def is_first_process() -> bool:
    """True in a process started by the user (no launcher variables) or in global rank 0, local rank 0."""
    if not any(k in os.environ for k in LAUNCHED_ENV):
        return True
    try:
        rank = int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))
        local = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        return False
    return rank == 0 and local == 0 and os.environ.get("NODE_RANK", "0") == "0"


@dataclass
class Ranks:
    """This process's place among the processes: rank, world size, device, and a barrier."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"
    fabric: Any = None

    def barrier(self, name: str) -> None:
        if self.fabric is not None:
            self.fabric.barrier(name)


def start_ranks(pipeline: Pipeline, options: PredictOptions) -> Ranks:
    """One process: the pipeline's own device. Several: Lightning Fabric starts them (DDP)."""
    if options.world == 1 and not any(k in os.environ for k in LAUNCHED_ENV):
        return Ranks(device=pipeline.device)
    from lightning.fabric import Fabric

    accelerator = resolve_accelerator(options.accelerator or {"cpu": "cpu", "cuda": "gpu"}.get(options.device, "auto"))
    follow_our_logging()
    fabric = Fabric(accelerator=accelerator, devices=options.devices, num_nodes=options.num_nodes,
                    strategy="ddp" if options.world > 1 else "auto", precision="32-true")
    fabric.launch()
    return Ranks(rank=fabric.global_rank, world=fabric.world_size, device=str(fabric.device), fabric=fabric)


# --- 3-5: to-do list, loop, merge ------------------------------------------------------------------
def _run(pipeline: Pipeline, job: Job) -> BatchSummary | None:
    if not any(k in os.environ for k in LAUNCHED_ENV) and not job.options.overwrite:
        absorb_leftovers(job)  # no other process exists yet: lets a finished run skip starting any
        if not todo_indices(job):
            log.info("all %d image(s) already in %s (use --overwrite to redo)", len(job.items), job.csv_path)
            return _finish(job, n_todo=0, fresh={})
    ranks = start_ranks(pipeline, job.options)
    if ranks.rank == 0:
        absorb_leftovers(job)
    ranks.barrier("sijscan-todo")
    job.todo = todo_indices(job)
    shard = job.todo[ranks.rank::ranks.world]
    log.info("rank %d of %d: %d of %d image(s) to predict", ranks.rank, ranks.world, len(shard), len(job.todo))
    pipeline.to(ranks.device)
    fresh = _predict_shard(pipeline, job, shard=shard, ranks=ranks)
    ranks.barrier("sijscan-merge")
    if ranks.rank != 0:
        return None
    if job.options.rank_files:
        fresh = {}
        for f in rank_files(job.out):
            fresh.update(read_rows(f))
    return _finish(job, n_todo=len(job.todo), fresh=fresh)


def _predict_shard(pipeline: Pipeline, job: Job, *, shard: list[int], ranks: Ranks) -> dict[str, dict[str, str]]:
    """Reader -> predictor -> writer over this rank's images; returns the rows it wrote."""
    opts = job.options
    threads = opts.threads or max(1, min(8, (os.cpu_count() or 1) // opts.devices))
    recipe = pipeline.segmenter.recipe if pipeline.segmenter is not None else None
    dataset = RadiographDataset(job.items, recipe=recipe)
    loader_workers = opts.loader_workers
    if loader_workers is None and opts.world > 1:
        loader_workers = min(4, (os.cpu_count() or 1) // opts.devices)
    if loader_workers is None:
        batches: Any = thread_batches(dataset, indices=shard, batch_size=opts.batch_size, workers=opts.workers)
    else:
        batches = make_loader(dataset, indices=shard, batch_size=opts.batch_size, workers=loader_workers,
                              pin_memory=ranks.device.startswith("cuda"))
    predictor = BatchedPredictor(pipeline, gradcam=opts.gradcam, threads=threads)
    writer = OutputWriter(job, rank=ranks.rank, threads=threads)
    bar = progress_bar(total=len(shard), desc="predict", unit="image",
                       enabled=opts.progress if ranks.rank == 0 else False)  # rank 0's share only
    t0 = time.perf_counter()
    try:
        for batch in batches:
            preds = predictor.predict(batch, items=job.items)
            writer.add(preds)
            bar.update(len(preds))
    finally:
        bar.close()
        predictor.close()
        writer.close()
    log.info("rank %d: %d image(s) in %.1f s", ranks.rank, len(shard), time.perf_counter() - t0)
    return writer.fresh


class OutputWriter:
    """Per-image files on ``threads`` threads; rows appended in submission order to predictions.csv
    (one process reading on threads) or to this rank's file (merged at the end)."""

    def __init__(self, job: Job, *, rank: int, threads: int) -> None:
        self.job = job
        if job.options.rank_files:
            path = rank_csv(job.out, rank)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)  # rank 0 folded any leftover into predictions.csv before the barrier
            existing: dict[str, dict[str, str]] = {}
        else:
            path, existing = job.csv_path, read_rows(job.csv_path)  # with overwrite too: other images' rows stay
        try:
            self.rows = RowWriter(path, existing, stamps=job.stamps, sources=job.sources)
        except OSError as exc:
            raise OutputFolderError(f"cannot write {path} ({os_reason(exc)})") from exc
        self.fresh: dict[str, dict[str, str]] = {}
        self.summary = BatchSummary()
        self.images_dir = job.out / "images"
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sijscan-write") if threads > 1 else None
        self.pending: deque[tuple[Any, Future[None] | None]] = deque()
        self.max_pending = max(2 * job.options.batch_size, 4 * threads)

    def _write(self, pred: Any) -> None:
        if self.job.options.outputs:
            write_outputs_safely(pred, images_dir=self.images_dir, gradcam=self.job.options.gradcam)

    def add(self, preds: Sequence[Any]) -> None:
        for pred in preds:
            if self.job.options.hash_names:  # de-identified run: DICOM UIDs link to the patient too (PS3.15)
                pred.study_uid = pred.series_uid = pred.sop_uid = None
            fut = self.pool.submit(self._write, pred) if self.pool is not None else None
            if fut is None:
                self._write(pred)
            self.pending.append((pred, fut))
        self._drain(wait_all=False)

    def _drain(self, *, wait_all: bool) -> None:
        while self.pending:
            pred, fut = self.pending[0]
            if fut is not None and not fut.done() and not wait_all and len(self.pending) <= self.max_pending:
                return
            if fut is not None:
                fut.result()
            self.pending.popleft()
            try:
                record_row(pred, writer=self.rows, summary=self.summary)
            except OSError as exc:  # the CSV cannot be appended to (disk full, removed, read-only)
                raise OutputFolderError(f"cannot write {self.rows.path} ({os_reason(exc)}); rows written so far "
                                        "are kept") from exc
            self.fresh[pred.image] = self.rows.rows[pred.image]
            pred.images = None  # free the pixels

    def close(self) -> None:
        try:
            self._drain(wait_all=True)
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)
            try:
                self.rows.finalize(order=self.job.order) if not self.job.options.rank_files else self.rows.close()
            except OSError as exc:
                log.error("cannot rewrite %s (%s); the rows appended so far are in it", self.rows.path, os_reason(exc))


def rank_csv(out_dir: str | os.PathLike[str], rank: int) -> Path:
    """``OUT/ranks/predictions.rank<R>.csv``."""
    return Path(out_dir) / RANKS_DIR / f"predictions.rank{int(rank)}.csv"


def rank_files(out: Path) -> list[Path]:
    return sorted((out / RANKS_DIR).glob("predictions.rank*.csv"))


def absorb_leftovers(job: Job) -> None:
    """Rank 0, before the others read: fold an interrupted run's rank files into the CSV, remove them."""
    leftovers = rank_files(job.out)
    if job.options.overwrite:  # this run redoes the images it names; rows of other images stay in predictions.csv
        for f in leftovers:
            f.unlink(missing_ok=True)
        return
    rows = read_rows(job.csv_path)
    merged_at = job.csv_path.stat().st_mtime_ns if job.csv_path.is_file() else -1
    added = 0
    for f in leftovers:
        if f.stat().st_mtime_ns > merged_at:  # written after the last merge: an interrupted run
            for image, row in read_rows(f).items():
                if image not in rows or rows[image].get("error"):
                    rows[image] = row
                    added += 1
        f.unlink(missing_ok=True)
    if added:
        log.info("recovered %d row(s) from an interrupted run's rank files", added)
        RowWriter(job.csv_path, rows).finalize(order=job.order)


def todo_indices(job: Job) -> list[int]:
    """Indices of the items to predict (the rule of :func:`sijscan.predict.many_files.todo_items`)."""
    todo = {id(it) for it in todo_items(job.items, read_rows(job.csv_path), overwrite=job.options.overwrite)}
    return [i for i, it in enumerate(job.items) if id(it) in todo]


def _finish(job: Job, *, n_todo: int, fresh: dict[str, dict[str, str]]) -> BatchSummary:
    """Rank 0 at the end: ``fresh`` (this run's rows) merged into predictions.csv; the summary; the report."""
    rows = {**read_rows(job.csv_path), **fresh}
    RowWriter(job.csv_path, rows).finalize(order=job.order)
    summary = BatchSummary(total=len(job.items), out_dir=job.out, skipped=len(job.items) - n_todo, images=job.order)
    for image in job.order:
        row = fresh.get(image)
        if row is None:
            continue
        if row.get("error"):
            summary.failures.append((image, row["error"]))
        else:
            summary.done += 1
            summary.withheld += int(row.get("qc_passed") != "true")
    summary.failed = sum(1 for image in job.order if rows.get(image, {}).get("error"))
    log.info("predicted %d, skipped %d, failed %d", summary.done, summary.skipped, summary.failed)
    if job.options.report:
        write_report(job.out, order=job.order)
    return summary
