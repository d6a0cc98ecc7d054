"""Crop the sacroiliac-joint region (or the full view) from the full-resolution radiograph.

The SIJ box is found on a label map that may be smaller than the radiograph (the segmenter's
working size); :func:`scale_box` maps it back. ``view="full"`` returns the whole image, so the
standard (full-image) model and the anatomy-aware one share one entry point.

``paper_variant=True`` reproduces the published recipe: pixels outside the box are set to 0 on
the full image, then the image is cropped to its Otsu foreground (threshold by Otsu's method over
the whole zeroed image, bounding box of the pixels above it), which trims the zeroed border and
any dark rim inside the box.
"""
from __future__ import annotations

import logging
from typing import Literal, Sequence

import numpy as np

from sijscan.anatomy.localize import SIJLocation
from sijscan.errors import InputError, SijscanError

log = logging.getLogger(__name__)


class SIJNotFoundError(SijscanError):
    """No SIJ box could be determined, so no SIJ crop can be taken."""


def scale_box(box: Sequence[int], *, from_shape: Sequence[int], to_shape: Sequence[int]) -> list[int]:
    """Map ``[x0, y0, x1, y1]`` (exclusive ends) from a ``from_shape`` (H, W) grid to ``to_shape``.

    The box's pixel edges are scaled (outward rounding), so the mapped box covers at least the
    same physical area.
    """
    fh, fw = int(from_shape[0]), int(from_shape[1])
    th, tw = int(to_shape[0]), int(to_shape[1])
    if min(fh, fw, th, tw) <= 0:
        raise InputError(f"shapes must be positive, got {tuple(from_shape)} -> {tuple(to_shape)}")
    sx, sy = tw / fw, th / fh
    x0, y0, x1, y1 = (float(v) for v in box)
    out = [int(np.floor(x0 * sx)), int(np.floor(y0 * sy)), int(np.ceil(x1 * sx)), int(np.ceil(y1 * sy))]
    out = [max(0, out[0]), max(0, out[1]), min(tw, out[2]), min(th, out[3])]
    if out[2] <= out[0] or out[3] <= out[1]:
        raise InputError(f"box {list(box)} is empty after mapping to {th}x{tw}")
    return out


def _otsu_crop(img: np.ndarray) -> np.ndarray:
    from skimage.filters import threshold_otsu

    if float(img.max()) == float(img.min()):
        return img
    fg = img > threshold_otsu(img)
    ys, xs = np.nonzero(fg)
    if ys.size == 0:
        return img
    return img[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


def crop_sij(
    image: np.ndarray,
    location: SIJLocation | None,
    *,
    label_shape: Sequence[int] | None = None,
    view: Literal["sij", "full"] = "sij",
    paper_variant: bool = False,
) -> np.ndarray:
    """Return the SIJ crop of ``image`` (2-D, any dtype) or, with ``view="full"``, the whole image.

    ``label_shape`` is the (H, W) of the label map the box was found on; default
    ``location.label_shape``. Raises ``SIJNotFoundError`` when ``view="sij"`` and there is no box.
    """
    img = np.asarray(image)
    if img.ndim != 2 or img.size == 0:
        raise InputError(f"image must be a non-empty 2-D array, got shape {img.shape}")
    if view == "full":
        return img
    if view != "sij":
        raise InputError(f"view must be 'sij' or 'full', got {view!r}")
    if location is None or location.box is None:
        raise SIJNotFoundError("no sacroiliac-joint box (flags: "
                               f"{', '.join(location.qc_flags) if location else 'no location'})")
    shape = tuple(label_shape) if label_shape is not None else location.label_shape
    x0, y0, x1, y1 = scale_box(location.box, from_shape=shape, to_shape=img.shape)
    if not paper_variant:
        return img[y0:y1, x0:x1]
    boxed = np.zeros_like(img)
    boxed[y0:y1, x0:x1] = img[y0:y1, x0:x1]
    return _otsu_crop(boxed)
