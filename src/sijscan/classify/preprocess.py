"""The classifier's deterministic preprocessing: the paper's CLAHE variant, resize and pad.

CLAHE "after Qiu et al." (published-pipeline.md): rescale to [0, 1]; 3-wide median; subtract
0.6 x Gaussian(sigma 1) of the median-filtered image; rescale to [0, 1]; scikit-image
``equalize_adapthist`` (kernel 1/8 of each dimension, clip limit 0.01). Here:

* median: ``cv2.medianBlur`` 3x3 (edge replicate == scipy 'reflect' for a 3-wide window);
* Gaussian: ``cv2.GaussianBlur`` sigma 1, 9x9 (scipy's truncate 4), ``BORDER_REFLECT`` (scipy 'reflect');
* CLAHE (``clahe_impl``): ``"exact"`` (default) is sijscan's vectorised re-implementation of
  scikit-image's algorithm (clahe.py; equal to ``equalize_adapthist`` within 1e-7, ~1.6x faster);
  ``"skimage"`` calls ``equalize_adapthist`` itself; ``"opencv"`` uses ``cv2.createCLAHE`` (~7x
  faster than skimage) on skimage's own bin indices as an 8-bit image (OpenCV's 8-bit histogram has
  256 bins like skimage's; its 16-bit path has 65536 and would clip per level), tile grid =
  ceil(dim / (dim // 8)) after reflect-padding to whole tiles, clip limit 0.01 x 256 (OpenCV's limit
  is relative to the mean bin count). OpenCV lets clipped bins exceed the limit when it
  redistributes the excess, skimage does not: the "opencv" result differs by a mean |d| of
  ~0.004-0.02 (smooth images differ most; figures in tests/classify/test_classify_preprocess.py), which is
  why it is not the default. Whatever is used is recorded in the model card.

The authors apply the filters to a (1, H, W) array; with reflect borders the singleton axis only
repeats the same plane, so 3-D and 2-D filters agree exactly (tested).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from sijscan.classify.clahe import to_levels, equalize_adapthist_2d
from sijscan.classify.errors import ClassifierInputError

SKIMAGE_GREY_LEVELS = 2 ** 14
SKIMAGE_NBINS = 256


@dataclass(frozen=True)
class PreprocessSpec:
    """Everything the deterministic preprocessing depends on (stored in the model card)."""

    height: int = 416
    width: int = 628
    mirror: bool = False
    """Flip the view left-right before anything else (the published model saw mirrored crops)."""
    median_size: int = 3
    unsharp_sigma: float = 1.0
    unsharp_amount: float = 0.6
    clahe_clip_limit: float = 0.01
    clahe_kernel_fraction: float = 0.125
    clahe_nbins: int = SKIMAGE_NBINS
    clahe_impl: str = "exact"
    """"exact" (skimage semantics, vectorised), "skimage" (``equalize_adapthist`` itself) or "opencv" (fastest, approximate)."""
    resize: str = "longest-side bilinear align_corners=True, symmetric zero pad/crop"

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> "PreprocessSpec":
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**fields)  # type: ignore[arg-type]


def rescale01(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, dtype=np.float32)
    lo, hi = float(img.min()), float(img.max())
    if not math.isfinite(lo) or not math.isfinite(hi):
        raise ClassifierInputError("image holds NaN or infinite values")
    if hi <= lo:
        return np.zeros_like(img)
    return (img - lo) / (hi - lo)


def _clahe_skimage_like(img01: np.ndarray, *, clip_limit: float, kernel_fraction: float, nbins: int) -> np.ndarray:
    h, w = img01.shape
    kh, kw = max(int(h * kernel_fraction), 1), max(int(w * kernel_fraction), 1)
    bins = (to_levels(img01) // (1 + SKIMAGE_GREY_LEVELS // nbins)).astype(np.uint8)
    ty, tx = math.ceil(h / kh), math.ceil(w / kw)
    pad_h, pad_w = ty * kh - h, tx * kw - w
    if pad_h or pad_w:
        bins = cv2.copyMakeBorder(bins, 0, pad_h, 0, pad_w, cv2.BORDER_REFLECT_101)
    # OpenCV: clip = limit * tile_area / 256; skimage: clip = clip_limit * kernel_area (per bin).
    clahe = cv2.createCLAHE(clipLimit=clip_limit * 256 * (1 + 1e-9), tileGridSize=(tx, ty))
    out = clahe.apply(bins)[:h, :w]
    return rescale01(out)


def clahe_qiu(image: np.ndarray, spec: PreprocessSpec | None = None) -> np.ndarray:
    """The paper's CLAHE variant on a 2-D image; float32 in [0, 1], same shape."""
    spec = spec or PreprocessSpec()
    img = np.asarray(image)
    if img.ndim != 2 or min(img.shape) < 2:
        raise ClassifierInputError(f"expected a 2-D grey image of at least 2 x 2, got shape {img.shape}")
    x = rescale01(img)
    med = cv2.medianBlur(x, spec.median_size)
    radius = int(4.0 * spec.unsharp_sigma + 0.5)
    blur = cv2.GaussianBlur(med, (2 * radius + 1, 2 * radius + 1), spec.unsharp_sigma,
                            borderType=cv2.BORDER_REFLECT)
    x = rescale01(med - spec.unsharp_amount * blur)
    if spec.clahe_impl == "skimage":
        from skimage.exposure import equalize_adapthist

        return equalize_adapthist(x, clip_limit=spec.clahe_clip_limit, nbins=spec.clahe_nbins).astype(np.float32)
    if spec.clahe_impl == "exact":
        return equalize_adapthist_2d(x, clip_limit=spec.clahe_clip_limit, nbins=spec.clahe_nbins,
                                     kernel_fraction=spec.clahe_kernel_fraction)
    if spec.clahe_impl != "opencv":
        raise ClassifierInputError(f"clahe_impl must be 'exact', 'skimage' or 'opencv', got {spec.clahe_impl!r}")
    return _clahe_skimage_like(x, clip_limit=spec.clahe_clip_limit, kernel_fraction=spec.clahe_kernel_fraction,
                               nbins=spec.clahe_nbins)


