"""``predict_files``: the one typed call behind ``sijscan predict``; it owns every check and the path choice.

One process (:func:`sijscan.predict.many_files.run_batch`) or, with ``devices x num_nodes > 1`` or
``loader_workers`` given, Lightning scale-out (:func:`sijscan.predict.scale_out.run_distributed`).
The CLI only parses arguments into this call, so the Python API and the command behave alike.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from sijscan.errors import InputError

if TYPE_CHECKING:
    from sijscan.predict.many_files import BatchSummary
    from sijscan.predict.pipeline import Pipeline

PathLike = str | os.PathLike[str]


class PredictUsageError(InputError):
    """A combination of predict options that cannot work together (named in the message)."""


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


def predict_files(
    inputs: Sequence[PathLike], out_dir: PathLike, *, model: PathLike | None = None,
    classifier: PathLike | None = None, segmenter: PathLike | None = None, masks: PathLike | None = None,
    device: str = "auto", backend: str = "torch", fast: bool = False, gradcam: bool = False,
    batch_size: int = 8, workers: int = 1, report: bool = False, overwrite: bool = False,
    progress: bool | None = None, hash_names: bool = False, devices: int = 1, num_nodes: int = 1,
    accelerator: str | None = None, loader_workers: int | None = None, manifest_masks: bool = True,
) -> "BatchSummary | None":
    """Predict every radiograph in ``inputs`` (files, folders, manifest CSVs) into ``out_dir``.

    ``masks``: a folder of your own label maps (sijscan's labels; named like the images, any
    image extension, or ``<stem>_mask.*``); a manifest's ``mask`` column is used as well. Images
    with a mask skip the segmenter (``manifest_masks=False`` ignores the manifest's column). Returns the summary (None on scale-out ranks other than 0).
    Raises ``PredictUsageError`` for options that do not fit together.
    """
    if batch_size < 1 or workers < 1:
        raise PredictUsageError("--batch-size and --workers must be >= 1")
    if gradcam and backend == "onnx":
        raise PredictUsageError("--gradcam needs gradients: use --backend torch (ONNX runs inference only)")
    if masks is not None and not Path(masks).is_dir():
        raise PredictUsageError(f"--masks {masks}: not a folder")
    scale_out = devices != 1 or num_nodes != 1 or loader_workers is not None
    if not scale_out:
        from sijscan.predict.many_files import run_batch

        # own_masks=True: an SIJ classifier may come without a segmenter; run_batch then checks, per image,
        # that each one has its label map (from --masks or a manifest's mask column) and says which lacks one
        pipeline = load_pipeline(model=model, classifier=classifier, segmenter=segmenter, device=device,
                                 backend=backend, fast=fast, own_masks=True)
        return run_batch(pipeline, inputs=inputs, out_dir=out_dir, gradcam=gradcam, batch_size=batch_size,
                         overwrite=overwrite, workers=workers, report=report, progress=progress,
                         hash_names=hash_names, masks=masks, settings={"backend": backend, "fast": fast},
                         manifest_masks=manifest_masks)
    if devices < 1 or num_nodes < 1 or (loader_workers is not None and loader_workers < 0):
        raise PredictUsageError("--devices and --num-nodes must be >= 1, --loader-workers >= 0")
    for flag, on in (("--fast", fast), ("--masks", masks is not None), ("--backend onnx", backend != "torch")):
        if on:
            raise PredictUsageError(f"{flag} is not available on the scale-out path (--devices, --num-nodes, "
                                    "--loader-workers): it runs torch networks on segmenter masks")
    if device not in ("auto", "cpu", "cuda"):
        raise PredictUsageError(f"with --devices/--loader-workers, --device must be auto, cpu or cuda "
                                f"(choose GPUs with CUDA_VISIBLE_DEVICES), got {device!r}")
    from sijscan.predict.scale_out import run_distributed

    accel = accelerator or {"cpu": "cpu", "cuda": "gpu"}.get(device, "auto")
    k = loader_workers if loader_workers is not None else min(4, (os.cpu_count() or 1) // devices)
    pipeline = load_pipeline(model=model, classifier=classifier, segmenter=segmenter, device="cpu")
    return run_distributed(pipeline, inputs=inputs, out_dir=out_dir, devices=devices, num_nodes=num_nodes,
                           accelerator=accel, loader_workers=k, batch_size=batch_size, gradcam=gradcam,
                           overwrite=overwrite, report=report, progress=progress, hash_names=hash_names)
