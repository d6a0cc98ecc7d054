"""The fast CLAHE path against an independent scikit-image/scipy formulation of the paper's recipe."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.exposure import equalize_adapthist

from sijscan.classify.errors import ClassifierInputError
from sijscan.classify.preprocess import PreprocessSpec, clahe_qiu, pad_or_crop, preprocess_view, resize_longest

# Stated tolerances against the independent scikit-image/scipy formulation (measured on
# radiograph-like 12-bit images, 64x96 .. 800x1200, 2026-11-27):
# * "exact" (default): mean |d| <= 2.1e-6, max |d| <= 0.010, < 0.1% of pixels off by > 1e-3 (pixels whose float32
#   OpenCV filtering lands in the neighbouring CLAHE bin), r > 0.99999999.
# * "opencv" (cv2.createCLAHE): mean |d| 0.010-0.021, max 0.033-0.078, r >= 0.9968 at >= 400 px a
#   side; mean 0.028-0.034, max <= 0.17, r >= 0.983 on 64x96 / 200x300 images.
EXACT_MEAN, EXACT_MAX, EXACT_FRAC = 1e-4, 0.02, 1e-3
OPENCV_MEAN, OPENCV_MAX, OPENCV_CORR = 0.03, 0.1, 0.995


def reference_qiu(img: np.ndarray, *, three_d: bool = True) -> np.ndarray:
    """The authors' formulation: filters on a (1, H, W) array, skimage equalize_adapthist."""
    x = img.astype(np.float64)
    x = (x - x.min()) / (x.max() - x.min())
    if three_d:
        x = x[None]
    med = ndimage.median_filter(x, size=3, mode="reflect")
    x = med - 0.6 * ndimage.gaussian_filter(med, sigma=1, mode="reflect")
    x = (x - x.min()) / (x.max() - x.min())
    out = equalize_adapthist(x, clip_limit=0.01)
    return out[0] if three_d else out


def radiograph_like(shape: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = 0.4 * np.sin(xx / 23.0) * np.cos(yy / 31.0) + (np.hypot(yy - shape[0] / 2, xx - shape[1] / 3) < shape[0] / 4)
    img = ndimage.gaussian_filter(img + 0.3 * rng.standard_normal(shape), 1.5)
    return (img * 1000 + 3000).astype(np.uint16)  # 12-bit-like values


def stats(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    d = np.abs(a.astype(np.float64) - b)
    return float(d.mean()), float(d.max()), float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize("shape", [(64, 96), (400, 600), (523, 771)])
def test_exact_clahe_matches_skimage(shape: tuple[int, int]) -> None:
    img = radiograph_like(shape, seed=shape[1])
    out, ref = clahe_qiu(img), reference_qiu(img)
    mean, mx, _ = stats(out, ref)
    assert mean < EXACT_MEAN and mx < EXACT_MAX, (mean, mx)
    assert np.mean(np.abs(out - ref) > 1e-3) < EXACT_FRAC


@pytest.mark.parametrize("shape", [(400, 600), (523, 771)])
def test_opencv_clahe_within_stated_tolerance(shape: tuple[int, int]) -> None:
    img = radiograph_like(shape, seed=shape[1])
    mean, mx, r = stats(clahe_qiu(img, PreprocessSpec(clahe_impl="opencv")), reference_qiu(img))
    assert mean < OPENCV_MEAN and mx < OPENCV_MAX and r > OPENCV_CORR, (mean, mx, r)


def test_clahe_core_equals_equalize_adapthist() -> None:
    """Without the filters in between, the vectorised CLAHE equals skimage to float32 rounding."""
    from sijscan.classify.clahe import equalize_adapthist_2d

    rng = np.random.default_rng(5)
    x = ndimage.gaussian_filter(rng.random((157, 211)), 2.0)
    x = (x - x.min()) / (x.max() - x.min())
    assert np.abs(equalize_adapthist_2d(x) - equalize_adapthist(x, clip_limit=0.01)).max() < 1e-6


def test_skimage_impl_is_exact() -> None:
    img = radiograph_like((150, 230), seed=1)
    out = clahe_qiu(img, PreprocessSpec(clahe_impl="skimage"))
    mean, mx, _ = stats(out, reference_qiu(img))
    assert mean < EXACT_MEAN and mx < EXACT_MAX, (mean, mx)


def test_singleton_axis_changes_nothing() -> None:
    """The authors' (1, H, W) filters and CLAHE give the same result as 2-D ones (reflect borders)."""
    img = radiograph_like((120, 170), seed=2)
    a, b = reference_qiu(img, three_d=True), reference_qiu(img, three_d=False)
    assert np.abs(a - b).max() < 1e-6


def test_resize_longest_and_symmetric_pad() -> None:
    img = np.arange(20 * 40, dtype=np.float32).reshape(20, 40)
    out = resize_longest(img, 80)
    assert out.shape == (40, 80)
    assert out[0, 0] == img[0, 0] and out[-1, -1] == img[-1, -1]  # align_corners=True keeps the corners
    padded = pad_or_crop(out, 45, 80)
    assert padded.shape == (45, 80)
    assert np.all(padded[:2] == 0) and np.all(padded[-3:] == 0) and np.array_equal(padded[2:42], out)
    cropped = pad_or_crop(np.ones((11, 10), np.float32), 8, 10)
    assert cropped.shape == (8, 10)


def test_preprocess_view_shape_and_mirror() -> None:
    img = radiograph_like((90, 140), seed=4).astype(np.float32)
    a = preprocess_view(img, PreprocessSpec(height=32, width=48))
    b = preprocess_view(img[:, ::-1], PreprocessSpec(height=32, width=48, mirror=True))
    assert a.shape == (32, 48) and a.dtype == np.float32
    assert np.allclose(a, b, atol=1e-6)


def test_bad_images_rejected() -> None:
    with pytest.raises(ClassifierInputError):
        clahe_qiu(np.zeros((3, 4, 5)))
    with pytest.raises(ClassifierInputError):
        clahe_qiu(np.full((10, 10), np.nan))
