"""Dice / hit-rate metrics by hand, and localisation against the phantom's true SIJ boxes."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from sijscan.anatomy.localize import locate_sij
from sijscan.anatomy.metrics import box_contains, dice, dice_per_structure, sij_hit, summarise

def test_dice_by_hand() -> None:
    a = np.zeros((4, 4), int)
    b = np.zeros((4, 4), int)
    a[:2, :2] = 1
    b[:2, :3] = 1
    assert dice(a, b, label=1) == pytest.approx(2 * 4 / (4 + 6))
    assert math.isnan(dice(a, b, label=2))


def test_dice_per_structure_matches_hips_by_side(pelvis: np.ndarray) -> None:
    swapped = pelvis.copy()
    swapped[pelvis == 2], swapped[pelvis == 3] = 3, 2
    d = dice_per_structure(swapped, pelvis)
    assert d == {"sacrum": 1.0, "hip_image_left": 1.0, "hip_image_right": 1.0}
    no_hip = pelvis.copy()
    no_hip[no_hip == 3] = 0
    assert dice_per_structure(no_hip, pelvis)["hip_image_right"] == 0.0


def test_hit_and_summary() -> None:
    assert box_contains([0, 0, 10, 10], [2, 2, 10, 10]) and not box_contains([0, 0, 10, 10], [2, 2, 11, 10])
    assert box_contains([0, 0, 10, 10], [2, 2, 11, 10], tol=1)
    assert sij_hit([0, 0, 10, 10], [[1, 1, 3, 3], [5, 5, 9, 9]])
    assert not sij_hit(None, [[1, 1, 3, 3]]) and not sij_hit([0, 0, 10, 10], [[1, 1, 3, 3], [5, 5, 19, 9]])
    s = summarise([{"dice": {"sacrum": 1.0}, "sij_hit": True}, {"dice": {"sacrum": float("nan")}, "sij_hit": False}])
    assert s["dice_mean"]["sacrum"] == 1.0 and s["sij_hit_rate"] == 0.5


def _phantom_available() -> bool:
    try:
        from sijscan.phantom.simulate import simulate_cohort  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _phantom_available(), reason="sijscan.phantom.simulate not available")
def test_localisation_on_phantom_truth_contains_true_joints(tmp_path: Path) -> None:
    import pandas as pd

    from sijscan.phantom.simulate import simulate_cohort

    manifest = simulate_cohort("proof", n=3, seed=4, out_dir=tmp_path, size=256, fmt="png", followup=False, workers=1)
    df = pd.read_csv(manifest)
    for _, row in df.iterrows():
        mask = cv2.imread(str(tmp_path / row["mask"]), cv2.IMREAD_UNCHANGED)
        loc = locate_sij(mask)
        true = [[int(v) for v in row[f"sij_box_{s}"].split()] for s in ("image_left", "image_right")]
        assert loc.qc_flags == [], row["image"]
        assert sij_hit(loc.box, true), (row["image"], loc.box, true)
        # the phantom's image-left hip bone is class 2, as sijscan's convention says
        assert loc.boxes["image_left"][0] < loc.boxes["image_right"][0]
