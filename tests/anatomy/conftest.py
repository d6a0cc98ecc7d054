"""Shared helpers for the anatomy tests: a drawn, near-symmetric AP-pelvis label map."""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
import pytest


def draw_pelvis(h: int = 200, w: int = 240, *, sacrum: bool = True, hips: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """0 background, 1 sacrum (a wedge in the middle), 2 hip bone image-left, 3 image-right."""
    lab = np.zeros((h, w), np.uint8)
    centres = {2: (0.30 * w, 0.45 * h), 3: (0.70 * w, 0.45 * h)}
    for cls in hips:
        cx, cy = centres[cls]
        cv2.ellipse(lab, (int(round(cx)), int(round(cy))), (int(0.15 * w), int(0.22 * h)), 0, 0, 360, int(cls), -1)
    if sacrum:
        pts = np.array([[0.40 * w, 0.35 * h], [0.60 * w, 0.35 * h], [0.53 * w, 0.70 * h], [0.47 * w, 0.70 * h]])
        cv2.fillPoly(lab, [np.round(pts).astype(np.int32)], 1)
    return lab


def label_image(lab: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """A grey radiograph-like float32 image in [0, 1] whose bones follow ``lab``."""
    rng = np.random.default_rng(seed)
    img = np.full(lab.shape, 0.15, np.float32)
    img[lab == 1] = 0.75
    img[lab == 2] = 0.55
    img[lab == 3] = 0.6
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    img += rng.normal(0, 0.02, lab.shape).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32)


@pytest.fixture
def pelvis() -> np.ndarray:
    return draw_pelvis()


@pytest.fixture
def draw() -> Callable[..., np.ndarray]:
    """The :func:`draw_pelvis` function (fixtures, not imports: other test folders have a conftest too)."""
    return draw_pelvis


@pytest.fixture
def render() -> Callable[..., np.ndarray]:
    """The :func:`label_image` function."""
    return label_image
