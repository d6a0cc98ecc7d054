"""Running a pipeline over a study's images with an n/N progress bar (used by the predict stage and the Grad-CAM share)."""
from __future__ import annotations

from typing import Any

from sijscan._progress import progress_bar


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
