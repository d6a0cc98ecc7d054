"""SIJ localisation: the paper's method against an independent computation, and every QC path."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
from scipy import ndimage

from sijscan.anatomy.localize import locate_sij
from sijscan.errors import InputError

DrawFn = Callable[..., np.ndarray]

def _expected_joint_boxes(lab: np.ndarray, frac: float = 0.05) -> dict[str, list[int]]:
    """Independent re-computation: explicit max filter for the dilation, per-class intersections."""
    sac = lab == 1
    xs = np.nonzero(sac.any(axis=0))[0]
    r = max(1, int(round(frac * (xs.max() - xs.min() + 1))))
    dil = ndimage.maximum_filter(sac.astype(np.uint8), size=2 * r + 1, mode="constant") > 0
    out = {}
    for cls, side in ((2, "image_left"), (3, "image_right")):
        inter = dil & (lab == cls)
        lab_cc, n = ndimage.label(inter, structure=np.ones((3, 3)))
        sizes = ndimage.sum(inter, lab_cc, range(1, n + 1))
        keep = lab_cc == (int(np.argmax(sizes)) + 1)
        ys, xs = np.nonzero(keep)
        out[side] = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    return out


def test_normal_pelvis_matches_independent_computation(pelvis: np.ndarray) -> None:
    loc = locate_sij(pelvis, margin_frac=0.0)
    exp = _expected_joint_boxes(pelvis)
    assert loc.qc_flags == []
    assert not loc.fallback_used and loc.confidence == 1.0 and loc.ok
    assert loc.boxes == exp
    union = [min(exp["image_left"][0], exp["image_right"][0]), min(exp["image_left"][1], exp["image_right"][1]),
             max(exp["image_left"][2], exp["image_right"][2]), max(exp["image_left"][3], exp["image_right"][3])]
    assert loc.box == union
    # Joints are where the wedge meets the hip bones: left of / right of the image centre.
    assert loc.boxes["image_left"][2] <= 120 <= loc.boxes["image_right"][0]


def test_margin_widens_box_and_clips(pelvis: np.ndarray) -> None:
    tight = locate_sij(pelvis, margin_frac=0.0).box
    wide = locate_sij(pelvis, margin_frac=0.2).box
    bw, bh = tight[2] - tight[0], tight[3] - tight[1]
    assert wide == [tight[0] - round(0.2 * bw), tight[1] - round(0.2 * bh), tight[2] + round(0.2 * bw), tight[3] + round(0.2 * bh)]
    huge = locate_sij(pelvis, margin_frac=10.0).box
    assert huge == [0, 0, pelvis.shape[1], pelvis.shape[0]]


def test_hip_classes_swapped_gives_same_sides(pelvis: np.ndarray) -> None:
    swapped = pelvis.copy()
    swapped[pelvis == 2], swapped[pelvis == 3] = 3, 2
    assert locate_sij(swapped).boxes == locate_sij(pelvis).boxes


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.float32])
def test_blank_map_never_crashes(dtype: type) -> None:
    loc = locate_sij(np.zeros((64, 80), dtype))
    assert loc.box is None and loc.confidence == 0.0
    assert {"no_sacrum", "no_hip_bones", "low_confidence"} <= set(loc.qc_flags)


def test_noise_map_is_flagged_not_crashed() -> None:
    rng = np.random.default_rng(3)
    loc = locate_sij(rng.integers(0, 4, (96, 96)))
    assert "fragmented_mask" in loc.qc_flags and "low_confidence" in loc.qc_flags
    assert not loc.ok


def test_nan_and_odd_labels_do_not_crash(pelvis: np.ndarray) -> None:
    lab = pelvis.astype(np.float32)
    lab[:5, :5] = np.nan
    lab[-3:, -3:] = 9
    assert locate_sij(lab).boxes == locate_sij(pelvis).boxes


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3)), np.zeros(10), np.zeros((0, 5)), np.array([["a"]])])
def test_non_2d_input_is_an_input_error(bad: np.ndarray) -> None:
    with pytest.raises(InputError):
        locate_sij(bad)


def test_sacrum_removed_uses_hip_gap_fallback(draw: DrawFn) -> None:
    lab = draw(sacrum=False)
    loc = locate_sij(lab, margin_frac=0.0)
    assert "no_sacrum" in loc.qc_flags and loc.fallback_used and "low_confidence" in loc.qc_flags
    assert any(n.startswith("hip_gap") for n in loc.notes)
    left_edge = np.nonzero((lab == 2).any(axis=0))[0].max() + 1
    right_edge = np.nonzero((lab == 3).any(axis=0))[0].min()
    assert loc.boxes["image_left"][2] == left_edge and loc.boxes["image_right"][0] == right_edge


@pytest.mark.parametrize("missing,present", [(3, "image_left"), (2, "image_right")])
def test_one_hip_bone_mirrors_the_other_side(pelvis: np.ndarray, missing: int, present: str) -> None:
    full = locate_sij(pelvis, margin_frac=0.0)
    lab = pelvis.copy()
    lab[lab == missing] = 0
    loc = locate_sij(lab, margin_frac=0.0)
    assert {"one_hip_bone", "no_joint_contact"} <= set(loc.qc_flags)
    assert loc.fallback_used and any(n.startswith("mirror") for n in loc.notes)
    other = "image_right" if present == "image_left" else "image_left"
    assert loc.boxes[present] == full.boxes[present]
    # the drawing is symmetric to within rounding: the mirrored box lands on the true joint
    assert np.abs(np.array(loc.boxes[other]) - np.array(full.boxes[other])).max() <= 3


def test_no_hip_contact_uses_sacrum_margin_fallback(draw: DrawFn) -> None:
    lab = draw()
    sac = lab == 1
    grown = ndimage.binary_dilation(sac, iterations=15)
    lab[grown & ~sac] = 0  # hip bones pulled away from the sacrum
    loc = locate_sij(lab, margin_frac=0.0)
    assert "no_joint_contact" in loc.qc_flags and loc.fallback_used
    assert any(n.startswith("sacrum_margin") for n in loc.notes)
    xs = np.nonzero(sac.any(axis=0))[0]
    assert loc.boxes["image_left"][0] < xs.min() < loc.boxes["image_left"][2]
    assert loc.boxes["image_right"][0] < xs.max() + 1 <= loc.boxes["image_right"][2]


def test_only_sacrum_and_nothing_else(pelvis: np.ndarray) -> None:
    lab = (pelvis == 1).astype(np.uint8)
    loc = locate_sij(lab)
    assert "no_hip_bones" in loc.qc_flags and "low_confidence" in loc.qc_flags


@pytest.mark.parametrize("k", [1, 3])
def test_rotated_map_is_implausible(pelvis: np.ndarray, k: int) -> None:
    loc = locate_sij(np.rot90(pelvis, k))
    assert "implausible_geometry" in loc.qc_flags and not loc.ok


def test_upside_down_map_is_implausible(pelvis: np.ndarray) -> None:
    loc = locate_sij(np.flipud(pelvis))
    assert "implausible_geometry" in loc.qc_flags
    assert any("lower part" in n for n in loc.notes)


def test_off_centre_sacrum_and_asymmetric_hips(pelvis: np.ndarray) -> None:
    shifted = np.zeros_like(pelvis)
    shifted[:, :-90] = pelvis[:, 90:]
    assert "implausible_geometry" in locate_sij(shifted).qc_flags
    small = pelvis.copy()
    small[(pelvis == 3) & (np.arange(pelvis.shape[0])[:, None] > 80)] = 0
    assert "implausible_geometry" in locate_sij(small).qc_flags


def test_fragmented_mask_flag(pelvis: np.ndarray) -> None:
    lab = pelvis.copy()
    lab[150:190, 5:40] = 1  # a large stray sacrum blob
    loc = locate_sij(lab)
    assert "fragmented_mask" in loc.qc_flags
    assert loc.boxes == locate_sij(pelvis).boxes  # the largest component still decides
