"""The map the SIJs are located on: the working map, the full-size map, or the full-size map read at every
k-th pixel (``LocalizeSpec.max_side``; session 17)."""
from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from sijscan.anatomy.localize import locate_sij
from sijscan.anatomy.recipes import LocalizeSpec, parse_segmenter_recipe, sijscan_recipe
from sijscan.anatomy.segment import Segmenter
from sijscan.errors import ModelError


def _pelvis(h: int, w: int) -> np.ndarray:
    """A label map shaped like an AP pelvis: hip bones (2 image-left, 3 image-right) meeting a sacrum (1)."""
    lab = np.zeros((h, w), np.uint8)
    cv2.ellipse(lab, (int(0.30 * w), int(0.48 * h)), (int(0.17 * w), int(0.25 * h)), 10, 0, 360, 2, -1)
    cv2.ellipse(lab, (int(0.70 * w), int(0.48 * h)), (int(0.17 * w), int(0.25 * h)), -10, 0, 360, 3, -1)
    sacrum = np.array([[0.40 * w, 0.30 * h], [0.60 * w, 0.30 * h], [0.54 * w, 0.68 * h], [0.46 * w, 0.68 * h]])
    cv2.fillPoly(lab, [sacrum.astype(np.int32)], 1)
    return lab


def _locate(spec: LocalizeSpec, full: np.ndarray, working: np.ndarray):
    return Segmenter.locate(SimpleNamespace(spec=SimpleNamespace(localize=spec)), full=full, working=working)


def test_max_side_reads_every_kth_pixel_of_a_large_map_only() -> None:
    spec = LocalizeSpec(on="full", max_side=512)
    assert spec.map_for(np.zeros((1664, 2048))).shape == (416, 512)
    assert spec.map_for(np.zeros((1024, 840))).shape == (512, 420)
    assert spec.map_for(np.zeros((1000, 1500))).shape == (334, 500)  # k = 3: the long side ends at <= 512
    small = np.zeros((256, 210))
    assert spec.map_for(small) is small and LocalizeSpec(on="full").map_for(np.zeros((2048, 2048))).shape == (2048, 2048)


def test_the_recipe_writes_max_side_only_when_set_and_checks_it() -> None:
    rec = sijscan_recipe()
    assert "max_side" not in rec["localize"]  # cards made before it stay byte-identical
    rec["localize"].update(on="full", max_side=512)
    spec = parse_segmenter_recipe(rec)
    assert spec.localize.max_side == 512 and spec.to_json()["localize"]["max_side"] == 512
    rec["localize"]["max_side"] = -1
    with pytest.raises(ModelError, match="localize.max_side"):
        parse_segmenter_recipe(rec)


def test_a_subsampled_full_map_locates_close_to_the_exact_full_map() -> None:
    full = _pelvis(1664, 2048)
    working = cv2.resize(full, (128, 128), interpolation=cv2.INTER_NEAREST)
    exact = _locate(LocalizeSpec(on="full"), full, working)
    sub = _locate(LocalizeSpec(on="full", max_side=512), full, working)
    assert exact.ok and sub.ok and sub.label_shape == exact.label_shape == (1664, 2048)
    assert sub.box != exact.box  # it was located on another map ...
    assert np.abs(np.subtract(sub.box, exact.box)).max() <= 2 * 4 + 2  # ... within a few of its 4 px steps
    on_working = _locate(LocalizeSpec(on="working", max_side=512), full, working)  # max_side: on="full" only
    assert on_working.box == _locate(LocalizeSpec(), full, working).box != exact.box
    direct = locate_sij(full[::4, ::4], dilation_frac=0.05, margin_frac=0.15)
    assert sub.qc_flags == direct.qc_flags and sub.confidence == direct.confidence
