"""``sijscan.train_classifier``: the one typed call behind ``sijscan train-classifier``.

It checks the arguments, builds the recipe (``recipe`` by name or a :class:`~sijscan.classify.recipe.Recipe`,
``arch`` and the augmentation switches on top) and runs :func:`sijscan.classify.train.train_classifier`;
what it returns, :class:`TrainedClassifier`, names the model folder, the verdict on the model and
the console lines the command prints.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from sijscan.classify.ensemble import train_ensemble
from sijscan.classify.errors import ClassifierInputError
from sijscan.classify.recipe import GRADE_POOLS, Recipe, get_recipe, with_augment
from sijscan.classify.verdict import verdict_lines
from sijscan.modelfolder import CARD_FILE, read_card

PathLike = str | os.PathLike[str]
__all__ = ["TrainedClassifier", "train_classifier"]


@dataclass(frozen=True)
class TrainedClassifier:
    """A trained classifier's model folder (a pipeline folder when it holds its segmenter) and its verdict."""

    folder: Path
    view: str
    verdict: dict[str, Any] = field(default_factory=dict)
    """``model.json`` ``provenance.verdict``: validation size, AUC, MCC, cut-off, temperature, ``flags``."""

    @property
    def segmenter(self) -> Path | None:
        """The folder's copy of the segmenter it was trained with (None: whole radiograph, or mask crops)."""
        sub = self.folder / "segmenter"
        return sub if (sub / CARD_FILE).is_file() else None

    @property
    def is_pipeline(self) -> bool:
        """True when ``predict``/``serve --model folder`` need nothing else."""
        return self.view == "full" or self.segmenter is not None

    @property
    def degenerate(self) -> bool:
        """True when the verdict says the model must not be used (constant predictions, MCC 0, ...)."""
        return bool(self.verdict.get("degenerate"))

    def lines(self) -> list[str]:
        """What ``sijscan train-classifier`` prints: where, the validation figures, warnings, the next step."""
        lines = verdict_lines({"verdict": self.verdict}, where=str(self.folder))
        if self.is_pipeline:
            with_seg = " (classifier + its segmenter)" if self.view == "sij" else ""
            lines.append(f"pipeline folder{with_seg}: sijscan predict IMAGES --model {self.folder} --out DIR; "
                         f"sijscan serve --model {self.folder}")
        else:
            lines.append(f"no segmenter in {self.folder} (trained on mask crops): predict/serve need "
                         "--segmenter DIR, or --masks")
        return lines


def train_classifier(
    manifest: PathLike, *, view: str, out: PathLike, recipe: str | Recipe = "paper", arch: str | None = None,
    segmenter: PathLike | None = None, crop_from_mask: bool = False, crop: str = "box",
    appearance: bool = False, elastic: bool = False, joint_mix: bool = False, processing: bool = False,
    anatomy_adversarial: float = 0.0, grade_pool: str | None = None,
    extra_manifest: PathLike | None = None, extra_weight: float = 0.5,
    init: str = "imagenet", init_weights: PathLike | None = None, seed: int = 0,
    devices: int = 1, num_nodes: int = 1, accelerator: str = "auto", max_images: int | None = None,
    resume: bool = False, overwrite: bool = False, progress: bool | None = None, seeds: Sequence[int] | None = None,
    precision: str = "auto",
) -> TrainedClassifier | None:
    """Train the anatomy-aware (``view="sij"``) or standard (``view="full"``) classifier on ``manifest``.

    The keywords are ``sijscan train-classifier``'s flags (``crop_from_mask`` = ``--crop-from-mask``,
    ``joint_mix`` = ``--joint-mix``, ``processing`` = ``--processing``, ...). ``view="sij"`` needs ``segmenter=DIR`` (copied into ``out``,
    which becomes a pipeline folder) or ``crop_from_mask=True``. Refuses to replace a trained model in
    ``out`` without ``overwrite``. Bad arguments or data raise ``ClassifierInputError`` (one line).
    Returns the model folder and its verdict; None on scale-out ranks other than 0.
    ``seeds`` (two or more, instead of ``seed``): one model per seed in ``out/members/seed<k>`` and their
    ensemble in ``out`` (:mod:`sijscan.classify.ensemble`: logits averaged, its own cut-off and temperature).
    ``precision``: auto, 32 or bf16 (:data:`sijscan.devices.PRECISIONS`). ``grade_pool`` (``--grade-pool``):
    what the per-side grade head reads, "global" or "sides" (:mod:`sijscan.classify.networks`); None: as
    the recipe says.
    """
    if devices < 1 or num_nodes < 1:
        raise ClassifierInputError("devices and num_nodes (--devices, --num-nodes) must be >= 1")
    if max_images is not None and max_images < 2:
        raise ClassifierInputError("max_images (--max-images) must be >= 2")
    if not 0.0 <= float(anatomy_adversarial) <= 10.0:
        raise ClassifierInputError(f"anatomy_adversarial (--anatomy-adversarial) must be within 0-10, got {anatomy_adversarial!r}")
    if grade_pool is not None and grade_pool not in GRADE_POOLS:
        raise ClassifierInputError(f"grade_pool (--grade-pool) must be one of {', '.join(GRADE_POOLS)}, got {grade_pool!r}")
    if isinstance(recipe, str):
        rec = get_recipe(recipe, arch=arch)
    else:
        rec = replace(recipe, arch=arch) if arch is not None else recipe
    rec = with_augment(rec, appearance=appearance, elastic=elastic, tile_mix=joint_mix, processing=processing)
    if anatomy_adversarial:
        rec = replace(rec, domain_weight=float(anatomy_adversarial))
    if grade_pool is not None:
        rec = replace(rec, grade_pool=grade_pool)
    from sijscan.classify.train import train_classifier as train  # lazy: lightning, torchvision

    kw = dict(manifest=manifest, view=view, recipe=rec, extra_manifest=extra_manifest,
              extra_weight=extra_weight, crop=crop, segmenter=segmenter, use_mask_crops=crop_from_mask,
              devices=devices, num_nodes=num_nodes, accelerator=accelerator, init=init, init_weights=init_weights,
              resume=resume, max_images=max_images, progress=progress, overwrite=overwrite, precision=precision)
    if seeds is not None:
        folder = train_ensemble(seeds=seeds, out_dir=out, **kw)
    else:
        folder = train(out_dir=out, seed=seed, **kw)
    if int(os.environ.get("LOCAL_RANK", "0")) != 0 or int(os.environ.get("NODE_RANK", "0")) != 0:
        return None  # rank 0 finalises the folder and reports
    return TrainedClassifier(folder=Path(folder), view=view,
                             verdict=dict(read_card(folder).provenance.get("verdict") or {}))
