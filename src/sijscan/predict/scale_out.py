"""Batch prediction across processes, GPUs and nodes: Lightning ``Trainer.predict`` with DDP.

``run_distributed(pipeline, inputs=..., out_dir=..., devices=N, num_nodes=M)`` writes the same
``OUT/predictions.csv`` and ``OUT/images/`` as :func:`sijscan.predict.many_files.run_batch`, plus::

    ranks/predictions.rank<R>.csv   the rows rank R predicted in this run (disjoint across ranks)

How it runs:

* every process collects the same inputs (:func:`~sijscan.predict.many_files.collect_inputs`); global
  rank 0 first folds rows left in ``ranks/`` by an interrupted run into ``predictions.csv`` (they
  only fill in missing or failed rows; rank files older than ``predictions.csv`` were merged
  already), then, after a barrier, every rank reads ``predictions.csv`` and takes the same to-do
  list (finished rows are skipped unless ``overwrite``);
* rank R predicts every ``world``-th image of it (no padding, so no duplicates), files decoded in
  ``loader_workers`` DataLoader worker processes (:mod:`sijscan.predict.file_loader`), the networks run
  on batches (:mod:`sijscan.predict.device_batches`);
* a prediction writer (Lightning ``BasePredictionWriter``) writes each image's JSON and overlays
  on ``write_threads`` threads with the same writers as ``run_batch`` and appends its row to the
  rank file (one flushed write per row);
* after ``Trainer.predict`` a barrier; rank 0 merges the rank files into ``predictions.csv``
  (input order, tmp file + ``os.replace``) and returns the :class:`BatchSummary`; other ranks
  return ``None``.

Several nodes need a shared file system for ``OUT``. Failed inputs are rows with an error, as in
``run_batch``; the exit code is the summary's.
"""
from __future__ import annotations

import logging
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from sijscan._logs import follow_our_logging
from sijscan._progress import progress_enabled
from sijscan.errors import InputError
from sijscan.predict.many_files import (BatchSummary, InputItem, NoInputsError, collect_inputs, record_row, todo_items,
                                   write_outputs_safely)
from sijscan.predict.table import CSV_NAME, RowWriter, read_rows

if TYPE_CHECKING:
    from sijscan.predict.pipeline import Pipeline
    from sijscan.predict.prediction import Prediction

log = logging.getLogger(__name__)

RANKS_DIR = "ranks"
_LAUNCHED_ENV = ("LOCAL_RANK", "RANK", "NODE_RANK", "WORLD_SIZE", "SLURM_PROCID")


class ScaleoutConfigError(InputError):
    """Devices, nodes, accelerator or worker counts that cannot be used."""


def rank_csv(out_dir: str | os.PathLike[str], rank: int) -> Path:
    """``OUT/ranks/predictions.rank<R>.csv``."""
    return Path(out_dir) / RANKS_DIR / f"predictions.rank{int(rank)}.csv"


def _rank_files(out: Path) -> list[Path]:
    return sorted((out / RANKS_DIR).glob("predictions.rank*.csv"))


@dataclass
class _Job:
    """What every rank needs; ``todo`` (indices into ``items``) is filled in the data module's setup."""

    items: list[InputItem]
    out: Path
    overwrite: bool
    batch_size: int
    loader_workers: int
    pin_memory: bool
    outputs: bool
    gradcam: bool
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


def _absorb_leftovers(job: _Job) -> None:
    """Global rank 0, before the others read: fold an interrupted run's rank files into the CSV, remove them."""
    leftovers = _rank_files(job.out)
    if job.overwrite:  # this run redoes the images it names; rows of other images stay in predictions.csv
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


def _todo(job: _Job) -> list[int]:
    """Indices of the items to predict (the rule of :func:`sijscan.predict.many_files.todo_items`)."""
    todo = {id(it) for it in todo_items(job.items, read_rows(job.csv_path), overwrite=job.overwrite)}
    return [i for i, it in enumerate(job.items) if id(it) in todo]


def _merge(job: _Job, *, n_todo: int) -> BatchSummary:
    """Rank 0 after the barrier: rank files -> predictions.csv (input order); the run's summary."""
    rows = read_rows(job.csv_path)
    fresh: dict[str, dict[str, str]] = {}
    for f in _rank_files(job.out):
        fresh.update(read_rows(f))
    rows.update(fresh)
    RowWriter(job.csv_path, rows).finalize(order=job.order)
    summary = BatchSummary(total=len(job.items), out_dir=job.out, skipped=len(job.items) - n_todo)
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
    return summary


