"""Crop the sacroiliac-joint region (or the full view) from the full-resolution radiograph.

The SIJ box is found on a label map that may be smaller than the radiograph (the segmenter's
working size); :func:`scale_box` maps it back. ``view="full"`` returns the whole image, so the
standard (full-image) model and the anatomy-aware one share one entry point.

``paper_variant=True`` / :func:`authors_crop` reproduce the published recipe: pixels outside the
box are set to 0 on the full 8-bit image, then the image is cropped to its Otsu foreground. The
threshold is ITK's (SimpleITK ``OtsuThreshold(image, 0, 255)``, 128 histogram bins: the authors'
call), computed over the WHOLE zeroed image, and the crop is the bounding box of the pixels above
it (``LabelShapeStatisticsImageFilter``); this trims the zeroed border and any dark rim inside the
box. scikit-image's Otsu uses other bins and gives another threshold, so it is not used here.
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


def otsu_foreground_box(img: np.ndarray) -> list[int] | None:
    """``[x0, y0, x1, y1]`` of the pixels above ITK's Otsu threshold of ``img`` (None when there are none)."""
    import SimpleITK as sitk

    arr = np.ascontiguousarray(img)
    if arr.size == 0 or float(arr.max()) == float(arr.min()):
        return None
    fg = sitk.OtsuThreshold(sitk.GetImageFromArray(arr), 0, 255)
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(fg)
    if 255 not in stats.GetLabels():
        return None
    x, y, w, h = stats.GetBoundingBox(255)
    return [int(x), int(y), int(x + w), int(y + h)]


def authors_crop(grey: np.ndarray, box: Sequence[int]) -> tuple[np.ndarray, list[int]]:
    """The published crop: zero outside ``box`` on the whole 8-bit image, then its Otsu foreground.

    Returns ``(crop, crop_box)`` with ``crop_box`` in the image's pixels. When nothing lies above the
    threshold (a black box) the box itself is the crop (their code would fail there).
    """
    img = np.asarray(grey)
    if img.ndim != 2 or img.dtype != np.uint8:
        raise InputError(f"the published crop needs a 2-D uint8 image, got {img.dtype} {img.shape}")
    x0, y0, x1, y1 = (int(v) for v in box)
    boxed = np.zeros_like(img)
    boxed[y0:y1, x0:x1] = img[y0:y1, x0:x1]
    fg = otsu_foreground_box(boxed)
    cb = [x0, y0, x1, y1] if fg is None else fg
    return img[cb[1]:cb[3], cb[0]:cb[2]], cb


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
    u8 = img if img.dtype == np.uint8 else np.rint(np.clip(img.astype(np.float64), 0, 1) * 255).astype(np.uint8)
    return authors_crop(u8, [x0, y0, x1, y1])[0]


JOINT_TILE_ASPECT = 0.75
"""Width / height of each joint's tile in :func:`joint_pair_crop` (a joint is taller than wide)."""
JOINT_TILE_SCALE = 1.3
"""Tile height / the taller joint box's height: room for sclerosis and erosions around the joint."""
JOINT_SPAN_SCALE = 0.9
"""Crop "joints_span": tile height / the distance between the two joint boxes' centres. The joints'
height is 0.53-0.75 of that distance in the phantom and the shared CTs, so a tile holds 1.2-1.7 times
the joint. A joint's height varies more between people than the span between the joints (CT 002's
joints are 0.78 times as tall as 001's and 003's, their span 0.88 times), so tiles scaled by the span
keep lesions (sized in mm) closer to one size in pixels."""
JOINT_WIDE_SCALE = 1.8
"""Crop "joints_wide": tile height / the taller joint box's height, as "joints" but with more of the bone
around each joint (about 38 mm of ilium and sacrum beside a 75 mm joint instead of 24 mm): a reader judges
sclerosis and joint-space width against the same bone away from the joint, whose density differs from one
person to the next (issue 22, run 17)."""
JOINT_PAIR_CROPS = {"joints": ("joint", JOINT_TILE_SCALE), "joints_span": ("span", JOINT_SPAN_SCALE),
                    "joints_wide": ("joint", JOINT_WIDE_SCALE)}
"""The joint-pair crops: what their tiles are scaled by (the taller joint box or the span) and by how much."""


JointTile = tuple[list[int], bool]
"""One tile of a joint-pair crop: its ``[x0, y0, x1, y1]`` in the image's pixels (may reach beyond the
image: those pixels repeat its edge) and whether it is mirrored."""


