"""The runner's batched predictor: segmenter on a batch, per-image CPU work on threads, classifier on a batch.

Order per batch (a :class:`~sijscan.predict.file_loader.LoaderBatch` from the reader; images with
the user's own label map skip step 1):

1. the segmenter's network on the stacked working-size inputs (one forward, any device);
2. per image, on ``threads`` threads (OpenCV, NumPy and SciPy release the GIL in their heavy
   parts): :meth:`Segmenter.finish <sijscan.anatomy.segment.Segmenter.finish>` (labels, SIJ
   location: the second half of the single-image path's ``Segmenter.run``), then
   :meth:`Pipeline.prepare_from_labels <sijscan.predict.pipeline.Pipeline.prepare_from_labels>`
   (QC, crop: the single-image path's own step), then the classifier's preprocessing (CLAHE,
   resize, pad);
3. the classifier's network on the stacked inputs (with Grad-CAM when asked).

Results equal the single-image path's (same functions, same order of operations); only the
timings differ. Failed inputs become ``Prediction`` rows with a one-line ``error``.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from sijscan.errors import InputError, SijscanError, one_line
from sijscan.predict.names import hide_path
from sijscan.predict.pipeline import finish_timings
from sijscan.predict.prediction import Prediction

if TYPE_CHECKING:
    from sijscan.predict.many_files import InputItem
    from sijscan.predict.file_loader import LoadedImage, LoaderBatch
    from sijscan.predict.pipeline import Pipeline

log = logging.getLogger(__name__)


class BatchedPredictor:
    """A loaded :class:`~sijscan.predict.pipeline.Pipeline` applied batch by batch (see the module docstring)."""

    def __init__(self, pipeline: Pipeline, *, gradcam: bool = False, threads: int = 1) -> None:
        if threads < 1:
            raise InputError(f"threads must be >= 1, got {threads}")
        self.pipeline = pipeline
        self.gradcam = gradcam
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _map(self, fn: Any, *iterables: Sequence[Any]) -> list[Any]:
        if self.threads == 1:
            return list(map(fn, *iterables))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="sijscan-post")
        return list(self._pool.map(fn, *iterables))

    # --- the three steps -----------------------------------------------------------------------
    def predict(self, batch: LoaderBatch, *, items: Sequence[InputItem]) -> list[Prediction]:
        """Predictions for ``batch.images`` in order; ``items`` (by ``LoadedImage.index``) scrub paths from errors."""
        pipe = self.pipeline
        n = len(batch.images)
        logits: list[torch.Tensor | None] = [None] * n
        seg_s = 0.0
        if pipe.segmenter is not None and batch.seg_input is not None:
            t0 = time.perf_counter()
            x = batch.seg_input.to(pipe.segmenter.device, non_blocking=True)  # pinned by the DataLoader on a GPU
            out = pipe.segmenter.logits(x).float().cpu()
            seg_s = (time.perf_counter() - t0) / len(batch.seg_rows)
            for k, row in enumerate(batch.seg_rows):
                logits[row] = out[k]
        results = self._map(self._finish_one, batch.images, logits)
        preds: list[Any] = []
        for im, lg, (pred, _) in zip(batch.images, logits, results):
            if pred is None:  # the reader could not read the file
                pred = Prediction(image=im.image, error=im.error, view=pipe.view)
            if pred.error:
                pred.error = hide_path(pred.error, path=items[im.index].path, name=items[im.index].image)
            elif lg is not None:
                pred.timings["segment_s"] = pred.timings.get("segment_s", 0.0) + seg_s
            preds.append(pred)
        todo = [(p, x) for p, (_, x) in zip(preds, results) if x is not None]
        pipe.classify_prepared([p for p, _ in todo], gradcam=self.gradcam, arrays=[x for _, x in todo])
        finish_timings([p for p in preds if not p.error])
        return preds

    def _finish_one(self, im: LoadedImage, logits: torch.Tensor | None) -> tuple[Prediction | None, np.ndarray | None]:
        """Per-image work after the segmenter's network; ``(None, None)`` for an image the reader could not read."""
        if im.error is not None or im.pixels is None:
            return None, None
        pipe = self.pipeline
        try:
            radiograph = im.radiograph()
            if im.mask is not None:  # the user's own label map: the segmenter was skipped
                pred = pipe.prepare_with_mask(radiograph, im.mask.numpy(), name=im.image)
            elif logits is not None and im.seg_input is not None:
                segmentation = pipe.segmenter.finish(logits[None], im.seg_input, radiograph=radiograph)
                pred = pipe.prepare_from_labels(radiograph, labels=None, segmentation=segmentation, name=im.image)
            else:  # no segmenter: the full view, or a one-line error for the SIJ-crop classifier
                pred = pipe.prepare(radiograph, name=im.image)
            pred.timings["read_s"] = im.read_s
            if pred.images is None or pred.images.crop is None:
                return pred, None
            return pred, pipe.model_input(pred)
        except SijscanError as exc:
            return Prediction(image=im.image, error=one_line(exc), view=self.pipeline.view), None
