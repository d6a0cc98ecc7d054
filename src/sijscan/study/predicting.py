"""Running a pipeline over a study's images with an n/N progress bar (used by the predict stage and the Grad-CAM
share), and the stage's pipelines, each loaded once."""
from __future__ import annotations

from typing import Any

from sijscan._progress import progress_bar
from sijscan.devices import study_device
from sijscan.predict.pipeline import Pipeline
from sijscan.study.context import StageContext
from sijscan.study.names import MODELS


class StagePipelines:
    """Each model's pipeline (``MODELS``: standard, anatomy) of one study stage, loaded on first use and then
    reused by the stage's predictions, Grad-CAM examples and Grad-CAM shares. A load rebuilds every network of
    the folder (an ensemble: each seed's) and checks each weight; the demo's predict stage made 48 model-folder
    loads for its 5 evaluation sets before, 6 now (121 -> 111 s on the 2-core Intel Xeon, outputs identical)."""

    def __init__(self, ctx: StageContext) -> None:
        self._ctx = ctx
        self._loaded: dict[str, Pipeline] = {}

    def __call__(self, model: str) -> Pipeline:
        if model not in self._loaded:
            ctx = self._ctx
            self._loaded[model] = Pipeline.from_dirs(
                classifier=ctx.classifiers.model(model).model, segmenter=ctx.segmenter.model if MODELS[model] == "sij" else None,
                device=study_device(ctx.config.study.device, for_="torch"))
        return self._loaded[model]


def predict_with_bar(pipe: Any, images: list[str], *, batch_size: int, desc: str, enabled: bool,
                     gradcam: bool = False) -> list[Any]:
    """``pipe.predict_many`` batch by batch (errors recorded per image), with an n/N bar; each batch's
    images read, segmented and preprocessed on as many threads as torch uses."""
    import torch

    threads = max(1, torch.get_num_threads())
    preds: list[Any] = []
    with progress_bar(total=len(images), desc=desc, enabled=enabled, unit="image") as bar:
        for i in range(0, len(images), batch_size):
            chunk = images[i:i + batch_size]
            preds += pipe.predict_many(chunk, batch_size=batch_size, gradcam=gradcam, names=chunk, on_error="record",
                                       threads=threads)
            bar.update(len(chunk))
    return preds
