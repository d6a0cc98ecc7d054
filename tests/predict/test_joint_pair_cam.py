"""A joint-pair crop's Grad-CAM goes back onto the radiograph tile by tile (mirrored tile mirrored back)."""
from __future__ import annotations

import numpy as np

from sijscan.predict.gradcam import cam_tiles_to_radiograph


def test_each_half_of_the_cam_lands_on_its_joint_with_the_mirror_undone() -> None:
    tiles = [([10, 20, 30, 60], False), ([70, 20, 90, 60], True)]  # 20 x 40 px tiles; the second mirrored
    cam = np.zeros((40, 40), np.float32)  # the crop itself: two 20-px tiles side by side
    cam[5:10, 0:3] = 1.0  # left tile, its left edge
    cam[25:30, 20:23] = 0.5  # right tile, its left edge = the image-right joint's RIGHT edge once unmirrored
    full = cam_tiles_to_radiograph(cam, tiles=tiles, crop_shape=(40, 40), image_shape=(100, 120))
    ys, xs = np.nonzero(full > 0.9)
    assert xs.min() >= 10 and xs.max() < 14 and ys.min() >= 24 and ys.max() < 31
    ys, xs = np.nonzero((full > 0.4) & (full < 0.6))
    assert xs.min() >= 86 and xs.max() < 90 and ys.min() >= 44 and ys.max() < 51
    assert full[:, 31:69].max() == 0.0  # nothing between the joints


def test_tiles_reaching_beyond_the_image_are_clipped() -> None:
    tiles = [([-5, -5, 15, 35], False), ([100, 0, 120, 40], True)]
    cam = np.ones((40, 40), np.float32)
    full = cam_tiles_to_radiograph(cam, tiles=tiles, crop_shape=(40, 40), image_shape=(30, 110))
    assert full.shape == (30, 110) and full[:30, :15].min() == 1.0 and full[:, 100:110].min() == 1.0
