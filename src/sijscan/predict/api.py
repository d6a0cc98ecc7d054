"""``predict_files``: the one typed call behind ``sijscan predict``; ``predict``: the same run as a table.

``predict`` (``sijscan.predict(...)``) hands its inputs to ``predict_files`` (into a temporary
folder when no ``out`` is given) and returns ``predictions.csv`` as a ``pandas.DataFrame``.
``predict_files`` loads the pipeline the options ask for and hands it to the one runner
(:func:`sijscan.predict.runner.run_prediction`), which runs on one process or several
(``devices x num_nodes``) alike. The CLI only parses arguments into :class:`PredictOptions`, so
the Python API and the command behave alike.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from sijscan.devices import resolve_accelerator
from sijscan.outfolder import check_out_dir
from sijscan.predict.options import PredictOptions, PredictUsageError
from sijscan.predict.pipeline import Pipeline
from sijscan.predict.table import CSV_NAME, read_table

if TYPE_CHECKING:
    import pandas as pd

    from sijscan.predict.many_files import BatchSummary

PathLike = str | os.PathLike[str]
__all__ = ["PredictOptions", "PredictUsageError", "load_pipeline", "predict", "predict_files"]


def load_pipeline(*, model: PathLike | None = None, classifier: PathLike | None = None,
                  segmenter: PathLike | None = None, device: str = "auto", backend: str = "torch",
                  fast: bool = False, own_masks: bool = False) -> "Pipeline":
    """The pipeline named by ``model`` (a pipeline or classifier folder) or ``classifier`` (+ ``segmenter``).

    ``own_masks``: the label maps come with the inputs, so an SIJ-crop classifier needs no segmenter.
    """
    if bool(model) == bool(classifier):
        raise PredictUsageError("give --model DIR (a pipeline folder, or a classifier folder with --segmenter DIR), "
                                "or --classifier DIR (with --segmenter DIR for the SIJ-crop model)")
    if model:
        return Pipeline.from_folder(model, segmenter=segmenter, device=device, backend=backend, fast=fast,
                                    allow_no_segmenter=own_masks)
    return Pipeline.from_dirs(classifier=classifier, segmenter=segmenter, device=device, backend=backend,  # type: ignore[arg-type]
                              fast=fast, allow_no_segmenter=own_masks)


def predict_files(inputs: Sequence[PathLike], out_dir: PathLike, *, model: PathLike | None = None,
                  classifier: PathLike | None = None, segmenter: PathLike | None = None,
                  options: PredictOptions = PredictOptions()) -> "BatchSummary | None":
    """Predict every radiograph in ``inputs`` (files, folders, manifest CSVs) into ``out_dir``.

    ``model`` (a pipeline or classifier folder) or ``classifier`` (+ ``segmenter``) name the models;
    ``options`` says how (:class:`PredictOptions`: device, backend, batches, masks, processes, ...).
    Images with a mask (``options.masks`` or a manifest's ``mask`` column) skip the segmenter.
    Returns the summary (None on ranks other than 0). Raises ``PredictUsageError`` for options that
    do not fit together.
    """
    from sijscan.predict.runner import run_prediction  # lazy: torch

    options.check()
    if options.world > 1:  # each rank moves the torch networks to its own device
        device = "cpu"
    elif options.accelerator is not None:
        device = {"cpu": "cpu", "gpu": "cuda"}[resolve_accelerator(options.accelerator)]
    else:
        device = options.device
    # own_masks=True: an SIJ classifier may come without a segmenter; the runner then checks that
    # every image has its label map (from --masks or a manifest's mask column) and says which lacks one
    pipeline = load_pipeline(model=model, classifier=classifier, segmenter=segmenter, device=device,
                             backend=options.backend, fast=options.fast, own_masks=True)
    return run_prediction(pipeline, inputs=inputs, out_dir=out_dir, options=options)


def predict(inputs: PathLike | Sequence[PathLike], *, model: PathLike | None = None,
            classifier: PathLike | None = None, segmenter: PathLike | None = None, out: PathLike | None = None,
            **options: Any) -> "pd.DataFrame | None":
    """Predict radiographs and return one row per image: ``sijscan.predict(inputs, model=DIR)``.

    ``inputs``: a file, folder (recursive) or manifest CSV, or a list of them. ``model`` (a pipeline
    or classifier folder) or ``classifier`` (+ ``segmenter``) name the models, as in ``sijscan
    predict``. ``options``: fields of :class:`PredictOptions` (``device="cpu"``, ``batch_size=4``,
    ``masks=DIR``, ...). The table has the columns of ``predictions.csv`` (:func:`read_table`), the
    images in input order; a file that cannot be predicted has its one-line reason in ``error``.

    ``out=DIR`` writes what ``sijscan predict --out DIR`` writes (resumable, with ``run.json``,
    per-image JSON and overlays). Without ``out`` the run goes through a temporary folder, removed
    before returning, and per-image files are not written; ``report``, ``gradcam`` and several
    processes then need ``out``. Returns None on scale-out ranks other than 0 (rank 0 has the table).
    """
    opts = PredictOptions.from_fields(options)
    if bool(model) == bool(classifier):
        raise PredictUsageError("give model=DIR (a pipeline folder, or a classifier folder with segmenter=DIR), "
                                "or classifier=DIR (with segmenter=DIR for the SIJ-crop model)")
    paths = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    bad = [type(p).__name__ for p in paths if not isinstance(p, (str, os.PathLike))]
    if bad:
        raise PredictUsageError(f"inputs must be paths (files, folders, manifest CSVs), got {bad[0]}; "
                                "for an array use sijscan.Pipeline.from_folder(DIR).predict(array)")
    if out is not None:
        check_out_dir(out, flag="out")
        summary = predict_files(paths, out, model=model, classifier=classifier, segmenter=segmenter, options=opts)
        return None if summary is None else read_table(Path(out) / CSV_NAME, images=summary.images)
    for name, on in (("report", opts.report), ("gradcam", opts.gradcam)):
        if on:
            raise PredictUsageError(f"{name}=True writes files: give out=DIR")
    if opts.world > 1:
        raise PredictUsageError("devices x num_nodes > 1 starts processes that share one output folder: give out=DIR")
    with tempfile.TemporaryDirectory(prefix="sijscan-predict-") as tmp:
        out_dir = Path(tmp) / "out"
        summary = predict_files(paths, out_dir, model=model, classifier=classifier, segmenter=segmenter,
                                options=replace(opts, outputs=False))
        return None if summary is None else read_table(out_dir / CSV_NAME, images=summary.images)
