"""Seed ensembles: classifiers trained alike from several seeds, saved and run as one model folder.

``train_ensemble`` trains each member (``OUT/members/seed<k>``; one preprocessing cache, one validation
split) and ``build_ensemble`` writes the ensemble folder ``OUT``: arch ``seed-ensemble``
(:class:`sijscan.classify.networks.SeedEnsemble`, the members' logits averaged), the members' recipe,
and its own cut-off (maximum accuracy) and temperature, chosen on the members' validation views. To
every caller (predict, serve, evaluate, export-onnx, Grad-CAM) it is one classifier folder.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

from sijscan.classify.errors import ClassifierInputError
from sijscan.modelfolder import file_digest
from sijscan.pipelinefolder import make_pipeline_folder

log = logging.getLogger(__name__)

MATCHING = ("view", "crop", "preprocess", "input_size_hw", "grade_head", "task")
"""Card recipe keys every member must share: they decide what the ensemble's one input means."""


def _members(folders: Sequence[str | os.PathLike[str]]) -> list[Any]:
    from sijscan.classify.predict import load_classifier  # lazy: torch

    if len(folders) < 2:
        raise ClassifierInputError(f"an ensemble needs at least two member folders, got {len(folders)}")
    models = [load_classifier(f) for f in folders]
    first = models[0].card.recipe
    for f, m in zip(folders, models):
        if m.card.arch == "seed-ensemble":
            raise ClassifierInputError(f"{f} is itself an ensemble: give its members")
        diff = [k for k in MATCHING if m.card.recipe.get(k) != first.get(k)]
        if diff:
            raise ClassifierInputError(f"{f} differs from {folders[0]} in {', '.join(diff)}: members of an ensemble "
                                       "must see the same view, preprocessed alike")
    return models


def build_ensemble(members: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
                   manifest: str | Path, segmenter: str | Path | None = None, use_mask_crops: bool = False,
                   extra_manifest: str | Path | None = None, split_seed: int = 0, max_images: int | None = None,
                   cache_dir: str | Path | None = None) -> Path:
    """The ensemble folder of trained ``members`` (same view and preprocessing), its cut-off and temperature
    chosen on the validation views of ``manifest`` (+ ``extra_manifest``) as the members' training split
    them (``split_seed``); crops from ``segmenter`` or the masks, as the members were trained."""
    from sijscan.classify.finalize import finalize_model  # lazy: pandas, torch, torchvision
    from sijscan.classify.networks import SeedEnsemble  # lazy: torch, torchvision
    from sijscan.classify.training_data import check_view, training_data  # lazy: pandas, torch

    models = _members(members)
    first = models[0]
    view, crop = first.recipe.view, first.recipe.crop
    check_view(view, segmenter=segmenter, use_mask_crops=use_mask_crops, crop=crop)
    out = Path(out_dir)
    data = training_data(manifest=manifest, view=view, spec=first.spec, segmenter=segmenter,
                         use_mask_crops=use_mask_crops, crop=crop,
                         cache=Path(cache_dir) if cache_dir is not None else out / "training" / "cache",
                         seed=split_seed, max_images=max_images, extra_manifest=extra_manifest, with_train=False)
    net = SeedEnsemble([m.network.cpu() for m in models])
    member_info = [{"arch": m.card.arch, "init_args": dict(m.card.init_args)} for m in models]
    provenance = {
        "data": {"manifest": str(manifest), "val_n": int(len(data.val_views.labels)),
                 **({"extra": str(extra_manifest)} if extra_manifest is not None else {})},
        "ensemble_of": [{"folder": str(Path(f).resolve()), "seed": m.card.provenance.get("seed"),
                         "weights_sha256": file_digest(Path(f) / m.card.weights_file),
                         "val_auc": (m.card.provenance.get("metrics") or {}).get("val_auc"), "cutoff": m.cutoff}
                        for f, m in zip(members, models)],
        "split_seed": split_seed, "crop_source": "mask" if use_mask_crops else (str(segmenter) if segmenter else None),
    }
    log.info("ensemble of %d members (seeds %s)", len(models), [e["seed"] for e in provenance["ensemble_of"]])
    folder = finalize_model(
        net=net, out=out, recipe=None, spec=first.spec, view=view, crop=crop,
        init_args={"members": member_info}, val_views=data.val_views, stage_log=[],
        provenance_extra=provenance, leaked_patients=data.leaked, arch="seed-ensemble",
        training={"ensemble": "mean of the members' binary and cumulative grade logits",
                  "members_training": dict(first.recipe.training or {})})
    return make_pipeline_folder(folder, segmenter=segmenter)


def train_ensemble(*, seeds: Sequence[int], out_dir: str | Path, manifest: str | Path, view: str,
                   cache_dir: str | Path | None = None, **train_kwargs: Any) -> Path:
    """Train one member per seed (``out_dir/members/seed<k>``, one cache, the first seed's validation split),
    then :func:`build_ensemble` into ``out_dir``. ``train_kwargs``: those of
    :func:`sijscan.classify.train.train_classifier` (recipe, segmenter or use_mask_crops, crop, ...)."""
    from sijscan.classify.train import train_classifier  # lazy: lightning, pandas, torch, torchvision
    from sijscan.classify.training_data import refuse_trained_output  # lazy: pandas, torch

    seeds = [int(s) for s in seeds]
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ClassifierInputError(f"an ensemble needs at least two different seeds, got {seeds}")
    out = Path(out_dir)
    refuse_trained_output(out, resume=bool(train_kwargs.get("resume")), overwrite=bool(train_kwargs.get("overwrite")))
    cache = Path(cache_dir) if cache_dir is not None else out / "training" / "cache"
    folders = []
    for s in seeds:
        log.info("ensemble member seed %d of %s", s, seeds)
        folders.append(train_classifier(manifest=manifest, view=view, out_dir=out / "members" / f"seed{s}", seed=s,
                                        split_seed=seeds[0], cache_dir=cache, **train_kwargs))
    if int(os.environ.get("LOCAL_RANK", "0")) != 0 or int(os.environ.get("NODE_RANK", "0")) != 0:
        return out  # rank 0 builds the ensemble
    return build_ensemble(folders, out, manifest=manifest, segmenter=train_kwargs.get("segmenter"),
                          use_mask_crops=bool(train_kwargs.get("use_mask_crops", False)),
                          extra_manifest=train_kwargs.get("extra_manifest"), split_seed=seeds[0],
                          max_images=train_kwargs.get("max_images"), cache_dir=cache)
