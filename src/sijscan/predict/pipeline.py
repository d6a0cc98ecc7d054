"""The end-to-end predictor: read -> QC -> segment -> locate -> crop -> classify (-> Grad-CAM).

``Pipeline.from_dirs(segmenter=DIR, classifier=DIR)`` or ``Pipeline.from_folder(DIR)`` (a folder
with ``pipeline.json`` naming both, or a classifier folder alone) loads the model folders;
``predict(path_or_array)`` returns a :class:`Prediction`; ``predict_many`` batches the classifier.

The decision is taken on the raw probability at the model's cut-off (as the card says) and is
withheld (None) when QC fails; the reasons are in ``qc_reasons``. The SIJ-crop classifier needs a
segmenter; the full-view classifier still runs it for QC when one is given.
"""
from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence, Union

import numpy as np

from sijscan.anatomy.crop import JOINT_PAIR_CROPS, authors_crop, joint_pair_crop, joint_pair_tiles
from sijscan.anatomy.localize import locate_sij
from sijscan.classify.calibration import probability
from sijscan.classify.preprocess import preprocess_view
from sijscan.devices import resolve_device
from sijscan.errors import InputError, SijscanError, one_line
from sijscan.io import Radiograph, radiograph_from_array, read_radiograph
from sijscan.io.labelmap import read_label_map
from sijscan.mny import mny_positive
from sijscan.pipelinefolder import (  # noqa: F401 - PIPELINE_FILE, write_pipeline_folder re-exported (callers import them here)
    PIPELINE_FILE, PipelineConfigError, pipeline_dirs, write_pipeline_folder)
from sijscan.predict.prediction import Prediction, PredictionImages
from sijscan.predict.qc import QCConfig, assess

if TYPE_CHECKING:
    from sijscan.anatomy.segment import Segmentation, Segmenter
    from sijscan.classify.predict import ClassifierModel

log = logging.getLogger(__name__)

Source = Union[str, "os.PathLike[str]", np.ndarray, Any]