class _OutputWriter:
    """Per-image files on threads, rows appended to this rank's file in submission order."""

    def __init__(self, job: _Job, *, rank: int, threads: int) -> None:
        path = rank_csv(job.out, rank)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # rank 0 folded any leftover into predictions.csv before the barrier
        self.job = job
        self.rows = RowWriter(path, {}, stamps=job.stamps)
        self.summary = BatchSummary()
        self.images_dir = job.out / "images"
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sijscan-write") if threads > 1 else None
        self.pending: deque[tuple[Any, Future[None] | None]] = deque()
        self.max_pending = max(2 * job.batch_size, 4 * threads)

    def _write(self, pred: Prediction) -> None:
        if self.job.outputs:
            write_outputs_safely(pred, images_dir=self.images_dir, gradcam=self.job.gradcam)

    def add(self, preds: Sequence[Any]) -> None:
        for pred in preds:
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
            record_row(pred, writer=self.rows, summary=self.summary)
            pred.images = None  # free the pixels

    def close(self) -> None:
        self._drain(wait_all=True)
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        self.rows.close()


def _lightning_parts(job: _Job, predictor: Any, *, write_threads: int) -> tuple[Any, Any, Any]:
    """The data module, LightningModule and prediction writer (Lightning imported only here)."""
    import lightning as L
    from lightning.pytorch.callbacks import BasePredictionWriter

    from sijscan.predict.file_loader import RadiographDataset, make_loader

    class ShardData(L.LightningDataModule):
        def setup(self, stage: str) -> None:
            trainer = self.trainer
            if trainer.is_global_zero:
                _absorb_leftovers(job)
            trainer.strategy.barrier("sijscan-todo")
            job.todo = _todo(job)

        def predict_dataloader(self) -> Any:
            trainer = self.trainer
            recipe = predictor.pipeline.segmenter.recipe if predictor.pipeline.segmenter is not None else None
            shard = job.todo[trainer.global_rank::trainer.world_size]
            log.info("rank %d: %d of %d image(s) to predict", trainer.global_rank, len(shard), len(job.todo))
            return make_loader(RadiographDataset(job.items, recipe=recipe), indices=shard,
                               batch_size=job.batch_size, workers=job.loader_workers, pin_memory=job.pin_memory)

        def transfer_batch_to_device(self, batch: Any, device: Any, dataloader_idx: int) -> Any:
            if batch.seg_input is not None:  # the full-size pixels stay on the host
                batch.seg_input = batch.seg_input.to(device, non_blocking=True)
            return batch

    class PredictModule(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.classifier_net = predictor.pipeline.classifier.network
            seg = predictor.pipeline.segmenter
            self.segmenter_net = seg.network if seg is not None else None

        def on_predict_start(self) -> None:
            if predictor.pipeline.segmenter is not None:
                predictor.pipeline.segmenter.device = self.device

        def predict_step(self, batch: Any, batch_idx: int) -> list[Any]:
            return predictor.predict(batch, items=job.items)

    class RankWriter(BasePredictionWriter):
        def __init__(self) -> None:
            super().__init__(write_interval="batch")
            self.writer: _OutputWriter | None = None

        def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
            self.writer = _OutputWriter(job, rank=trainer.global_rank, threads=write_threads)

        def write_on_batch_end(self, trainer: Any, pl_module: Any, prediction: Any, batch_indices: Any,
                               batch: Any, batch_idx: int, dataloader_idx: int) -> None:
            if self.writer is not None:
                self.writer.add(prediction)

    return ShardData(), PredictModule(), RankWriter()


def run_distributed(
    pipeline: Pipeline, *, inputs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
    devices: int = 1, num_nodes: int = 1, accelerator: str = "auto", loader_workers: int = 0,
    batch_size: int = 8, gradcam: bool = False, overwrite: bool = False, report: bool = False,
    progress: bool | None = None, hash_names: bool = False, threads: int | None = None,
    write_threads: int | None = None, outputs: bool = True,
) -> BatchSummary | None:
    """Predict ``inputs`` into ``out_dir`` over ``devices`` x ``num_nodes`` processes (see the module docstring).

    ``pipeline`` is a :class:`~sijscan.predict.pipeline.Pipeline` loaded on the CPU (Lightning moves
    its networks). ``threads``: per-rank threads for the post-segmentation CPU work, default
    ``min(8, cores // devices)``; ``write_threads`` (default the same) write the per-image files;
    ``outputs=False`` writes rows only (no JSON or overlays; for throughput measurements).
    Returns the summary on global rank 0 and ``None`` on the other ranks.
    """
    if devices < 1 or num_nodes < 1:
        raise ScaleoutConfigError(f"--devices and --num-nodes must be >= 1, got {devices} and {num_nodes}")
    if loader_workers < 0 or batch_size < 1:
        raise ScaleoutConfigError("--loader-workers must be >= 0 and --batch-size >= 1")
    from sijscan.devices import resolve_accelerator

    acc = resolve_accelerator(accelerator)
    default_threads = max(1, min(8, (os.cpu_count() or 1) // devices))
    threads = default_threads if threads is None else threads
    write_threads = threads if write_threads is None else write_threads
    if threads < 1 or write_threads < 1:
        raise ScaleoutConfigError("threads and write_threads must be >= 1")
    out = Path(out_dir)
    items = collect_inputs(inputs, hash_names=hash_names, skip_under=out)
    if not items:
        raise NoInputsError("no radiographs found in the inputs given")
    from sijscan.predict.outdir import out_lock, prepare_out_dir

    prepare_out_dir(out)
    if _is_first_process():  # the launcher (or global rank 0 under torchrun/SLURM) holds the folder's lock
        with out_lock(out):
            return _run_job(pipeline, items=items, out=out, acc=acc, devices=devices, num_nodes=num_nodes,
                            loader_workers=loader_workers, batch_size=batch_size, gradcam=gradcam,
                            overwrite=overwrite, report=report, progress=progress, threads=threads,
                            write_threads=write_threads, outputs=outputs)
    return _run_job(pipeline, items=items, out=out, acc=acc, devices=devices, num_nodes=num_nodes,
                    loader_workers=loader_workers, batch_size=batch_size, gradcam=gradcam, overwrite=overwrite,
                    report=report, progress=progress, threads=threads, write_threads=write_threads, outputs=outputs)


def _is_first_process() -> bool:
    """True in a process started by the user (no launcher variables) or in global rank 0, local rank 0."""
    if not any(k in os.environ for k in _LAUNCHED_ENV):
        return True
    try:
        rank = int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))
        local = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        return False
    return rank == 0 and local == 0 and os.environ.get("NODE_RANK", "0") == "0"


def _run_job(pipeline: Pipeline, *, items: list[InputItem], out: Path, acc: str, devices: int, num_nodes: int,
             loader_workers: int, batch_size: int, gradcam: bool, overwrite: bool, report: bool,
             progress: bool | None, threads: int, write_threads: int, outputs: bool) -> BatchSummary | None:
    job = _Job(items=items, out=out, overwrite=overwrite, batch_size=batch_size, loader_workers=loader_workers,
               pin_memory=acc == "gpu", outputs=outputs, gradcam=gradcam)
    if not any(k in os.environ for k in _LAUNCHED_ENV) and not overwrite:
        _absorb_leftovers(job)  # no other process exists yet: safe, and lets a finished run skip the launch
        if not _todo(job):
            log.info("all %d image(s) already in %s (use --overwrite to redo)", len(items), job.csv_path)
            return _finish(job, n_todo=0, report=report)
    from sijscan.predict.device_batches import BatchedPredictor

    predictor = BatchedPredictor(pipeline, gradcam=gradcam, threads=threads)
    data, module, writer = _lightning_parts(job, predictor, write_threads=write_threads)
    trainer = _trainer(acc=acc, devices=devices, num_nodes=num_nodes, gradcam=gradcam, out=out, callbacks=[writer],
                       progress=progress_enabled(progress))
    try:
        trainer.predict(module, datamodule=data, return_predictions=False)
    finally:
        predictor.close()
        if writer.writer is not None:
            writer.writer.close()
    trainer.strategy.barrier("sijscan-merge")
    if not trainer.is_global_zero:
        return None
    return _finish(job, n_todo=len(job.todo), report=report)


def _finish(job: _Job, *, n_todo: int, report: bool) -> BatchSummary:
    summary = _merge(job, n_todo=n_todo)
    log.info("predicted %d, skipped %d, failed %d", summary.done, summary.skipped, summary.failed)
    if report:
        from sijscan.predict.report import write_report

        write_report(job.out, order=job.order)
    return summary


def _trainer(*, acc: str, devices: int, num_nodes: int, gradcam: bool, out: Path, progress: bool,
             callbacks: list[Any]) -> Any:
    import lightning as L

    world = devices * num_nodes
    follow_our_logging()
    return L.Trainer(
        accelerator=acc, devices=devices, num_nodes=num_nodes, strategy="ddp" if world > 1 else "auto",
        precision="32-true", logger=False, enable_progress_bar=progress, enable_model_summary=False,
        inference_mode=not gradcam,  # Grad-CAM needs autograd on the last block
        use_distributed_sampler=False,  # ShardData shards without padding duplicates
        default_root_dir=str(out / RANKS_DIR), callbacks=callbacks,
    )
