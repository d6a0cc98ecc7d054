"""Train a pelvis/sacrum U-Net with Lightning and write the best checkpoint as a model folder.

Data: manifest rows with a ``mask``; validation = ``split == "val"`` (else 15% held out by seed);
``split == "test"`` rows are never used. Each image is preprocessed ONCE with the inference recipe
(:func:`sijscan.anatomy.segment.prepare_input`, so training and inference see identical inputs)
and its mask resized with nearest neighbour; both are cached in memory as tensors.

Augmentation (``augment``): ``basic`` (default, the paper's list, per batch on the training
device), ``strong`` (SyntheX's sim-to-real families, per image, MONAI) or ``none``; see
:mod:`sijscan.anatomy.augment`. ``extra_manifest`` adds a second training set (e.g. CT-route
renders) drawn with total share ``extra_weight`` of each epoch; its ``val`` rows join validation.

Loss: MONAI ``DiceCELoss`` (softmax, one-hot targets). AdamW + one-cycle (per step). Validation
Dice = mean Dice of classes 1-3 over the validation images (argmax, ``sync_dist=True``).
Checkpoints in ``OUT/checkpoints`` (``best.ckpt`` by validation Dice, ``last.ckpt`` every epoch);
``resume=True`` continues from ``last.ckpt`` with the optimiser and schedule state.
"""
from __future__ import annotations

import logging
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from sijscan._logs import follow_our_logging, lightning_fit_warnings
from sijscan._progress import training_progress
from sijscan.anatomy.augment import PairDataset, basic_augment, check_level, mixing_sampler, strong_transform
from sijscan.anatomy.metrics import parse_box, visible_labels
from sijscan.anatomy.networks import ARCH_INIT, LABELS
from sijscan.anatomy.recipes import parse_segmenter_recipe, sijscan_recipe
from sijscan.anatomy.segment import prepare_input
from sijscan.anatomy.train_config import BORDER_MODES, TrainConfig
from sijscan.devices import adamw, training_precision
from sijscan.errors import InputError, ModelError
from sijscan.io import read_radiograph
from sijscan.io.labelmap import read_label_map
from sijscan.modelfolder import build_network, default_provenance, save_model
from sijscan.safeload import safe_torch_load

log = logging.getLogger(__name__)


class _StopAfter(L.Callback):
    """Stop (with ``last.ckpt`` written) once ``n`` epochs are done; the schedule stays that of all epochs."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch + 1 >= self.n:
            trainer.should_stop = True


def _load_pairs(manifest: str | os.PathLike[str], cfg: TrainConfig
                ) -> tuple[list[str], list[str], list[bool], list[Any]]:
    from sijscan.io import read_manifest  # lazy: pandas

    df = read_manifest(manifest, require=("mask",))
    df = df[df["mask"].notna()]
    n_masked, n_test = len(df), int((df["split"].fillna("") == "test").sum()) if "split" in df else 0
    if "split" in df:
        df = df[df["split"].fillna("") != "test"]
    if cfg.max_images is not None:
        df = df.head(int(cfg.max_images))
    if len(df) < 2 and n_test:
        raise InputError(f"{manifest}: no rows with split train/val (or empty) to train on, found {len(df)}: "
                         f"{n_test} of {n_masked} rows with masks are split 'test', which training never uses")
    if len(df) < 2:
        raise InputError(f"{manifest}: need at least 2 rows with masks to train, found {len(df)}")
    is_val = (df["split"].fillna("") == "val").to_numpy() if "split" in df else np.zeros(len(df), bool)
    if not is_val.any():
        rng = np.random.default_rng(cfg.seed)
        n_val = max(1, int(round(cfg.val_frac * len(df))))
        is_val = np.zeros(len(df), bool)
        is_val[rng.permutation(len(df))[:n_val]] = True
    if is_val.all():
        raise InputError(f"{manifest}: every usable row is split == 'val'; nothing left to train on")
    fields = list(df["field_box"]) if cfg.visible_only and "field_box" in df else [None] * len(df)
    return list(df["image"]), list(df["mask"]), list(is_val), [parse_box(f) for f in fields]


def _cache(images: list[str], masks: list[str], recipe: dict[str, Any],
           fields: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Preprocess every image once: (N, 1, S, S) float32 inputs and (N, 1, S, S) int64 masks; ``fields``
    (per image an exposed-field box or None): labels outside it become background first."""
    import cv2

    xs, ys = [], []
    h, w = recipe["working_size"]
    spec = parse_segmenter_recipe(recipe)
    for img_path, mask_path, field in zip(images, masks, fields):
        radiograph = read_radiograph(img_path)
        pixels = radiograph.pixels
        mask = read_label_map(mask_path)  # PNG/TIFF or NIfTI by its affine (masks corrected in 3D Slicer)
        if mask.shape != pixels.shape:
            raise InputError(f"{mask_path}: mask shape {mask.shape} differs from image {pixels.shape}")
        mask = visible_labels(mask, field)
        xs.append(prepare_input(radiograph, spec).tensor)
        ys.append(torch.from_numpy(cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST).astype(np.int64))[None])
    return torch.stack(xs), torch.stack(ys)


