"""The ``classifiers`` section of a study configuration (:mod:`sijscan.study.config`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from sijscan.anatomy.crop import CROPS as SIJ_CROPS, JOINT_PAIR_CROPS  # loaded with sijscan.anatomy anyway
from sijscan.study.config_ct import CTRouteSpec, parse_ct_route
from sijscan.study.config_fields import (StudyConfigError, no_unknown, read_bool, read_choice, read_float, read_int,
                                         read_path, read_seeds)

RECIPES = ("quick", "paper", "cpu")
INITS = ("imagenet", "random")
CLASSIFIER_ARCHS = ("resnet50-sij", "tiny-resnet", "local-resnet")
GRADE_POOLS = ("global", "sides")  # sijscan.classify.recipe.GRADE_POOLS (not imported: keep config light; a test keeps them equal)


@dataclass(frozen=True)
class ClassifierConfig:
    recipe: str = "quick"
    arch: str | None = None
    init: str = "imagenet"
    init_weights: str | None = None
    devices: int = 1
    num_nodes: int = 1
    max_images: int | None = None
    epochs: int | None = None
    """when set, every head-only and all-layer phase the recipe runs (epochs > 0) runs this many epochs"""
    crop: str = "box"
    """the anatomy-aware view: "box" (around both joints, the paper's) or "joints" / "joints_span" /
    "joints_wide" (the joint pair side by side, tiles scaled by the joints' height / by the span between them /
    by the joints' height with more bone around them)"""
    appearance: bool = False
    """appearance randomisation (gamma, contrast, blur, noise: :mod:`sijscan.classify.augment`) on top of the recipe's"""
    elastic: bool = False
    """a smooth random deformation of each training view"""
    joint_mix: bool = False
    """crop "joints": half the training rows take their right joint from another row (label: mNY of the two grades)"""
    processing: bool = False
    """vendor-processing variants of every training view (:mod:`sijscan.classify.processing`)"""
    anatomy_adversarial: float = 0.0
    """> 0: the weight of an anatomy-adversarial head (sijscan.classify.domain) in both classifiers' training"""
    grade_pool: str = "global"
    """what both classifiers' per-side grade heads read: "global" (the whole view's pooled features) or "sides"
    (each side's half of the last feature map: :mod:`sijscan.classify.networks`)"""
    seeds: tuple[int, ...] | None = None
    """the anatomy-aware model is trained once per seed (the first is THE model unless ``ensemble``, the
    others are reported beside it: how far the result moves with the seed); None: the study's seed only"""
    ensemble: bool = False
    """with >= 2 seeds: both models are their seeds' ensembles (each view trained once per seed, the logits
    averaged: :mod:`sijscan.classify.ensemble`); the single seeds are reported beside the ensemble"""
    extra_weight: float = 0.5
    """share of each epoch's draws taken from the ct_route renders"""
    ct_route: CTRouteSpec | None = None
    """CT-route renders of real CTs mixed into both classifiers' training (a seventh of them validate)"""


def parse_classifiers(d: Mapping[str, Any], base: Path | None) -> ClassifierConfig:
    k = "classifiers"
    no_unknown(d, ("recipe", "arch", "init", "init_weights", "devices", "num_nodes", "max_images", "epochs",
                    "crop", "appearance", "elastic", "joint_mix", "processing", "anatomy_adversarial", "grade_pool", "seeds",
                    "ensemble",
                    "extra_weight", "ct_route"), k)
    flags = {name: read_bool(d, name, k, False) for name in ("appearance", "elastic", "joint_mix", "processing", "ensemble")}
    crop = read_choice(d, "crop", k, "box", SIJ_CROPS)
    if flags["joint_mix"] and crop == "box":
        *first, last = JOINT_PAIR_CROPS
        raise StudyConfigError(f"{k}.joint_mix: needs a joint-pair crop ({k}.crop: {', '.join(first)} or {last})")
    if "extra_weight" in d and d.get("ct_route") is None:
        raise StudyConfigError(f"{k}.extra_weight: only meaningful with {k}.ct_route")
    seeds = read_seeds(d, k)
    if flags["ensemble"] and len(seeds or ()) < 2:
        raise StudyConfigError(f"{k}.ensemble: needs {k}.seeds with at least two seeds, got {list(seeds or [])}")
    return ClassifierConfig(crop=crop, **flags, seeds=seeds,  # type: ignore[arg-type]
                            extra_weight=read_float(d, "extra_weight", k, 0.5, low=0.01, high=0.99),
                            anatomy_adversarial=read_float(d, "anatomy_adversarial", k, 0.0, low=0.0, high=10.0),
                            ct_route=parse_ct_route(d.get("ct_route"), f"{k}.ct_route", base),
                            recipe=read_choice(d, "recipe", k, "quick", RECIPES),  # type: ignore[arg-type]
                            arch=read_choice(d, "arch", k, None, CLASSIFIER_ARCHS),
                            init=read_choice(d, "init", k, "imagenet", INITS),  # type: ignore[arg-type]
                            grade_pool=read_choice(d, "grade_pool", k, "global", GRADE_POOLS),  # type: ignore[arg-type]
                            init_weights=read_path(d, "init_weights", k, base),
                            devices=read_int(d, "devices", k, 1, minimum=1),  # type: ignore[arg-type]
                            num_nodes=read_int(d, "num_nodes", k, 1, minimum=1),  # type: ignore[arg-type]
                            max_images=read_int(d, "max_images", k, None, minimum=2),
                            epochs=read_int(d, "epochs", k, None, minimum=1))
