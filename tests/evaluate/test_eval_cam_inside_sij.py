"""CAM share inside the true SIJ boxes (issue #7) against hand-made CAMs and boxes."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sijscan.evaluate.cam_inside_sij import (CamShareError, bootstrap_center, cam_share, paired_difference,
                                       true_sij_boxes, union_mask)


def test_all_mass_inside_one_box() -> None:
    cam = np.zeros((10, 20))
    cam[2:4, 3:6] = 1.0
    res = cam_share(cam, [[3, 2, 6, 4], [14, 2, 17, 4]])
    assert res.share == pytest.approx(1.0)
    assert res.chance == pytest.approx(12 / 200)
    assert res.chance_in_region == res.chance and res.mass == pytest.approx(6.0)


def test_uniform_cam_gets_the_chance_level() -> None:
    cam = np.full((40, 50), 0.3)
    boxes = [[5, 5, 15, 25], [30, 10, 45, 20]]
    res = cam_share(cam, boxes)
    assert res.share == pytest.approx(res.chance)
    assert res.chance == pytest.approx((10 * 20 + 15 * 10) / (40 * 50))


def test_overlapping_boxes_count_once_and_weights_matter() -> None:
    cam = np.zeros((8, 8))
    cam[0, 0] = 3.0   # inside both boxes (counted once)
    cam[7, 7] = 1.0   # outside
    res = cam_share(cam, [[0, 0, 4, 4], [0, 0, 2, 2]])
    assert res.share == pytest.approx(0.75)
    assert union_mask([[0, 0, 4, 4], [0, 0, 2, 2]], (8, 8)).sum() == 16


def test_region_chance_for_a_crop_model() -> None:
    cam = np.zeros((100, 100))
    region = [20, 20, 60, 60]          # the crop: 1600 px
    boxes = [[25, 25, 35, 45], [45, 25, 70, 45]]  # 200 px, and 15x20=300 px inside the crop (of 500)
    cam[20:60, 20:60] = 1.0            # uniform inside the crop, zero elsewhere
    res = cam_share(cam, boxes, region=region)
    assert res.chance_in_region == pytest.approx(500 / 1600)
    assert res.share == pytest.approx(res.chance_in_region)
    assert res.chance == pytest.approx((200 + 500) / 10000)


def test_boxes_are_clipped_and_zero_cam_has_no_share() -> None:
    res = cam_share(np.zeros((10, 10)), [[-5, -5, 5, 5]])
    assert math.isnan(res.share) and res.chance == pytest.approx(0.25)


@pytest.mark.parametrize("cam, boxes, match", [
    (np.full((4, 4), -0.1), [[0, 0, 2, 2]], "non-negative"),
    (np.ones(5), [[0, 0, 2, 2]], "2-D"),
    (np.full((4, 4), np.nan), [[0, 0, 2, 2]], "NaN"),
    (np.ones((4, 4)), [], "at least one"),
    (np.ones((4, 4)), [[2, 0, 1, 2]], "x1 > x0"),
    (np.ones((4, 4)), [[0, 0, 1]], r"\[x0, y0, x1, y1\]"),
])
def test_bad_inputs_raise(cam, boxes, match) -> None:
    with pytest.raises(CamShareError, match=match):
        cam_share(cam, boxes)


def test_true_boxes_from_manifest_columns_scaled_to_image() -> None:
    row = {"sij_box_image_left": "10 20 30 40", "sij_box_image_right": "60 20 80 40", "height": 100, "width": 100}
    assert true_sij_boxes(row) == [[10, 20, 30, 40], [60, 20, 80, 40]]
    assert true_sij_boxes(row, image_shape=(200, 50)) == [[5, 40, 15, 80], [30, 40, 40, 80]]
    assert true_sij_boxes({"sij_box_image_left": float("nan"), "sij_box_image_right": "1 2 3 4"}) is None


def test_true_boxes_from_exact_mask_match_locate_sij(tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    from sijscan.anatomy.localize import locate_sij
    from sijscan.phantom import simulate_case

    _, labels, truth = simulate_case(cohort="optiref", index=0, seed=3, size=128)
    path = tmp_path / "m.png"
    cv2.imwrite(str(path), labels)
    boxes = true_sij_boxes({"mask": str(path)})
    expected = [b for b in locate_sij(labels, margin_frac=0.0).boxes.values() if b is not None]
    assert boxes == [[float(v) for v in b] for b in expected] and len(boxes) == 2
    # the mask-derived joints overlap the renderer's exact joint boxes
    for side, b in zip(("image_left", "image_right"), boxes):
        t = truth["sij_boxes"][side]
        ix = min(b[2], t[2]) - max(b[0], t[0])
        iy = min(b[3], t[3]) - max(b[1], t[1])
        assert ix > 0 and iy > 0


def test_bootstrap_center_against_numpy() -> None:
    rng = np.random.default_rng(0)
    v = rng.uniform(0, 1, 50)
    res = bootstrap_center(list(v) + [float("nan")], n_bootstrap=500, seed=1)
    assert res["n"] == 50 and res["mean"] == pytest.approx(v.mean()) and res["median"] == pytest.approx(np.median(v))
    lo, hi = res["mean_ci"]
    assert lo < v.mean() < hi and hi - lo < 0.25
    se = v.std(ddof=1) / math.sqrt(50)  # the percentile CI is close to the normal one here
    assert lo == pytest.approx(v.mean() - 1.96 * se, abs=0.03) and hi == pytest.approx(v.mean() + 1.96 * se, abs=0.03)
    assert bootstrap_center([0.5], n_bootstrap=100, seed=0)["ci_reason"]


def test_paired_difference_skips_undefined_pairs() -> None:
    a = [0.1, 0.2, float("nan"), 0.4]
    b = [0.3, 0.5, 0.9, 0.6]
    res = paired_difference(a, b, n_bootstrap=200, seed=0)
    assert res["n"] == 3 and res["mean"] == pytest.approx((0.2 + 0.3 + 0.2) / 3)
    with pytest.raises(CamShareError):
        paired_difference([0.1], [0.1, 0.2], n_bootstrap=10, seed=0)