augment = basic_augment  # the name earlier code and tests import


def batch_dice(pred: torch.Tensor, target: torch.Tensor, *, classes: tuple[int, ...] = (1, 2, 3)) -> torch.Tensor:
    """Per-image mean Dice over ``classes`` (classes absent from both count as 1), shape (N,)."""
    out = []
    for c in classes:
        p, t = (pred == c).flatten(1).float(), (target == c).flatten(1).float()
        inter, denom = (p * t).sum(1), p.sum(1) + t.sum(1)
        out.append(torch.where(denom > 0, 2 * inter / denom.clamp(min=1), torch.ones_like(denom)))
    return torch.stack(out, 1).mean(1)


class SegmenterModule(L.LightningModule):
    def __init__(self, *, arch: str, init_args: dict[str, Any], lr: float, weight_decay: float,
                 epochs: int = 0, augment: str = "basic", border: str = "keep") -> None:
        super().__init__()
        self.save_hyperparameters()
        self.network = build_network(arch, init_args)
        from monai.losses import DiceCELoss

        self.loss = DiceCELoss(to_onehot_y=True, softmax=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _idx: int) -> torch.Tensor:
        x, y = basic_augment(*batch) if self.hparams.get("augment", "basic") == "basic" else batch
        loss = self.loss(self(x), y)
        self.log("train_loss", loss, prog_bar=True, on_epoch=True, on_step=False, batch_size=x.shape[0])
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("val_loss", self.loss(logits, y), sync_dist=True, batch_size=x.shape[0])
        dice = batch_dice(logits.argmax(1, keepdim=True), y).mean()
        self.log("val_dice", dice, prog_bar=True, sync_dist=True, batch_size=x.shape[0])

    def configure_optimizers(self) -> Any:
        opt = adamw(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        steps = int(self.trainer.estimated_stepping_batches)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.hparams.lr, total_steps=max(1, steps))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def _loaders(manifest: str | os.PathLike[str], cfg: TrainConfig,
             recipe: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """Training and validation loaders (augmentation and mixing per ``cfg``) and the row counts."""
    from torch.utils.data import DataLoader, TensorDataset

    if not cfg.border_in_training:  # the card's border mode applies when the model runs, not to what it learns from
        recipe = dict(recipe, border="keep")
    sets = [(manifest, _load_pairs(manifest, cfg))]
    if cfg.extra_manifest is not None:
        sets.append((cfg.extra_manifest, _load_pairs(cfg.extra_manifest, cfg)))
    xs_t, ys_t, xs_v, ys_v, n_tr = [], [], [], [], []
    for _path, (images, masks, is_val, fields) in sets:
        x, y = _cache(images, masks, recipe, fields)
        val = torch.as_tensor(is_val)
        xs_t.append(x[~val])
        ys_t.append(y[~val])
        xs_v.append(x[val])
        ys_v.append(y[val])
        n_tr.append(int((~val).sum()))
    x_tr, y_tr = torch.cat(xs_t), torch.cat(ys_t)
    x_va, y_va = torch.cat(xs_v), torch.cat(ys_v)
    transform = (strong_transform(cfg.size, seed=cfg.seed, probs={"collimate": float(cfg.collimate)})
                 if cfg.augment == "strong" else None)
    train_ds = PairDataset(x_tr, y_tr, transform=transform)
    if len(sets) == 2:
        sampler = mixing_sampler(n_tr[0], n_tr[1], weight=cfg.extra_weight, seed=cfg.seed)
        train_dl = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler, drop_last=False)
    else:
        train_dl = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, drop_last=False)
    val_dl = DataLoader(TensorDataset(x_va, y_va), batch_size=cfg.batch_size)
    counts: dict[str, Any] = {"n_train": int(x_tr.shape[0]), "n_val": int(x_va.shape[0])}
    if len(sets) == 2:
        counts.update(extra_data=str(Path(cfg.extra_manifest).resolve()), n_train_extra=n_tr[1])  # type: ignore[arg-type]
    log.info("training on %d images (%s), validating on %d (%dx%d), augment=%s", counts["n_train"],
             " + ".join(str(n) for n in n_tr), counts["n_val"], cfg.size, cfg.size, cfg.augment)
    return train_dl, val_dl, counts


