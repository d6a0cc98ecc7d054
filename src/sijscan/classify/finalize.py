"""After training: cut-off (max accuracy) and temperature on validation, then the model folder."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from sijscan.classify.calibration import fit_temperature, probability
from sijscan.classify.card import classifier_recipe
from sijscan.classify.data import CachedViews
from sijscan.classify.networks import SIDE_ORDER
from sijscan.classify.preprocess import PreprocessSpec
from sijscan.classify.recipe import Recipe
from sijscan.classify.verdict import judge
from sijscan.modelfolder import default_provenance, save_model
from sijscan.stats.cutoff import select_cutoff
from sijscan.stats.metrics import auc_midrank

log = logging.getLogger(__name__)

LABELS = {0: "no definite radiographic sacroiliitis", 1: "definite radiographic sacroiliitis"}


@torch.no_grad()
def batch_logits(net: torch.nn.Module, images: torch.Tensor, *, batch_size: int = 16) -> np.ndarray:
    """Binary logits of ``(N, 1, H, W)`` images, network in eval mode, on the images' device."""
    net.eval()
    out = [net(images[i:i + batch_size].float()).float().cpu() for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, 2), dtype=np.float32)


def finalize_model(*, net: torch.nn.Module, out: Path, recipe: Recipe | None, spec: PreprocessSpec, view: str,
                   init_args: dict[str, Any], val_views: CachedViews, stage_log: list[dict[str, Any]],
                   provenance_extra: dict[str, Any], crop: str = "box", leaked_patients: Sequence[str] = (),
                   arch: str | None = None, training: dict[str, Any] | None = None) -> Path:
    """Cut-off and temperature of ``net`` on ``val_views``, then its folder. ``arch`` / ``training`` (card
    recipe's training record) default to ``recipe``'s; an ensemble gives both and no recipe."""
    if recipe is None and (arch is None or training is None):
        raise ValueError("finalize_model: give a recipe, or both arch and training")
    logits = batch_logits(net, val_views.stage_tensor(spec.height, spec.width))
    y = val_views.labels
    p = probability(logits)
    choice = select_cutoff(y_true=y, probability=p, method="max_accuracy")
    temperature = fit_temperature(logits=logits, y_true=y)
    val_auc = auc_midrank(y_true=y, scores=p) if 0 < y.sum() < len(y) else float("nan")
    log.info("validation: AUC %.3f, cut-off %.3f (accuracy %.3f), temperature %.3f", val_auc, choice.cutoff,
             choice.value, temperature)
    verdict = judge(y=y, probability=p, cutoff=choice.cutoff, temperature=temperature,
                    val_auc=None if np.isnan(val_auc) else float(val_auc), leaked_patients=leaked_patients)
    for code, text in verdict.flags.items():
        log.info("%s: %s", code, text)

    card_recipe = classifier_recipe(
        view=view, spec=spec, crop=crop, output="softmax over 2 logits; index 1 = definite radiographic sacroiliitis",
        grade_head=getattr(net, "grade_head", None) is not None, grade_side_order=list(SIDE_ORDER),
        cutoff_method="max_accuracy on validation (raw probability)",
        temperature_method="NLL on validation, bounded 1-D search",
        training=training if training is not None else {**recipe.to_json(), "stage_log": stage_log})
    metrics = {"val_auc": None if np.isnan(val_auc) else float(val_auc), "val_accuracy_at_cutoff": choice.value,
               "val_n": int(len(y)), "val_n_positive": int(y.sum())}
    return save_model(out, network=net, kind="classifier", arch=arch or recipe.arch, init_args=init_args, labels=LABELS,
                      recipe=card_recipe, provenance=default_provenance(**provenance_extra, metrics=metrics,
                                                                        verdict=verdict.to_json()),
                      cutoff=choice.cutoff, temperature=temperature)
