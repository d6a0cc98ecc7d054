"""Pictures of a prediction: segmentation overlay with boxes, Grad-CAM heat maps, PNG bytes, thumbnails."""
from __future__ import annotations

import base64
import os

import cv2
import numpy as np

from sijscan.anatomy.crop import scale_box
from sijscan.anatomy.outputs import overlay as mask_overlay
from sijscan.anatomy.outputs import to_uint8
from sijscan.files import atomic_write


OVERLAY_LONGEST = 1024
"""Longest side of the pictures written for a whole radiograph: enough to judge masks, boxes and
heat maps by eye, and ~4x cheaper to draw and encode than a 2048 px original (PNG encoding of a
2048 x 1680 colour overlay alone takes ~0.2 s on one core)."""


def segmentation_overlay(pixels: np.ndarray, labels: np.ndarray | None, *, box: list[int] | None,
                         side_boxes: dict[str, list[int] | None] | None = None,
                         longest: int | None = OVERLAY_LONGEST) -> np.ndarray:
    """BGR uint8: the radiograph with the coloured bone masks, per-side boxes and the SIJ box.

    Drawn at most ``longest`` pixels on the long side (None: full size); boxes are in ``pixels``' frame.
    """
    lab = labels if labels is not None else np.zeros(pixels.shape, np.uint8)
    small = thumbnail(pixels, longest=longest) if longest else pixels
    if small.shape != pixels.shape:
        lab = cv2.resize(lab.astype(np.uint8), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST)

        def fit(b: list[int] | None) -> list[int] | None:
            return None if b is None else scale_box(b, from_shape=pixels.shape, to_shape=small.shape)

        box = fit(box)
        side_boxes = {k: fit(v) for k, v in (side_boxes or {}).items()}
    return mask_overlay(small, lab, box=box, side_boxes=side_boxes)


def cam_overlay(image: np.ndarray, cam: np.ndarray, *, alpha: float = 0.45, longest: int | None = None) -> np.ndarray:
    """BGR uint8: a grey image with a CAM in [0, 1] (same shape) blended in as a JET heat map.

    Only where the CAM is above zero is colour added, so regions without evidence stay grey.
    ``longest`` draws it at most that many pixels on the long side.
    """
    if longest:
        image, cam = thumbnail(image, longest=longest), thumbnail(np.asarray(cam, np.float32), longest=longest)
    grey = cv2.cvtColor(to_uint8(image), cv2.COLOR_GRAY2BGR)
    c = np.clip(np.asarray(cam, np.float32), 0, 1)
    heat = cv2.applyColorMap((c * 255).astype(np.uint8), cv2.COLORMAP_JET)
    weight = (alpha * np.sqrt(c))[..., None]
    return (grey * (1 - weight) + heat * weight).astype(np.uint8)


def encode_png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover - OpenCV fails only on unsupported dtypes/shapes
        raise ValueError(f"cannot encode an image of shape {img.shape} and dtype {img.dtype} as PNG")
    return buf.tobytes()


def thumbnail(img: np.ndarray, *, longest: int = 320) -> np.ndarray:
    h, w = img.shape[:2]
    scale = longest / max(h, w)
    if scale >= 1:
        return img
    return cv2.resize(img, (max(1, int(round(w * scale))), max(1, int(round(h * scale)))), interpolation=cv2.INTER_AREA)


def data_uri(img: np.ndarray, *, longest: int | None = None, jpeg_quality: int | None = None) -> str:
    """A ``data:image/...;base64,...`` URI (self-contained HTML; nothing is written to disk).

    PNG by default; ``jpeg_quality`` gives a JPEG (much smaller for report thumbnails).
    """
    small = thumbnail(img, longest=longest) if longest else img
    if jpeg_quality is None:
        return "data:image/png;base64," + base64.b64encode(encode_png(small)).decode("ascii")
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    if not ok:  # pragma: no cover
        raise ValueError(f"cannot encode an image of shape {small.shape} as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def write_png_atomic(path: str | os.PathLike[str], img: np.ndarray) -> None:
    atomic_write(path, encode_png(img))
