"""Training data: manifest rows -> views (full radiograph or SIJ crop) -> cached preprocessing.

The deterministic part (read, crop, CLAHE, resize of the longest side to the final width) runs
once per image and is cached in memory, and on disk when a cache folder is given (float16
``.npy`` keyed by the sha1 of image bytes + mask bytes + view + preprocessing spec). Each stage then
only resizes the cached arrays to its own size (bilinear, align_corners=True) and pads; the
resulting stage tensor (float16) is what the DataLoader serves, so epochs redo nothing.
Random augmentation happens later, on the batch, on the training device (augment.py).
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from sijscan.anatomy.crop import cut_view
from sijscan.anatomy.localize import locate_sij
from sijscan.anatomy.segment import Segmenter
from sijscan.classify.errors import ClassifierInputError
from sijscan.errors import SijscanError
from sijscan.classify.preprocess import PreprocessSpec, clahe_qiu, pad_or_crop, resize_longest
from sijscan.classify.processing import ProcessingSpec, reprocess, variant_rng
from sijscan.files import file_digest
from sijscan.io import read_manifest
from sijscan.io.labelmap import read_label_map
from sijscan.io.cohort.splits import held_out_patients, patient_keys
from sijscan.io.radiograph import Radiograph
from sijscan.io.reader import read_radiograph

log = logging.getLogger(__name__)

VIEWS = ("sij", "full")


def read_training_manifest(path: str | Path) -> pd.DataFrame:
    """The manifest with absolute paths, checked by :func:`sijscan.io.read_manifest` (image and label required)."""
    return read_manifest(path, require=("image", "label"))


def split_train_val(df: pd.DataFrame, *, seed: int, val_fraction: float = 0.15) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows with split 'train' (or empty) and 'val'; 'test' rows are left out.

    Without 'val' rows, ``val_fraction`` of the PATIENTS (every radiograph of a patient on the same
    side; each label stratum held out separately; seeded) become the validation split
    (:func:`sijscan.io.cohort.splits.held_out_patients`). A patient without ``patient_id`` counts
    as one radiograph.
    """
    split = df["split"].astype("string").fillna("").str.strip() if "split" in df.columns else pd.Series("", index=df.index)
    train, val = df[split.isin(["train", ""])], df[split == "val"]
    if len(val) == 0 and len(train) > 0:
        held = held_out_patients(train, fraction=val_fraction, seed=seed)
        if not held:  # one patient per label: no patient can be held out without emptying a class
            held = {sorted(set(patient_keys(train)))[0]} if patient_keys(train).nunique() > 1 else set()
        on_val = patient_keys(train).isin(held)
        train, val = train[~on_val], train[on_val]
        log.info("no 'val' rows: %d of %d patients held out for validation (by patient, stratified, seed %d)",
                 len(held), patient_keys(df).nunique(), seed)
    if len(train) == 0 or len(val) == 0:
        raise ClassifierInputError(f"need training and validation images; got {len(train)} train, {len(val)} val "
                                   f"(rows with split 'train' or empty train, 'val' validates, 'test' is left out)")
    return train.reset_index(drop=True), val.reset_index(drop=True)