def longest_side_size(shape: tuple[int, int], longest: int) -> tuple[int, int]:
    """MONAI ``Resize(size_mode='longest')`` rounding: each side scaled by longest / max(shape), rounded."""
    scale = longest / max(shape)
    return max(int(round(shape[0] * scale)), 1), max(int(round(shape[1] * scale)), 1)


def resize_longest(img: np.ndarray, longest: int) -> np.ndarray:
    """Bilinear (align_corners=True) resize so that the longest side is ``longest``."""
    import torch
    import torch.nn.functional as F

    size = longest_side_size(img.shape, longest)
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None, None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=True)[0, 0].numpy()


def pad_or_crop(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Symmetric zero pad (extra pixel after) or centred crop (start = excess // 2) to height x width."""
    out = img
    for axis, target in ((0, height), (1, width)):
        n = out.shape[axis]
        if n < target:
            before = (target - n) // 2
            pad = [(0, 0), (0, 0)]
            pad[axis] = (before, target - n - before)
            out = np.pad(out, pad)
        elif n > target:
            start = (n - target) // 2
            out = out[start:start + target] if axis == 0 else out[:, start:start + target]
    return np.ascontiguousarray(out, dtype=np.float32)


def preprocess_view(image: np.ndarray, spec: PreprocessSpec | None = None, *, height: int | None = None,
                    width: int | None = None) -> np.ndarray:
    """Mirror (if the recipe says so), CLAHE, resize longest side to W, pad to H x W: float32 (H, W)."""
    spec = spec or PreprocessSpec()
    h, w = height or spec.height, width or spec.width
    img = np.asarray(image)
    if spec.mirror:
        img = img[:, ::-1]
    return pad_or_crop(resize_longest(clahe_qiu(img, spec), w), h, w)