class Pipeline:
    """Loaded segmenter (optional for the full view) + classifier, with QC and Grad-CAM."""

    def __init__(self, *, classifier: ClassifierModel, segmenter: Segmenter | None = None, qc_config: QCConfig = QCConfig(),
                 cam_classes: Sequence[str] = ("positive",), allow_no_segmenter: bool = False) -> None:
        """``allow_no_segmenter``: an SIJ-crop classifier without a segmenter, for inputs that bring
        their own label maps (:meth:`prepare_from_labels`, ``predict_many(masks=...)``)."""
        self.classifier = classifier
        self.segmenter = segmenter
        self.qc_config = qc_config
        self.cam_classes = tuple(cam_classes)
        self.view: Literal["sij", "full"] = classifier.recipe.view
        if self.view == "sij" and segmenter is None and not allow_no_segmenter:
            raise PipelineConfigError("the SIJ-crop classifier needs a segmenter model folder "
                                      "(--segmenter DIR, or a --model folder with pipeline.json)")

    # --- loading -------------------------------------------------------------------------------
    @classmethod
    def from_dirs(cls, *, classifier: str | os.PathLike[str], segmenter: str | os.PathLike[str] | None = None,
                  device: str = "auto", backend: str = "torch", fast: bool = False, **kwargs: Any) -> "Pipeline":
        """``backend="onnx"``: both networks run from their exported ONNX files (``sijscan export-onnx``).
        ``fast``: the segmenter runs one pass instead of sliding windows (:mod:`sijscan.anatomy.inference`)."""
        from sijscan.anatomy.segment import Segmenter  # lazy: torch
        from sijscan.classify.predict import load_classifier  # lazy: torch
        from sijscan.onnx_backend import check_backend  # lazy: torch

        check_backend(backend)

        dev = resolve_device(device)
        clf = load_classifier(classifier, device=dev, backend=backend)
        seg = Segmenter.load(segmenter, device=dev, backend=backend, fast=fast) if segmenter is not None else None
        return cls(classifier=clf, segmenter=seg, **kwargs)

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str], *, segmenter: str | os.PathLike[str] | None = None,
                    device: str = "auto", backend: str = "torch", fast: bool = False, **kwargs: Any) -> "Pipeline":
        """A folder with ``pipeline.json`` (``{"segmenter": rel, "classifier": rel}``) or a classifier folder.

        ``segmenter`` names (or replaces) the segmenter folder, e.g. ``--model CLASSIFIER --segmenter SEG``.
        """
        dirs = pipeline_dirs(folder)
        return cls.from_dirs(classifier=dirs["classifier"], segmenter=segmenter or dirs.get("segmenter"),
                             device=device, backend=backend, fast=fast, **kwargs)

    @property
    def cutoff(self) -> float:
        return float(self.classifier.cutoff)

    @property
    def device(self) -> str:
        return str(next(self.classifier.network.parameters()).device)

    def to(self, device: str) -> "Pipeline":
        """Move the networks to ``device`` (an ONNX session keeps the execution provider it was loaded with)."""
        self.classifier.network.to(device)
        if self.segmenter is not None:
            self.segmenter.to(device)
        return self

    def describe(self) -> dict[str, Any]:
        card = self.classifier.card
        return {"view": self.view, "cutoff": self.cutoff, "temperature": self.classifier.temperature,
                "classifier": card.arch, "segmenter": self.segmenter.card.arch if self.segmenter else None,
                "grade_head": getattr(self.classifier.network, "grade_head", None) is not None}

    # --- prediction ----------------------------------------------------------------------------
    def predict(self, source: Source, *, gradcam: bool = False, name: str | None = None) -> Prediction:
        """Predict one radiograph (path, array or ``Radiograph``); raises ``SijscanError`` on bad input."""
        return self.predict_many([source], gradcam=gradcam, names=[name] if name else None, on_error="raise")[0]

    def predict_many(self, sources: Sequence[Source], *, batch_size: int = 8, gradcam: bool = False,
                     names: Sequence[str] | None = None, on_error: Literal["raise", "record"] = "raise",
                     masks: Sequence[str | os.PathLike[str] | np.ndarray | None] | None = None,
                     threads: int = 1) -> list[Prediction]:
        """Predict several radiographs, the classifier in batches of ``batch_size``.

        ``on_error="record"`` turns a bad input into a ``Prediction`` with ``error`` set (one line)
        instead of raising. ``masks``: per source, the user's own label map (a file or an array in
        sijscan's labels: 1 sacrum, 2/3 hip bones) or None; a source with a mask skips the segmenter.
        ``threads`` > 1: each batch's radiographs are read, segmented and cropped on that many threads
        (decoding, CLAHE and OpenCV release the GIL; the results are the same as on one).
        """
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        if threads < 1:
            raise InputError(f"threads must be >= 1, got {threads}")
        if gradcam and getattr(self.classifier, "backend", "torch") == "onnx":
            from sijscan.onnx_backend import OnnxGradCAMError  # lazy: torch

            raise OnnxGradCAMError("Grad-CAM needs gradients: use the torch backend (ONNX runs inference only)")
        out: list[Prediction] = []
        pool = ThreadPoolExecutor(threads) if threads > 1 and len(sources) > 1 else None
        try:
            for start in range(0, len(sources), batch_size):
                chunk = sources[start:start + batch_size]
                chunk_names = names[start:start + batch_size] if names else [None] * len(chunk)
                chunk_masks = masks[start:start + batch_size] if masks else [None] * len(chunk)
                jobs = [(s, n, on_error, m) for s, n, m in zip(chunk, chunk_names, chunk_masks)]
                prepared = (list(pool.map(lambda job: self._prepare_or_record(*job), jobs)) if pool is not None
                            else [self._prepare_or_record(*job) for job in jobs])
                out.extend(self._classify_chunk(prepared, gradcam=gradcam, on_error=on_error, pool=pool))
        finally:
            if pool is not None:
                pool.shutdown()
        return out

    def _classify_chunk(self, prepared: list[Prediction], *, gradcam: bool, on_error: str,
                        pool: ThreadPoolExecutor | None = None) -> list[Prediction]:
        ready = [p for p in prepared if p.error is None and p.images is not None and p.images.crop is not None]
        arrays = None
        if pool is not None and ready:  # the classifier inputs on the pool too (as the batched path does)
            arrays = list(pool.map(self.model_input, ready))
        self.classify_prepared(ready, gradcam=gradcam, arrays=arrays)
        failed = next((p for p in prepared if p.error), None)
        if failed is not None and on_error == "raise":  # the classifier's output was not finite
            from sijscan.classify.predict import NonFiniteOutputError  # lazy: torch

            raise NonFiniteOutputError(f"{failed.image}: {failed.error}")
        return prepared

    def model_input(self, pred: Prediction) -> np.ndarray:
        """The classifier's input for a prepared prediction's crop (``preprocess_view``), timed into its
        ``preprocess_s``; made beside the classification by the threaded and the batched paths."""
        t0 = time.perf_counter()
        x = preprocess_view(pred.images.crop, self.classifier.spec)  # type: ignore[union-attr]
        pred.timings["preprocess_s"] = time.perf_counter() - t0
        return x

    def _prepare_or_record(self, source: Source, name: str | None, on_error: str,
                           mask: str | os.PathLike[str] | np.ndarray | None = None) -> Prediction:
        try:
            if mask is None:
                return self.prepare(source, name=name)
            return self.prepare_with_mask(source, mask, name=name)
        except SijscanError as exc:
            if on_error == "raise":
                raise

            return Prediction(image=name or _source_name(source), error=one_line(exc), view=self.view)

    def prepare(self, source: Source, *, name: str | None = None) -> Prediction:
        """Read, segment, locate, crop and run the QC (no classification yet)."""
        if self.segmenter is None and self.view == "sij":
            raise PipelineConfigError("the SIJ-crop classifier needs a segmenter, or a label map for this image "
                                      "(--masks DIR or a manifest's mask column)")
        t0 = time.perf_counter()
        radiograph = to_radiograph(source, name=name)
        timings: dict[str, float] = {"read_s": time.perf_counter() - t0}
        segmentation = self.segmenter.run(radiograph) if self.segmenter is not None else None
        return self.prepare_from_labels(radiograph, labels=None, segmentation=segmentation, name=name, timings=timings)

    def prepare_with_mask(self, source: Source, mask: str | os.PathLike[str] | np.ndarray, *,
                          name: str | None = None) -> Prediction:
        """:meth:`prepare` with the user's own label map instead of the segmenter's."""
        t0 = time.perf_counter()
        radiograph = to_radiograph(source, name=name)
        labels = np.asarray(mask) if isinstance(mask, np.ndarray) else read_label_map(mask)
        timings = {"read_s": time.perf_counter() - t0}
        pred = self.prepare_from_labels(radiograph, labels=np.asarray(labels, dtype=np.uint8), name=name,
                                        timings=timings)
        pred.qc_warnings.append("label map given by the user (segmenter not run)")
        return pred

    def prepare_from_labels(self, radiograph: Radiograph, *, labels: np.ndarray | None,
                            segmentation: Segmentation | None = None, name: str | None = None,
                            timings: dict[str, float] | None = None) -> Prediction:
        """Locate, QC and crop one radiograph whose label map (input size) is already known.

        ``segmentation``: the segmenter's result for this radiograph (:meth:`Segmenter.run
        <sijscan.anatomy.segment.Segmenter.run>`: labels, SIJ location and crop grey, its timings
        added to ``timings``); otherwise ``labels`` (e.g. the user's own map) are located here.
        """
        timings = {} if timings is None else timings
        pixels = radiograph.pixels
        pred = Prediction(image=name or radiograph.name, view=self.view, cutoff=self.cutoff,
                          temperature=self.classifier.temperature, image_shape=[int(pixels.shape[0]), int(pixels.shape[1])],
                          source_format=radiograph.source_format, timings=timings,
                          **{k: radiograph.uids.get(k) for k in ("study_uid", "series_uid", "sop_uid")})
        location = None
        if segmentation is not None:
            labels, location = segmentation.labels, segmentation.location
            timings.update(segmentation.timings)
        images = PredictionImages(pixels=pixels, labels=labels, mirror=bool(self.classifier.spec.mirror))
        pred.images = images
        if labels is not None:
            if labels.shape != pixels.shape:
                raise InputError(f"{pred.image}: label map {labels.shape} does not match the image {pixels.shape}")
            if location is None:
                t = time.perf_counter()
                location = self._locate(labels)
                timings["locate_s"] = time.perf_counter() - t
            pred.sij_box = location.box
            pred.sij_boxes = dict(location.boxes)
        t = time.perf_counter()
        orientation = None
        # the segmenter's labels only: a user's own map says where the anatomy is (and no segmenter runs for it)
        if segmentation is not None and self.qc_config.check_orientation:  # a segmentation implies a segmenter
            from sijscan.anatomy.orientation import check_orientation  # lazy: torch

            orientation = check_orientation(self.segmenter, radiograph)  # a 180-degree turn the map hides
        qc = assess(pixels, labels=labels, location=location, needs_box=self.view == "sij", config=self.qc_config,
                    metadata=radiograph.metadata, orientation=orientation)  # the DICOM header flags too
        timings["qc_s"] = time.perf_counter() - t
        pred.qc_passed, pred.qc_flags, pred.qc_reasons, pred.qc_warnings = qc.passed, qc.flags, qc.reasons, qc.warnings
        if self.view == "full":
            images.crop_box = [0, 0, int(pixels.shape[1]), int(pixels.shape[0])]
            images.crop = pixels
        elif pred.sij_box is not None:
            self._crop(images, pred.sij_box, radiograph=radiograph, segmentation=segmentation, location=location)
        if images.crop is not None and min(images.crop.shape) < 2:
            images.crop, images.crop_box = None, None
        return pred

    def _locate(self, labels: np.ndarray) -> Any:
        """The SIJ location on a label map the segmenter did not make (its recipe's method when there is one)."""
        if self.segmenter is not None:
            return self.segmenter.locate(full=labels)

        return locate_sij(labels)

    def _crop(self, images: PredictionImages, box: list[int], *, radiograph: Radiograph,
              segmentation: Segmentation | None, location: Any = None) -> None:
        """The classifier's crop variant: the located box of the display pixels, the joint pair, or the
        authors' Otsu crop."""
        if self.classifier.recipe.crop == "box":
            x0, y0, x1, y1 = box
            images.crop_box, images.crop = list(box), images.pixels[y0:y1, x0:x1]
            return
        if self.classifier.recipe.crop in JOINT_PAIR_CROPS:
            crop = self.classifier.recipe.crop
            images.crop = joint_pair_crop(images.pixels, location, crop=crop)
            images.tiles = joint_pair_tiles(images.pixels.shape, location, crop=crop)
            images.crop_box = list(box)
            return
        from sijscan.anatomy.segment import crop_grey  # lazy: torch

        if segmentation is not None:
            grey = segmentation.crop_grey()
        elif self.segmenter is not None:  # a label map of the user's: the grey this segmenter would read
            grey = self.segmenter.crop_grey(radiograph)
        else:
            grey = crop_grey(radiograph, None)
        images.crop, images.crop_box = authors_crop(grey, box)

    def classify_prepared(self, preds: list[Prediction], *, gradcam: bool,
                          arrays: Sequence[np.ndarray] | None = None) -> None:
        """Classify prepared predictions (with crops) as one batch and fill in their fields.

        ``arrays``: the classifier inputs (``preprocess_view`` of each crop) when the caller has
        already made them (the batched path makes them on worker threads); made here otherwise.
        """
        if not preds:
            return
        import torch

        from sijscan.classify.grades import SIDE_ORDER  # lazy: torch
        from sijscan.classify.predict import NONFINITE_OUTPUT, finite_rows  # lazy: torch

        m = self.classifier
        n = len(preds)
        t0 = time.perf_counter()
        own_inputs = arrays is None
        if arrays is None:
            arrays = [preprocess_view(p.images.crop, m.spec) for p in preds if p.images is not None]
        t1 = time.perf_counter()
        x = torch.from_numpy(np.stack(arrays))[:, None].to(self.device, non_blocking=True)
        if gradcam:
            from sijscan.predict.gradcam import forward_with_cam  # lazy: torch

            res = forward_with_cam(m.network, x, classes=self.cam_classes)
            logits, cum, cams = res.logits, res.grade_logits, res.cams
        else:
            from sijscan.classify.predict import forward_logits  # lazy: torch

            with torch.inference_mode():
                logits, cum = forward_logits(m.network, x)
            cams = {}
        lg = logits.float().cpu().numpy()  # synchronises with the device
        t2 = time.perf_counter()
        p_raw, p_cal = probability(lg), probability(lg, m.temperature)
        grades = None
        if cum is not None:
            from sijscan.classify.grades import grades_from_cumulative  # lazy: torch

            grades = grades_from_cumulative(cum).cpu().numpy()
        finite = finite_rows(lg, None if cum is None else cum.detach().float().cpu().numpy())
        for i, p in enumerate(preds):
            if not finite[i]:  # an error row, never a QC-passed negative (NaN >= cutoff is False)
                p.error, p.decision = NONFINITE_OUTPUT, None
                continue
            p.probability, p.probability_calibrated = float(p_raw[i]), float(p_cal[i])
            p.decision = int(p_raw[i] >= m.cutoff) if p.qc_passed else None
            if grades is not None:
                p.grades = {side: int(grades[i, j]) for j, side in enumerate(SIDE_ORDER)}
                p.mny = mny_positive(p.grades["left"], p.grades["right"])
            p.images.model_input = arrays[i]
            p.images.cams = {c: v[i] for c, v in cams.items()}
            if own_inputs:
                p.timings["preprocess_s"] = (t1 - t0) / n
            p.timings["classify_s"] = (t2 - t1) / n
        finish_timings(preds)


def finish_timings(preds: Sequence[Prediction]) -> None:
    """Round each prediction's stage timings to 0.1 ms and (re)compute ``total_s`` as their sum."""
    for p in preds:
        p.timings = {k: round(v, 4) for k, v in p.timings.items() if k != "total_s"}
        p.timings["total_s"] = round(sum(p.timings.values()), 4)


def to_radiograph(source: Source, *, name: str | None = None) -> Any:
    """A ``Radiograph`` from a path, an array or a ``Radiograph``."""
    if isinstance(source, Radiograph):
        return source
    if isinstance(source, np.ndarray):
        return radiograph_from_array(source, name=name or "array")
    if isinstance(source, (str, os.PathLike)):
        return read_radiograph(source)
    raise InputError(f"cannot predict on a {type(source).__name__}; give a path, an array or a Radiograph")


def _source_name(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return "array"
