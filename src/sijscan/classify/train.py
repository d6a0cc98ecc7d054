"""``train_classifier``: progressive resizing, head-only then all layers per stage, best checkpoint forward.

Layout of ``out_dir``::

    model.json, weights.safetensors   the finished model folder (sijscan.modelfolder)
    pipeline.json, segmenter/         a pipeline folder: a copy of the segmenter it was trained with
                                      (sijscan.pipelinefolder), so ``predict/serve --model OUT`` work
    training/progress.json            finished phases: best checkpoint, best val MCC, steps, images/s
    training/phase<i>-<stage>-<head|all>/best-*.ckpt, last.ckpt
    training/cache/                   deterministic preprocessing (float16 .npy; ``cache_dir`` moves it)

Each phase is one Lightning ``Trainer.fit``; the phase's BEST validation-MCC checkpoint (a single
``ModelCheckpoint`` with ``save_top_k=1``) is loaded before the next phase. ``resume=True`` skips the
finished phases, loads the best checkpoint of the last one, and continues an unfinished phase from
its ``last.ckpt`` (epoch, global step, optimizer and one-cycle state restored by Lightning).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

import sijscan.classify.networks  # noqa: F401 - registers the architectures build_network makes
from sijscan import jsonio
from sijscan._logs import follow_our_logging, lightning_fit_warnings
from sijscan._progress import progress_enabled, training_progress
from sijscan.anatomy.augment import mixing_sampler
from sijscan.classify.data import CachedViews, describe
from sijscan.classify.errors import ClassifierInputError
from sijscan.classify.finalize import finalize_model
from sijscan.classify.init_weights import initialise
from sijscan.classify.module import ClassifierModule
from sijscan.classify.preprocess import PreprocessSpec
from sijscan.classify.recipe import Recipe, get_recipe
from sijscan.classify.training_data import check_view, refuse_trained_output, training_data
from sijscan.devices import resolve_accelerator, training_precision
from sijscan.files import atomic_write
from sijscan.modelfolder import build_network
from sijscan.pipelinefolder import make_pipeline_folder
from sijscan.safeload import safe_torch_load

log = logging.getLogger(__name__)



def _load_state_from_ckpt(path: str | Path) -> dict[str, torch.Tensor]:
    obj, _ = safe_torch_load(path, strict=False)
    state = obj["state_dict"]
    return {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}


def _assign_domains(views: CachedViews) -> list[str]:
    """Number the anatomies of the training views (for the anatomy-adversarial head); their keys, sorted.
    Fewer than two anatomies: nothing to hide, the head is left out (logged)."""
    keys = sorted(set(views.domain_keys or []))
    if len(keys) < 2:
        log.warning("anatomy-adversarial training asked for, but the training views show %d anatomy: left out",
                    len(keys))
        return []
    index = {k: i for i, k in enumerate(keys)}
    views.domains = np.array([index[k] for k in views.domain_keys or []], dtype=np.int64)
    log.info("anatomy-adversarial training over %d anatomies: %s", len(keys), ", ".join(keys))
    return keys


def _read_progress(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {"completed": []}


def _write_progress(path: Path, progress: dict[str, Any]) -> None:
    atomic_write(path, jsonio.dumps(progress, indent=2))


def _loaders(data: CachedViews, val: CachedViews, *, height: int, width: int, batch_size: int, world: int,
             pin: bool, mixing: tuple[int, float, int] | None = None,
             ) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """Loaders whose GLOBAL batch is the recipe's (split over ``world`` processes), capped by the data.

    ``mixing`` = (rows of the first training set, share of the second, seed): each epoch draws the
    rows after the first set with total probability ``share`` (sampling with replacement)."""
    train_ds, val_ds = data.dataset(height, width), val.dataset(height, width)
    bs = min(batch_size // world, len(train_ds) // world)
    if bs < 2:
        raise ClassifierInputError(f"need at least 2 training images per process (BatchNorm in the head); "
                                   f"have {len(train_ds)} for {world} process(es) at batch {batch_size}")
    if mixing is not None:
        n_first, share, seed = mixing
        sampler = mixing_sampler(n_first, len(train_ds) - n_first, weight=share, seed=seed)
        train_dl = torch.utils.data.DataLoader(train_ds, batch_size=bs, sampler=sampler, drop_last=True,
                                               pin_memory=pin)
    else:
        train_dl = torch.utils.data.DataLoader(train_ds, batch_size=bs, shuffle=True, drop_last=True,
                                               pin_memory=pin)
    val_dl = torch.utils.data.DataLoader(val_ds, batch_size=max(bs, 2) * 2, shuffle=False, pin_memory=pin)
    return train_dl, val_dl


def train_classifier(
    *, manifest: str | Path, view: str, out_dir: str | Path, recipe: str | Recipe = "quick",
    segmenter: str | Path | None = None, use_mask_crops: bool = False, devices: int = 1, num_nodes: int = 1,
    accelerator: str = "auto", init: str = "imagenet", init_weights: str | Path | None = None, seed: int = 0,
    resume: bool = False, max_images: int | None = None, callbacks: Sequence[Any] = (), progress: bool | None = None,
    extra_manifest: str | Path | None = None, extra_weight: float = 0.5, crop: str = "box", overwrite: bool = False,
    cache_dir: str | Path | None = None, split_seed: int | None = None, precision: str = "auto",
) -> Path:
    """Train one classifier (view 'sij' or 'full') with a recipe; return the model folder ``out_dir``.

    ``extra_manifest``: a second training set (e.g. CT-route renders of real anatomy, `sijscan simulate
    --from-ct`) making ``extra_weight`` of every epoch's draws; its 'val' rows join validation (so the
    cut-off and temperature are chosen on both), its other rows train. Crops come from the same source.

    ``progress``: a bar per phase (None: in a terminal only, see :mod:`sijscan._progress`).
    ``crop`` (view 'sij'): "box" (the box around both joints, the paper's), "joints" (the joint pair
    side by side, each in one orientation: :func:`sijscan.anatomy.crop.joint_pair_crop`) or
    "joints_span" (the same, its tiles scaled by the span between the joints) or "joints_wide" (tiles
    1.8 instead of 1.3 times the joints' height: more bone around each joint).
    ``overwrite``: replace a trained model already in ``out_dir`` (else refused).
    ``cache_dir``: where the deterministic preprocessing is cached (default ``out_dir/training/cache``);
    trainings on the same images (e.g. a study's seeds) share one folder and preprocess once. ``split_seed``
    (default ``seed``): the seed that holds out validation patients when the manifest has no 'val' rows (an
    ensemble's members share one split: :mod:`sijscan.classify.ensemble`). A training split
    with one class is refused; the verdict on the model (:mod:`sijscan.classify.verdict`) goes into
    ``model.json`` ``provenance.verdict``. ``precision`` (auto, 32, bf16: :data:`sijscan.devices.PRECISIONS`):
    the training's arithmetic; the precision used is ``provenance.precision``."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    rec = get_recipe(recipe) if isinstance(recipe, str) else recipe
    show_progress = progress_enabled(progress)  # resolved now: ``progress`` is reused for progress.json below
    check_view(view, segmenter=segmenter, use_mask_crops=use_mask_crops, crop=crop)

    acc = resolve_accelerator(accelerator)
    gpu = acc == "gpu"
    prec = training_precision(precision, gpu=gpu)
    out, work = Path(out_dir), Path(out_dir) / "training"
    if "LOCAL_RANK" not in os.environ:
        refuse_trained_output(out, resume=resume, overwrite=overwrite)
    work.mkdir(parents=True, exist_ok=True)
    L.seed_everything(seed, workers=True, verbose=False)

    spec = PreprocessSpec(height=rec.final_size[0], width=rec.final_size[1], mirror=False)
    data = training_data(manifest=manifest, view=view, spec=spec, segmenter=segmenter, use_mask_crops=use_mask_crops,
                         crop=crop, cache=Path(cache_dir) if cache_dir is not None else work / "cache",
                         seed=seed if split_seed is None else split_seed, seg_device="cuda" if gpu else "cpu",
                         max_images=max_images, extra_manifest=extra_manifest, extra_weight=extra_weight,
                         processing=rec.processing)
    train_df, val_df, train_views, val_views = data.train_df, data.val_df, data.train_views, data.val_views
    extra_info, leaked = data.extra_info, data.leaked
    mixing = None if data.n_first is None else (data.n_first, float(extra_weight), seed)
    domains = _assign_domains(train_views) if rec.domain_weight > 0 else []
    init_args = {"grade_head": train_views.grades is not None, "dropout": rec.dropout, "grade_pool": rec.grade_pool}
    net = build_network(rec.arch, init_args)

    progress_path = work / "progress.json"
    if not resume and "LOCAL_RANK" not in os.environ:  # a fresh run: stale phases would confuse --resume
        for stale in [*work.glob("phase*"), progress_path]:
            log.info("fresh run: removing %s", stale)
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink(missing_ok=True)
    progress = _read_progress(progress_path) if resume else {"completed": []}
    done = {int(p["index"]): p for p in progress["completed"]}
    if done:
        init_info = {**progress.get("init", {}), "resumed": True}
    else:
        init_info = initialise(net, init=init, init_weights=init_weights)
        progress["init"] = init_info
    if done:
        net.load_state_dict(_load_state_from_ckpt(done[max(done)]["best_ckpt"]))
        log.info("resuming after phase %d (best val MCC %.4f)", max(done), done[max(done)]["best_val_mcc"])
    world = devices * num_nodes
    for ph in rec.phases():
        i = int(ph["index"])
        if i in done:
            continue
        L.seed_everything(seed + i, workers=True, verbose=False)
        phase_dir = work / f"phase{i}-{ph['stage']}-{ph['phase']}"
        ckpt_cb = ModelCheckpoint(dirpath=phase_dir, filename="best-{epoch}-{val_mcc:.4f}", monitor="val_mcc",
                                  mode="max", save_top_k=1, save_last=True)
        module = ClassifierModule(net, phase=str(ph["phase"]), max_lr=float(ph["max_lr"]),
                                  label_smoothing=rec.label_smoothing, mixup_alpha=rec.mixup_alpha,
                                  weight_decay=rec.weight_decay, lr_block_factor=rec.lr_block_factor,
                                  augment=rec.augment, channels_last=True, domain_weight=rec.domain_weight,
                                  n_domains=len(domains))
        # channels-last memory on every device: measured faster on a GPU and on two CPUs, in float32 (1.1-1.5x)
        # and bfloat16 (benchmarks/bench_precision.py; docs/performance.md)
        net.to(memory_format=torch.channels_last)
        follow_our_logging()
        trainer = L.Trainer(
            max_epochs=int(ph["epochs"]), accelerator=acc, devices=devices, num_nodes=num_nodes,
            strategy="ddp" if world > 1 else "auto", precision=prec,
            callbacks=[ckpt_cb, training_progress(monitor="val_mcc", desc=f"classifier {view} phase {i + 1}/"
                                                  f"{len(rec.phases())}", enabled=show_progress), *callbacks],
            logger=False, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0, log_every_n_steps=1, default_root_dir=str(work),
        )
        train_dl, val_dl = _loaders(train_views, val_views, height=int(ph["height"]), width=int(ph["width"]),
                                    batch_size=int(ph["batch_size"]), world=world, pin=gpu, mixing=mixing)
        last = phase_dir / "last.ckpt"
        ckpt_path = str(last) if resume and last.is_file() else None
        if ckpt_path:
            log.info("phase %d: continuing from %s", i, last)
        with lightning_fit_warnings():
            trainer.fit(module, train_dl, val_dl, ckpt_path=ckpt_path)
        best = ckpt_cb.best_model_path
        if not best:
            raise ClassifierInputError(f"phase {i}: no checkpoint was written (no validation ran?)")
        net.load_state_dict(_load_state_from_ckpt(best))  # the BEST of this phase starts the next one
        entry = {**ph, "best_ckpt": best, "best_val_mcc": float(ckpt_cb.best_model_score or 0.0),
                 "global_step": int(trainer.global_step),
                 "images_per_s": float(np.mean(module.images_per_s)) if module.images_per_s else None}
        done[i] = entry
        if trainer.is_global_zero:
            progress["completed"] = [done[k] for k in sorted(done)]
            _write_progress(progress_path, progress)
            last.unlink(missing_ok=True)
    if int(os.environ.get("LOCAL_RANK", "0")) != 0 or int(os.environ.get("NODE_RANK", "0")) != 0:
        return out
    folder = finalize_model(
        net=net.to(memory_format=torch.contiguous_format).cpu(), out=out, recipe=rec, spec=spec, view=view, crop=crop,
        init_args=init_args, val_views=val_views, stage_log=[done[k] for k in sorted(done)], leaked_patients=leaked,
        provenance_extra={"data": {"manifest": str(manifest), "train": describe(train_df), "val": describe(val_df),
                                   "left_out_no_crop": train_views.n_left_out + val_views.n_left_out,
                                   **({"extra": extra_info} if extra_info else {}),
                                   **({"adversarial_anatomies": domains} if domains else {})},
                          "seed": seed, "split_seed": seed if split_seed is None else split_seed, "crop_source": "mask" if use_mask_crops else (str(segmenter) if segmenter else None),
                          "devices": devices, "num_nodes": num_nodes, "accelerator": acc, "precision": prec, **init_info},
    )

    return make_pipeline_folder(folder, segmenter=segmenter)  # serve/predict/export-onnx --model OUT


def quick_recipe_with(**changes: Any) -> Recipe:
    """The ``quick`` recipe with fields replaced (tests, demos)."""
    return replace(get_recipe("quick"), **changes)
