"""Inference: a classifier model folder applied to views (SIJ crops or full radiographs)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from sijscan.backends import load_network
from sijscan.classify.calibration import probability
from sijscan.classify.card import ClassifierRecipe, parse_classifier_recipe
from sijscan.classify.errors import ClassifierInputError
from sijscan.classify.grades import SIDE_ORDER, grades_from_cumulative
from sijscan.classify.preprocess import PreprocessSpec, preprocess_view
from sijscan.errors import ModelError
from sijscan.modelfolder import ModelCard
from sijscan.mny import mny_positive


@dataclass
class ClassifierModel:
    network: torch.nn.Module
    card: ModelCard
    spec: PreprocessSpec
    recipe: ClassifierRecipe
    backend: str = "torch"
    """"torch" or "onnx" (``network`` is then a :class:`sijscan.onnx_backend.OnnxNetwork`)."""

    @property
    def cutoff(self) -> float:
        """The card's decision cut-off (required for classifiers: checked when the card loads)."""
        return float(self.card.cutoff)  # type: ignore[arg-type]

    @property
    def temperature(self) -> float:
        return 1.0 if self.card.temperature is None else float(self.card.temperature)


@dataclass
class ViewPrediction:
    probability: float
    """Raw softmax probability of definite radiographic sacroiliitis (the cut-off applies to this)."""
    probability_calibrated: float
    """softmax(logits / temperature)."""
    decision: int
    cutoff: float
    grades: dict[str, int] | None = None
    """Per side (patient's left/right), from the grade head when the model has one."""
    mny_from_grades: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


NONFINITE_OUTPUT = ("the classifier's output is NaN or infinite (broken model weights or a numerical fault): "
                    "no probability and no decision")
"""The error of an image whose logits are not finite (``NaN >= cutoff`` is False: never a silent negative)."""


class NonFiniteOutputError(ModelError):
    """The classifier gave NaN or infinite logits."""


def finite_rows(logits: np.ndarray, grade_logits: np.ndarray | None = None) -> np.ndarray:
    """Per image, True when its binary logits (and grade logits, if any) are all finite."""
    lg = np.asarray(logits, dtype=np.float64)
    ok = np.isfinite(lg.reshape(len(lg), -1)).all(axis=1)
    if grade_logits is not None:
        g = np.asarray(grade_logits, dtype=np.float64)
        ok &= np.isfinite(g.reshape(len(g), -1)).all(axis=1)
    return ok


def forward_logits(network: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The classifier's one forward: ``(binary logits, cumulative grade logits or None)`` of ``x`` (N, 1, H, W).

    Every path that runs a classifier (batch prediction, Grad-CAM, ``classify_views``, the ONNX
    export's wrapper) calls this, torch or ONNX network alike.
    """
    forward_all = getattr(network, "forward_all", None)
    if forward_all is not None and getattr(network, "grade_head", None) is not None:
        logits, grades = forward_all(x)
        return logits, grades
    return network(x), None


def load_classifier(model_dir: str | os.PathLike[str], *, device: str = "cpu", backend: str = "torch") -> ClassifierModel:
    """``backend="onnx"`` runs the folder's exported ONNX file in onnxruntime instead of torch."""
    if backend == "torch":  # the torch rebuild needs the architectures registered; ONNX needs no torchvision
        import sijscan.classify.networks  # noqa: F401  # lazy: torchvision
    net, card = load_network(model_dir, backend=backend, device=device)
    if card.kind != "classifier":
        raise ClassifierInputError(f"{model_dir} is a {card.kind} model folder, not a classifier")
    recipe = parse_classifier_recipe(card.recipe, where=f"{card.path or model_dir}: recipe")
    return ClassifierModel(network=net.to(device), card=card, spec=recipe.preprocess, recipe=recipe, backend=backend)


def classify_views(model: ClassifierModel | str | os.PathLike[str], images: Sequence[np.ndarray], *,
                   batch_size: int = 8, preprocessed_as: PreprocessSpec | None = None) -> list[ViewPrediction]:
    """Preprocess each 2-D view as the model's card says, run the network, return one prediction per view.
    ``preprocessed_as``: the views are already model inputs made with this spec (``preprocess_view``), used as
    they are when it is the model's own (another seed of one recipe), preprocessed again otherwise."""
    m = model if isinstance(model, ClassifierModel) else load_classifier(model)
    if not images:
        return []
    device = next(m.network.parameters()).device
    ready = preprocessed_as is not None and preprocessed_as == m.spec
    x = torch.from_numpy(np.stack([img if ready else preprocess_view(img, m.spec) for img in images]))[:, None].to(device)
    with torch.inference_mode():
        outs = [forward_logits(m.network, x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    logits = torch.cat([o[0].float().cpu() for o in outs]).numpy()
    grades = cum = None
    if outs and outs[0][1] is not None:
        cum = torch.cat([o[1] for o in outs])
        grades = grades_from_cumulative(cum).cpu().numpy()
    bad = np.flatnonzero(~finite_rows(logits, None if cum is None else cum.float().cpu().numpy()))
    if bad.size:
        raise NonFiniteOutputError(f"view(s) {', '.join(map(str, bad[:10].tolist()))}: {NONFINITE_OUTPUT}")
    p_raw, p_cal = probability(logits), probability(logits, m.temperature)
    out = []
    for i in range(len(images)):
        g = {side: int(grades[i, j]) for j, side in enumerate(SIDE_ORDER)} if grades is not None else None
        out.append(ViewPrediction(
            probability=float(p_raw[i]), probability_calibrated=float(p_cal[i]),
            decision=int(p_raw[i] >= m.cutoff), cutoff=m.cutoff, grades=g,
            mny_from_grades=mny_positive(g["left"], g["right"]) if g else None))
    return out


def predict_files(model_dir: str | Path, paths: Sequence[str | Path]) -> list[ViewPrediction]:
    """Convenience for whole radiographs (view 'full' models): read each file and classify it."""
    from sijscan.classify.data import read_image  # lazy: pandas

    return classify_views(model_dir, [read_image(str(p)) for p in paths])
