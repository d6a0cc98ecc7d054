"""A classifier training's data: the train/val split, the crop source and the cached views.

:func:`sijscan.classify.train.train_classifier` trains on it; :func:`sijscan.classify.ensemble.build_ensemble`
rebuilds the same validation views (from the shared preprocessing cache) to choose an ensemble's
cut-off and temperature on the images its members validated on.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sijscan.anatomy.crop import CROPS
from sijscan.classify.data import (CachedViews, crop_from_segmenter, describe, mask_crops, prepare_views,
                                   read_training_manifest, split_extra, split_train_val)
from sijscan.classify.errors import ClassifierInputError
from sijscan.classify.preprocess import PreprocessSpec
from sijscan.classify.processing import ProcessingSpec
from sijscan.classify.verdict import check_training_labels
from sijscan.io.cohort.splits import patients_on_both_sides

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    train_df: pd.DataFrame
    val_df: pd.DataFrame
    train_views: CachedViews | None
    """None when only validation was asked for (``with_train=False``)."""
    val_views: CachedViews
    n_first: int | None
    """training rows of the first manifest when an extra manifest's rows follow them (the mixing sampler's split)."""
    extra_info: dict[str, Any] | None
    leaked: list[str]


def refuse_trained_output(out: Path, *, resume: bool, overwrite: bool) -> None:
    """One-line refusal to train into a folder that already holds a trained model."""
    if (out / "model.json").is_file() and not (resume or overwrite):
        raise ClassifierInputError(f"{out} already holds a trained model (model.json): give another --out, or "
                                   "--overwrite to replace it (--resume to continue an interrupted run)")


def check_view(view: str, *, segmenter: str | Path | None, use_mask_crops: bool, crop: str) -> None:
    """One-line refusals of a view, crop source and crop that do not go together."""
    if view == "sij" and (segmenter is None) == (not use_mask_crops):
        raise ClassifierInputError("view 'sij' needs exactly one of --segmenter DIR or --crop-from-mask")
    if view == "full" and (segmenter is not None or use_mask_crops):
        raise ClassifierInputError("view 'full' takes neither --segmenter nor --crop-from-mask")
    if crop not in CROPS or (view == "full" and crop != "box"):
        raise ClassifierInputError(f"crop must be one of {', '.join(CROPS)} (view 'sij' only), got {crop!r}")


def training_data(*, manifest: str | Path, view: str, spec: PreprocessSpec, segmenter: str | Path | None,
                  use_mask_crops: bool, crop: str, cache: Path, seed: int, seg_device: str = "cpu",
                  max_images: int | None = None, extra_manifest: str | Path | None = None,
                  extra_weight: float = 0.5, with_train: bool = True,
                  processing: ProcessingSpec | None = None) -> TrainingData:
    """Split ``manifest`` (``seed`` holds out validation patients when it has no 'val' rows), cut and
    preprocess every view once into ``cache``, and add the extra manifest's rows. ``with_train=False``:
    the validation views only (an ensemble's cut-off), the training rows are split but not read.
    ``processing``: the training views (not the validation views) also get re-processed variants."""
    df = read_training_manifest(manifest)
    train_df, val_df = split_train_val(df, seed=seed)
    if max_images is not None:
        train_df, val_df = train_df.head(max_images), val_df.head(max(2, max_images // 4))
    check_training_labels(train_df["label"])
    leaked = patients_on_both_sides(pd.concat([train_df.assign(split="train"), val_df.assign(split="val")]))
    if leaked:
        log.warning("%d patient(s) have radiographs in both train and val: %s", len(leaked), ", ".join(leaked[:5]))
    source = mask_crops(crop) if use_mask_crops else (
        crop_from_segmenter(segmenter, device=seg_device, crop=crop) if segmenter else None)

    def views(rows: pd.DataFrame, train: bool = False) -> CachedViews:
        return prepare_views(rows, view=view, spec=spec, crop_source=source, cache_dir=cache,
                             processing=processing if train else None, seed=seed)

    train_views = views(train_df, train=True) if with_train else None
    val_views = views(val_df)
    n_first, extra_info = None, None
    if extra_manifest is not None:
        if not 0.0 < float(extra_weight) < 1.0:
            raise ClassifierInputError(f"extra_weight must be in (0, 1), got {extra_weight!r}")
        extra_train_df, extra_val_df = split_extra(read_training_manifest(extra_manifest))
        if len(extra_train_df) == 0:
            raise ClassifierInputError(f"{extra_manifest}: no training rows (every row has split 'val')")
        if train_views is not None:
            n_first = len(train_views.labels)
            train_views = train_views.concat(views(extra_train_df, train=True))
        if len(extra_val_df):
            val_views = val_views.concat(views(extra_val_df))
        extra_info = {"manifest": str(extra_manifest), "weight": float(extra_weight),
                      "train": describe(extra_train_df), "val": describe(extra_val_df)}
    return TrainingData(train_df=train_df, val_df=val_df, train_views=train_views, val_views=val_views,
                        n_first=n_first, extra_info=extra_info, leaked=leaked)
