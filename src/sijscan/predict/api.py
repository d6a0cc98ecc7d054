"""``predict_files``: the one typed call behind ``sijscan predict``.

It loads the pipeline the options ask for and hands it to the one runner
(:func:`sijscan.predict.runner.run_prediction`), which runs on one process or several
(``devices x num_nodes``) alike. The CLI only parses arguments into :class:`PredictOptions`, so
the Python API and the command behave alike.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence

from sijscan.predict.options import PredictOptions, PredictUsageError

if TYPE_CHECKING:
    from sijscan.predict.many_files import BatchSummary
    from sijscan.predict.pipeline import Pipeline

PathLike = str | os.PathLike[str]
__all__ = ["PredictOptions", "PredictUsageError", "load_pipeline", "predict_files"]


def load_pipeline(*, model: PathLike | None = None, classifier: PathLike | None = None,
                  segmenter: PathLike | None = None, device: str = "auto", backend: str = "torch",
                  fast: bool = False, own_masks: bool = False) -> "Pipeline":
    """The pipeline named by ``model`` (a pipeline or classifier folder) or ``classifier`` (+ ``segmenter``).

    ``own_masks``: the label maps come with the inputs, so an SIJ-crop classifier needs no segmenter.
    """
    from sijscan.predict.pipeline import Pipeline

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
    from sijscan.predict.runner import run_prediction

    options.check()
    if options.world > 1:  # each rank moves the torch networks to its own device
        device = "cpu"
    elif options.accelerator is not None:
        from sijscan.devices import resolve_accelerator

        device = {"cpu": "cpu", "gpu": "cuda"}[resolve_accelerator(options.accelerator)]
    else:
        device = options.device
    # own_masks=True: an SIJ classifier may come without a segmenter; the runner then checks that
    # every image has its label map (from --masks or a manifest's mask column) and says which lacks one
    pipeline = load_pipeline(model=model, classifier=classifier, segmenter=segmenter, device=device,
                             backend=options.backend, fast=options.fast, own_masks=True)
    return run_prediction(pipeline, inputs=inputs, out_dir=out_dir, options=options)