def joint_pair_tiles(image_shape: Sequence[int], location: SIJLocation, *,
                     label_shape: Sequence[int] | None = None, crop: str = "joints") -> list[JointTile]:
    """Where :func:`joint_pair_crop` cuts its two tiles (image-left joint, then image-right mirrored);
    ``crop`` one of :data:`JOINT_PAIR_CROPS`."""
    if crop not in JOINT_PAIR_CROPS:
        raise InputError(f"joint-pair crop must be one of {', '.join(JOINT_PAIR_CROPS)}, got {crop!r}")
    if location is None or any(location.boxes.get(s) is None for s in ("image_left", "image_right")):
        raise SIJNotFoundError("no box for both sacroiliac joints (flags: "
                               f"{', '.join(location.qc_flags) if location else 'no location'})")
    shape = tuple(label_shape) if label_shape is not None else location.label_shape
    boxes = {s: scale_box(location.boxes[s], from_shape=shape, to_shape=image_shape) for s in ("image_left", "image_right")}
    by, scale = JOINT_PAIR_CROPS[crop]
    if by == "span":
        (lx, ly), (rx, ry) = (((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes.values())
        h = max(2, int(round(scale * float(np.hypot(rx - lx, ry - ly)))))
    else:
        h = max(2, int(round(scale * max(b[3] - b[1] for b in boxes.values()))))
    w = max(2, int(round(JOINT_TILE_ASPECT * h)))
    tiles = []
    for side in ("image_left", "image_right"):
        x0, y0, x1, y1 = boxes[side]
        tx, ty = (x0 + x1) // 2 - w // 2, (y0 + y1) // 2 - h // 2
        tiles.append(([tx, ty, tx + w, ty + h], side == "image_right"))
    return tiles


def joint_pair_crop(image: np.ndarray, location: SIJLocation, *, label_shape: Sequence[int] | None = None,
                    crop: str = "joints") -> np.ndarray:
    """Both joints side by side, each in the same orientation: ``[image-left joint | image-right joint mirrored]``.

    Each tile is centred on its joint's box; both tiles have the same size in pixels (crop "joints": the
    taller box's height x JOINT_TILE_SCALE; "joints_span": the span between the boxes' centres x
    JOINT_SPAN_SCALE; "joints_wide": the taller box's height x JOINT_WIDE_SCALE; JOINT_TILE_ASPECT as
    wide), so both joints keep one scale; regions beyond the image repeat its edge. The image-right joint
    is mirrored, so in both tiles the ilium is on the left and the sacrum on the right. Raises
    ``SIJNotFoundError`` when a side has no box.
    """
    import cv2

    img = np.asarray(image)
    if img.ndim != 2 or img.size == 0:
        raise InputError(f"image must be a non-empty 2-D array, got shape {img.shape}")
    tiles = joint_pair_tiles(img.shape, location, label_shape=label_shape, crop=crop)
    h, w = tiles[0][0][3] - tiles[0][0][1], tiles[0][0][2] - tiles[0][0][0]
    pad = max(h, w)
    padded = cv2.copyMakeBorder(np.ascontiguousarray(img), pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    out = []
    for (x0, y0, x1, y1), mirrored in tiles:
        tile = padded[y0 + pad: y1 + pad, x0 + pad: x1 + pad]
        out.append(tile[:, ::-1] if mirrored else tile)
    return np.ascontiguousarray(np.concatenate(out, axis=1))


CROPS = ("box", *JOINT_PAIR_CROPS)
"""How an anatomy-aware classifier's view is cut: the box around both joints, or the joint pair (its
tiles scaled by the joints' height, by the span between them, or by the joints' height with more bone
around them)."""


def cut_view(image: np.ndarray, location: SIJLocation | None, *, crop: str = "box",
             label_shape: Sequence[int] | None = None) -> np.ndarray:
    """The classifier's SIJ view of ``image``: :func:`crop_sij` (``"box"``) or :func:`joint_pair_crop` (``"joints"``)."""
    if crop == "box":
        return crop_sij(image, location, label_shape=label_shape)
    if crop in JOINT_PAIR_CROPS:
        return joint_pair_crop(image, location, label_shape=label_shape, crop=crop)  # type: ignore[arg-type]
    raise InputError(f"crop must be one of {', '.join(CROPS)}, got {crop!r}")