def split_extra(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An extra training manifest's rows: ``split`` 'val' rows join validation, every other row trains."""
    if "split" not in df.columns:
        return df.reset_index(drop=True), df.iloc[0:0]
    val = df["split"] == "val"
    return df[~val].reset_index(drop=True), df[val].reset_index(drop=True)


def grade_targets(df: pd.DataFrame) -> np.ndarray | None:
    """``(N, 2)`` int64 grades in patient (left, right) order, -1 where unknown; None without grade columns."""
    if not {"grade_left", "grade_right"} <= set(df.columns):
        return None
    g = df[["grade_left", "grade_right"]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if np.all(np.isnan(g)):
        return None
    return np.where(np.isnan(g), -1, g).astype(np.int64)


def read_image(path: str) -> np.ndarray:
    return np.asarray(read_radiograph(path).pixels, dtype=np.float32)


CropSource = Callable[..., np.ndarray]
"""``source(image, row, *, radiograph=None) -> view``: ``image`` the radiograph's float32 pixels, ``row`` its
manifest row; ``radiograph`` the :class:`~sijscan.io.Radiograph` those pixels came from, when the caller has
it (a segmenter source then reads nothing again)."""


def crop_from_mask(image: np.ndarray, row: pd.Series, *, crop: str = "box", radiograph: Radiograph | None = None) -> np.ndarray:
    """SIJ view located on the manifest's true label map (same locate_sij / cut_view as the segmenter path)."""
    mask = row.get("mask")
    if not isinstance(mask, str) or not mask:
        raise ClassifierInputError(f"{row['image']}: --crop-from-mask needs a 'mask' for every image")
    labels = read_label_map(mask)
    return cut_view(image, locate_sij(labels), crop=crop, label_shape=labels.shape)


def mask_crops(crop: str = "box") -> CropSource:
    """A crop source cutting the ``crop`` view (one of :data:`sijscan.anatomy.crop.CROPS`) on each row's true label map."""
    if crop == "box":
        return crop_from_mask

    def source(image: np.ndarray, row: pd.Series, *, radiograph: Radiograph | None = None) -> np.ndarray:
        return crop_from_mask(image, row, crop=crop)

    source.__name__ = f"mask:{crop}"
    return source


def crop_from_segmenter(segmenter_dir: str | Path, *, device: str = "cpu", crop: str = "box") -> CropSource:
    """A crop source that segments each radiograph with the segmenter model folder ``segmenter_dir``."""
    seg = Segmenter.load(segmenter_dir, device=device)

    def source(image: np.ndarray, row: pd.Series, *, radiograph: Radiograph | None = None) -> np.ndarray:
        # the radiograph, as predict hands it over (read here only when the caller did not pass it)
        result = seg.run(radiograph if radiograph is not None else read_radiograph(row["image"]))
        return cut_view(image, result.location, crop=crop)

    # the weights' digest names the source, so a preprocessing cache shared between trainings never hands
    # out crops of another segmenter
    source.__name__ = f"segmenter:{seg.card.sha256[:16]}" + ("" if crop == "box" else f":{crop}")
    return source


def _file_digest(path: str | None) -> str:
    if not path:
        return "-"
    return file_digest(path)


@dataclass
class CachedViews:
    arrays: list[np.ndarray]
    """Per image: CLAHE'd view resized so its longest side is the final width (float16)."""
    labels: np.ndarray
    grades: np.ndarray | None
    n_left_out: int = 0
    """Rows dropped because no SIJ crop could be taken (view 'sij')."""
    domain_keys: list[str] | None = None
    """Per image: the anatomy it shows (:func:`domain_key`)."""
    domains: np.ndarray | None = None
    """Per image: the index of its anatomy among the training set's (-1: none), set by the trainer."""
    variants: list[np.ndarray] | None = None
    """Per image: ``(K, h, w)`` re-processed versions of its view (:mod:`sijscan.classify.processing`), or None."""

    def stage_tensor(self, height: int, width: int) -> torch.Tensor:
        """``(N, 1 + K, height, width)`` float16: each cached array (and its K variants) resized (longest
        side = width) and padded; K = 0 without variants."""
        k = int(self.variants[0].shape[0]) if self.variants else 0
        out = torch.empty((len(self.arrays), 1 + k, height, width), dtype=torch.float16)
        for i, a in enumerate(self.arrays):
            for j, view in enumerate([a, *(self.variants[i] if k else [])]):
                img = view.astype(np.float32)
                if max(img.shape) != width:
                    img = resize_longest(img, width)
                out[i, j] = torch.from_numpy(pad_or_crop(img, height, width))
        return out

    def concat(self, other: "CachedViews") -> "CachedViews":
        """These views followed by ``other``'s (grades -1 where one side has none)."""
        def grades_of(v: CachedViews) -> np.ndarray:
            return v.grades if v.grades is not None else np.full((len(v.labels), 2), -1, dtype=np.int64)

        grades = None if self.grades is None and other.grades is None else np.concatenate([grades_of(self), grades_of(other)])
        keys = None if self.domain_keys is None or other.domain_keys is None else [*self.domain_keys, *other.domain_keys]
        if (self.variants is None) != (other.variants is None):
            raise ClassifierInputError("cannot join views with and without processing variants")
        variants = None if self.variants is None else [*self.variants, *(other.variants or [])]
        return CachedViews(arrays=[*self.arrays, *other.arrays], labels=np.concatenate([self.labels, other.labels]),
                           grades=grades, n_left_out=self.n_left_out + other.n_left_out, domain_keys=keys,
                           variants=variants)

    def dataset(self, height: int, width: int) -> torch.utils.data.Dataset:
        """Items (view, label, grades, anatomy index): grades -1 where unknown, anatomy -1 when unset; with
        processing variants each item is the view as acquired or one of its variants, drawn uniformly."""
        g = self.grades if self.grades is not None else np.full((len(self.labels), 2), -1, dtype=np.int64)
        d = self.domains if self.domains is not None else np.full(len(self.labels), -1, dtype=np.int64)
        tensors = (self.stage_tensor(height, width), torch.from_numpy(self.labels), torch.from_numpy(g),
                   torch.from_numpy(d))
        if self.variants is None:
            return torch.utils.data.TensorDataset(tensors[0], *tensors[1:])
        return VariantViews(*tensors)


class VariantViews(torch.utils.data.Dataset):
    """Views ``(N, 1 + K, H, W)``: item ``i`` is slot 0 (as acquired) or one of the K variants, drawn with
    torch's global generator (seeded by the trainer), as a ``(1, H, W)`` view."""

    def __init__(self, views: torch.Tensor, labels: torch.Tensor, grades: torch.Tensor, domains: torch.Tensor) -> None:
        self.views, self.labels, self.grades, self.domains = views, labels, grades, domains

    def __len__(self) -> int:
        return int(self.views.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        k = int(torch.randint(self.views.shape[1], (1,)))
        return self.views[i, k:k + 1], self.labels[i], self.grades[i], self.domains[i]


def prepare_views(df: pd.DataFrame, *, view: str, spec: PreprocessSpec, crop_source: CropSource | None,
                  cache_dir: Path | None = None, processing: ProcessingSpec | None = None,
                  seed: int = 0) -> CachedViews:
    """Read, crop (view 'sij'), CLAHE and resize every row once; disk-cached when ``cache_dir`` is set.
    ``processing``: also ``processing.variants`` re-processed versions of each view (drawn with ``seed``:
    :mod:`sijscan.classify.processing`), cached beside it."""
    if view not in VIEWS:
        raise ClassifierInputError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    if view == "sij" and crop_source is None:
        raise ClassifierInputError("view 'sij' needs --segmenter DIR or --crop-from-mask")
    df_all = df
    key_base = json.dumps({"view": view, "spec": spec.to_json(), "src": getattr(crop_source, "__name__", "crop")},
                          sort_keys=True)
    proc_tag = None if processing is None else hashlib.sha1(
        f"{sorted(processing.to_json().items())!r}|seed={int(seed)}".encode()).hexdigest()[:16]

    def preprocessed(image: np.ndarray) -> np.ndarray:
        return resize_longest(clahe_qiu(image, spec), spec.width).astype(np.float16)

    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)

    def one(row: pd.Series) -> tuple[np.ndarray, np.ndarray | None] | None:
        """The row's view (and its processing variants); None when no SIJ crop could be taken."""
        cached = cached_variants = None
        if cache_dir is not None:
            mask = row.get("mask") if view == "sij" else None
            key = hashlib.sha1((key_base + _file_digest(row["image"]) + _file_digest(mask if isinstance(mask, str) else None)).encode()).hexdigest()
            cached = cache_dir / f"{key}.npy"
            if proc_tag is not None:
                cached_variants = cache_dir / f"{key}-{proc_tag}.npy"
            if cached.is_file() and (cached_variants is None or cached_variants.is_file()):
                return np.load(cached), (np.load(cached_variants) if cached_variants is not None else None)
        radiograph = read_radiograph(row["image"])  # read once: the crop source segments this same object
        image = np.asarray(radiograph.pixels, dtype=np.float32)
        if view == "sij":
            try:
                image = crop_source(image, row, radiograph=radiograph)  # type: ignore[misc]
            except SijscanError as exc:
                if isinstance(exc, ClassifierInputError):
                    raise
                log.warning("%s: no SIJ crop, image left out (%s)", row["image"], exc)
                return None
        if spec.mirror:
            image = image[:, ::-1]
        arr = preprocessed(image)
        if cached is not None:
            np.save(cached, arr)
        extra = None
        if processing is not None:
            name = Path(str(row["image"])).name
            extra = np.stack([preprocessed(reprocess(image, variant_rng(seed, k, name), processing))
                              for k in range(processing.variants)])
            if cached_variants is not None:
                np.save(cached_variants, extra)
        return arr, extra

    rows = [row for _, row in df.iterrows()]
    # decoding, CLAHE and resizing are PIL / numpy / OpenCV / torch code that releases the GIL: on two cores two
    # threads took the full view 76 -> 37 ms and the SIJ view (the segmenter included) 41 -> 25 ms per 1024 px
    # radiograph, with identical arrays
    threads = max(1, torch.get_num_threads())
    if threads > 1 and len(rows) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(threads, len(rows))) as pool:
            results = list(pool.map(one, rows))
    else:
        results = [one(row) for row in rows]
    kept = [pos for pos, r in enumerate(results) if r is not None]
    arrays = [r[0] for r in results if r is not None]
    variants = [r[1] for r in results if r is not None and r[1] is not None]
    if len(kept) < len(df):
        log.warning("%d of %d images left out: no SIJ crop", len(df) - len(kept), len(df))
    df = df.iloc[kept]
    labels = pd.to_numeric(df["label"], errors="coerce")
    if labels.isna().any() or not set(labels.unique()) <= {0, 1}:
        raise ClassifierInputError("every training/validation image needs label 0 or 1")
    return CachedViews(arrays=arrays, labels=labels.to_numpy(dtype=np.int64), grades=grade_targets(df),
                       n_left_out=len(df_all) - len(df), domain_keys=[domain_key(r) for _, r in df.iterrows()],
                       variants=variants if processing is not None else None)


def domain_key(row: pd.Series) -> str:
    """The anatomy a training row shows: its real CT (``ct_case``, CT-route renders) or its cohort."""
    case = row.get("ct_case")
    if isinstance(case, str) and case.strip():
        return f"ct:{case.strip()}"
    if isinstance(case, (int, float, np.integer, np.floating)) and np.isfinite(case):
        return f"ct:{int(case)}"  # pandas reads "001" as 1
    return f"cohort:{row.get('cohort', '')}"


def describe(df: pd.DataFrame) -> dict[str, Any]:
    return {"n": int(len(df)), "n_positive": int(pd.to_numeric(df["label"], errors="coerce").sum())}
