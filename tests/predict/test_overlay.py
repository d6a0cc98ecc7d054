"""Pictures written per radiograph: capped size, boxes and masks where they belong."""
from __future__ import annotations

import numpy as np

from sijscan.predict.overlay import OVERLAY_LONGEST, cam_overlay, segmentation_overlay


def test_overlay_is_capped_and_keeps_boxes_and_masks_in_place() -> None:
    h, w = 1500, 2000
    pixels = np.full((h, w), 0.2, np.float32)
    labels = np.zeros((h, w), np.uint8)
    labels[300:900, 800:1200] = 1  # sacrum block
    box = [700, 200, 1300, 1000]
    img = segmentation_overlay(pixels, labels, box=box, side_boxes={"image_left": None, "image_right": None})
    s = OVERLAY_LONGEST / w
    assert img.shape == (round(h * s), OVERLAY_LONGEST, 3)
    red = (img[..., 2] > 200) & (img[..., 1] < 50) & (img[..., 0] < 50)
    ys, xs = np.nonzero(red)
    tol = 4  # the thick box line is centred on the box edge (6 px at this size)
    assert abs(xs.min() - box[0] * s) <= tol and abs(xs.max() - (box[2] - 1) * s) <= tol
    assert abs(ys.min() - box[1] * s) <= tol and abs(ys.max() - (box[3] - 1) * s) <= tol
    tinted = np.abs(img[..., 0].astype(int) - img[..., 2].astype(int)) > 5  # coloured mask, not grey
    cy, cx = int(600 * s), int(1000 * s)
    assert tinted[cy, cx] and not tinted[int(100 * s), int(100 * s)]
    full = segmentation_overlay(pixels, labels, box=box, longest=None)
    assert full.shape == (h, w, 3)


def test_cam_overlay_capped_size_and_grey_where_no_evidence() -> None:
    image = np.full((800, 600), 0.5, np.float32)
    cam = np.zeros_like(image)
    cam[100:200, 100:200] = 1.0
    out = cam_overlay(image, cam, longest=300)
    assert out.shape == (300, 225, 3)
    assert len(set(out[-1, -1].tolist())) == 1  # grey pixel: B == G == R
    assert len(set(out[55, 55].tolist())) > 1