def _check_resumable(last: Path, cfg: TrainConfig) -> None:
    """The one-cycle schedule spans all epochs, so a resumed run must keep arch and epochs."""
    if not last.is_file():
        raise InputError(f"--resume: no checkpoint at {last}")
    ckpt, _ = safe_torch_load(last, strict=False)
    hp = dict(ckpt.get("hyper_parameters", {})) if isinstance(ckpt, dict) else {}
    for key, want in (("epochs", cfg.epochs), ("arch", cfg.arch)):
        if key in hp and hp[key] != want:
            raise InputError(f"--resume: {last} was started with {key}={hp[key]!r}; resume with the same value "
                             f"(got {want!r})")


def train_segmenter(
    *, manifest: str | os.PathLike[str], out_dir: str | os.PathLike[str], config: TrainConfig | None = None,
    resume: bool = False, overwrite: bool = False,
) -> Path:
    """Train per ``config``; write the best-validation-Dice model folder to ``out_dir``; return it.

    A trained model already in ``out_dir`` is refused unless ``overwrite`` (or ``resume``). The card's
    ``provenance.verdict`` flags a best validation Dice below :data:`MIN_VAL_DICE` (masks too poor to
    locate the joints)."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    cfg = config or TrainConfig()
    check_level(cfg.augment)
    if cfg.extra_manifest is not None and not 0.0 < cfg.extra_weight < 1.0:
        raise InputError(f"--extra-weight must be in (0, 1), got {cfg.extra_weight}")
    if cfg.arch not in ARCH_INIT:
        raise InputError(f"arch must be one of {', '.join(ARCH_INIT)}, got {cfg.arch!r}")
    if cfg.size % 8 or cfg.size < 16:
        raise InputError(f"--size must be a multiple of 8 and >= 16, got {cfg.size}")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.devices < 1:
        raise InputError("epochs, batch size and devices must be >= 1")
    if not 0.0 <= cfg.collimate <= 1.0:
        raise InputError(f"collimate must be within 0-1, got {cfg.collimate}")
    if cfg.collimate > 0 and (cfg.augment != "strong" or not cfg.visible_only):
        raise InputError("collimate needs augment 'strong' and visible_only (the labels are cut at the edge)")
    if cfg.border not in BORDER_MODES:
        raise InputError(f"border must be one of {', '.join(BORDER_MODES)}, got {cfg.border!r}")
    out = Path(out_dir)
    if (out / "model.json").is_file() and not (resume or overwrite) and "LOCAL_RANK" not in os.environ:
        raise InputError(f"{out} already holds a trained model (model.json): give another --out, or "
                         "--overwrite to replace it (--resume to continue an interrupted run)")
    ckpt_dir = out / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    if overwrite and not resume and ckpt_dir.is_dir() and "LOCAL_RANK" not in os.environ:
        shutil.rmtree(ckpt_dir)  # the replaced run's checkpoints would mix with this one's
    if resume:
        _check_resumable(last, cfg)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    gpu = cfg.accelerator == "gpu" or (cfg.accelerator == "auto" and torch.cuda.is_available())
    precision = training_precision(cfg.precision, gpu=gpu)
    recipe = sijscan_recipe(size=cfg.size, border=cfg.border)
    train_dl, val_dl, counts = _loaders(manifest, cfg, recipe)
    init_args = dict(ARCH_INIT[cfg.arch])
    module = SegmenterModule(arch=cfg.arch, init_args=init_args, lr=cfg.lr, weight_decay=cfg.weight_decay,
                             epochs=cfg.epochs, augment=cfg.augment, border=cfg.border)
    best_cb = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val_dice", mode="max", save_last=True)
    follow_our_logging()
    trainer = L.Trainer(
        max_epochs=cfg.epochs, accelerator=cfg.accelerator, devices=cfg.devices,
        strategy="ddp" if cfg.devices > 1 else "auto", precision=precision,
        callbacks=[best_cb, training_progress(monitor="val_dice", desc="segmenter", enabled=cfg.progress)]
        + ([_StopAfter(cfg.stop_after_epochs)] if cfg.stop_after_epochs else []),
        enable_progress_bar=False, logger=False, enable_model_summary=False,
        default_root_dir=str(out), log_every_n_steps=1, num_sanity_val_steps=0,
    )
    with lightning_fit_warnings():
        trainer.fit(module, train_dl, val_dl, ckpt_path=str(last) if resume else None)
    if not trainer.is_global_zero:
        return out
    best_path = best_cb.best_model_path or str(last)
    score = best_cb.best_model_score
    return export_checkpoint(
        best_path, out_dir=out, size=cfg.size, border=cfg.border,
        provenance=dict(data=str(Path(manifest).resolve()), **counts,
                        seed=cfg.seed, epochs=int(trainer.current_epoch), precision=precision,
                        val_dice=None if score is None else round(float(score), 4), train_config=asdict(cfg),
                        verdict=segmenter_verdict(None if score is None else float(score), n_val=counts["n_val"])),
    )


MIN_VAL_DICE = 0.5


def segmenter_verdict(val_dice: float | None, *, n_val: int) -> dict[str, Any]:
    """Flags (code -> one line) on a trained segmenter; ``degenerate`` when its masks cannot be used."""
    flags: dict[str, str] = {}
    if val_dice is None or not np.isfinite(val_dice):
        flags["val_dice_undefined"] = "no validation Dice was recorded"
    elif val_dice < MIN_VAL_DICE:
        flags["val_dice_low"] = (f"best validation Dice {val_dice:.3f} < {MIN_VAL_DICE}: the masks are too poor to "
                                 "locate the sacroiliac joints (check the learning rate, epochs and masks)")
    if n_val < 5:
        flags["tiny_validation"] = f"validation has {n_val} image(s): the best-Dice checkpoint is chance-driven"
    for code, text in flags.items():
        log.info("%s: %s", code, text)
    return {"val_dice": val_dice, "val_n": n_val, "flags": flags,
            "degenerate": any(c in flags for c in ("val_dice_undefined", "val_dice_low"))}


def export_checkpoint(ckpt_path: str | os.PathLike[str], *, out_dir: str | os.PathLike[str], size: int,
                      provenance: dict[str, Any] | None = None, border: str | None = None) -> Path:
    """Write a :class:`SegmenterModule` checkpoint (e.g. ``best.ckpt`` of an interrupted run) as a model folder.

    ``size`` is the working size the run trained at (the recipe is sijscan's single pass at that size);
    ``border`` the recipe's border mode (None: the one the checkpoint's run trained with, "keep" before it existed).
    """
    ckpt, _ = safe_torch_load(ckpt_path, strict=False)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ModelError(f"{ckpt_path}: not a Lightning checkpoint (no state_dict)")
    hp = dict(ckpt.get("hyper_parameters", {}))
    arch, init_args = hp.get("arch"), hp.get("init_args")
    if arch not in ARCH_INIT or not isinstance(init_args, dict):
        raise ModelError(f"{ckpt_path}: checkpoint lacks a known arch/init_args in its hyper-parameters")
    state = {k.removeprefix("network."): v for k, v in ckpt["state_dict"].items() if k.startswith("network.")}
    network = build_network(arch, init_args)
    try:
        network.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"{ckpt_path}: checkpoint does not fit {arch}") from exc
    prov = default_provenance(checkpoint=str(Path(ckpt_path).resolve()), checkpoint_epoch=ckpt.get("epoch"),
                              **(provenance or {}))
    return save_model(out_dir, network=network, kind="segmenter", arch=arch, init_args=dict(init_args),
                      labels=LABELS, recipe=sijscan_recipe(size=size, border=border or hp.get("border", "keep")),
                      provenance=prov)
