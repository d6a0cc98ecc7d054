"""Cropping the SIJ region from a full-resolution image with a box found on a smaller map."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from sijscan.anatomy.crop import SIJNotFoundError, crop_sij, scale_box
from sijscan.anatomy.localize import SIJLocation, locate_sij
from sijscan.errors import InputError

DrawFn = Callable[..., np.ndarray]

def _loc(box: list[int] | None, shape: tuple[int, int] = (50, 60)) -> SIJLocation:
    return SIJLocation(box=box, boxes={}, qc_flags=[], fallback_used=False, confidence=1.0, label_shape=shape)


def test_scale_box_maps_pixel_edges() -> None:
    assert scale_box([10, 5, 20, 15], from_shape=(50, 60), to_shape=(200, 240)) == [40, 20, 80, 60]
    assert scale_box([1, 1, 2, 2], from_shape=(3, 3), to_shape=(10, 10)) == [3, 3, 7, 7]  # outward rounding
    assert scale_box([0, 0, 60, 50], from_shape=(50, 60), to_shape=(7, 9)) == [0, 0, 9, 7]
    with pytest.raises(InputError):
        scale_box([1, 1, 2, 2], from_shape=(0, 3), to_shape=(3, 3))


def test_crop_from_full_resolution_image() -> None:
    img = np.arange(200 * 240, dtype=np.float32).reshape(200, 240)
    out = crop_sij(img, _loc([10, 5, 20, 15]))
    np.testing.assert_array_equal(out, img[20:60, 40:80])
    np.testing.assert_array_equal(crop_sij(img, _loc([10, 5, 20, 15]), label_shape=(200, 240)), img[5:15, 10:20])


def test_full_view_returns_whole_image_even_without_box() -> None:
    img = np.random.default_rng(0).random((30, 40))
    assert crop_sij(img, None, view="full") is img
    with pytest.raises(InputError):
        crop_sij(img, None, view="side")  # type: ignore[arg-type]


def test_missing_box_raises_specific_error() -> None:
    loc = locate_sij(np.zeros((20, 20), np.uint8))
    with pytest.raises(SIJNotFoundError, match="no_sacrum"):
        crop_sij(np.ones((40, 40)), loc)


def test_paper_variant_zeroes_outside_and_otsu_trims() -> None:
    img = np.full((100, 100), 0.5, np.float32)
    img[25:30, :] = 0.02  # a dark (air) rim at the top of the box
    out = crop_sij(img, _loc([10, 25, 90, 75], (100, 100)), paper_variant=True)
    np.testing.assert_array_equal(out, np.rint(img * 255).astype(np.uint8)[30:75, 10:90])  # cut from 8 bits
    plain = crop_sij(img, _loc([10, 25, 90, 75], (100, 100)))
    assert plain.shape == (50, 80)


def test_end_to_end_on_drawn_pelvis_upscaled(draw: DrawFn) -> None:
    lab = draw(100, 120)
    big = np.kron(lab, np.ones((4, 4), np.uint8)).astype(np.float32)
    loc = locate_sij(lab, margin_frac=0.0)
    crop = crop_sij(big, loc)
    assert crop.shape == ((loc.box[3] - loc.box[1]) * 4, (loc.box[2] - loc.box[0]) * 4)
    assert set(np.unique(crop)) >= {1.0, 2.0, 3.0}  # both joints and the sacrum inside


def _two_joint_location(k: int = 1) -> SIJLocation:
    """Joint boxes on a (100, 200) map, or on a map ``k`` times smaller."""
    boxes = {"image_left": [40 // k, 30 // k, 60 // k, 70 // k], "image_right": [140 // k, 20 // k, 160 // k, 70 // k]}
    return SIJLocation(box=[30 // k, 15 // k, 170 // k, 75 // k], boxes=boxes, qc_flags=[], fallback_used=False,
                       confidence=1.0, label_shape=(100 // k, 200 // k))


def test_joint_pair_crop_puts_both_joints_side_by_side_in_one_orientation() -> None:
    from sijscan.anatomy.crop import JOINT_TILE_ASPECT, JOINT_TILE_SCALE, joint_pair_crop

    img = np.zeros((100, 200), np.float32)
    img[40:60, 45:50] = 1.0  # a mark lateral (image-left) in the image-left joint
    img[40:60, 145:150] = 2.0  # a mark medial (left of its centre) in the image-right joint
    out = joint_pair_crop(img, _two_joint_location())
    h = round(JOINT_TILE_SCALE * 50)  # the taller box: 50 px
    w = round(JOINT_TILE_ASPECT * h)
    assert out.shape == (h, 2 * w)
    left, right = out[:, :w], out[:, w:]
    # the image-left joint unchanged: its mark left of the tile's centre
    assert np.argwhere(left == 1.0)[:, 1].max() < w // 2
    # the image-right joint mirrored: its medial (left-in-image) mark now right of the centre
    assert np.argwhere(right == 2.0)[:, 1].min() > w // 2


def test_joint_pair_crop_scales_boxes_and_needs_both_sides() -> None:
    from sijscan.anatomy.crop import joint_pair_crop

    loc = _two_joint_location(k=2)  # boxes found on a half-size map
    out = joint_pair_crop(np.zeros((100, 200), np.float32), loc)
    assert out.shape[0] == round(1.3 * 50)  # boxes scaled to the image: the 25 px box is 50 px there
    loc.boxes["image_right"] = None
    with pytest.raises(SIJNotFoundError):
        joint_pair_crop(np.zeros((100, 200), np.float32), loc)


def test_joints_span_tiles_follow_the_span_between_the_joints_not_their_height() -> None:
    """Crop "joints_span": tile height = JOINT_SPAN_SCALE x the distance between the boxes' centres, so
    a shorter joint at the same span gets the same tile (crop "joints" shrinks it)."""
    from sijscan.anatomy.crop import JOINT_SPAN_SCALE, cut_view, joint_pair_crop

    img = np.zeros((100, 200), np.float32)
    loc = _two_joint_location()  # centres (50, 50) and (150, 45): span hypot(100, 5)
    span = float(np.hypot(100, 5))
    out = cut_view(img, loc, crop="joints_span")
    assert out.shape[0] == round(JOINT_SPAN_SCALE * span)
    shorter = _two_joint_location()
    shorter.boxes = {"image_left": [40, 40, 60, 60], "image_right": [140, 35, 160, 55]}  # half the height, same centres
    assert joint_pair_crop(img, shorter, crop="joints_span").shape == out.shape
    assert joint_pair_crop(img, shorter, crop="joints").shape[0] < joint_pair_crop(img, loc, crop="joints").shape[0]
    half = _two_joint_location(k=2)  # found on a half-size map: scaled to the image first
    assert abs(joint_pair_crop(img, half, crop="joints_span").shape[0] - out.shape[0]) <= 2
    with pytest.raises(InputError, match="joint-pair crop"):
        joint_pair_crop(img, loc, crop="box")


def test_joints_wide_tiles_hold_more_bone_around_the_same_joints() -> None:
    """Crop "joints_wide": tile height = JOINT_WIDE_SCALE x the taller box (crop "joints": JOINT_TILE_SCALE),
    centred on the same joints, so the joints' own pixels are the middle of the wider tile."""
    from sijscan.anatomy.crop import JOINT_TILE_SCALE, JOINT_WIDE_SCALE, cut_view

    img = np.random.default_rng(0).random((100, 200)).astype(np.float32)
    loc = _two_joint_location()  # the taller box 50 px
    narrow, wide = cut_view(img, loc, crop="joints"), cut_view(img, loc, crop="joints_wide")
    assert narrow.shape[0] == round(JOINT_TILE_SCALE * 50) and wide.shape[0] == round(JOINT_WIDE_SCALE * 50)
    assert JOINT_WIDE_SCALE > JOINT_TILE_SCALE
    (hn, wn), (hw, ww) = (narrow.shape[0], narrow.shape[1] // 2), (wide.shape[0], wide.shape[1] // 2)
    dy, dx = hw // 2 - hn // 2, ww // 2 - wn // 2  # both tiles centred on the same joint
    for t in (0, 1):  # the image-left joint, then the image-right one (mirrored in both crops)
        inner = wide[:, t * ww:(t + 1) * ww]
        if t:  # mirrored tiles: the offset counts from the other edge
            inner = inner[:, ::-1]
            assert np.array_equal(inner[dy:dy + hn, dx:dx + wn][:, ::-1], narrow[:, wn:])
        else:
            assert np.array_equal(inner[dy:dy + hn, dx:dx + wn], narrow[:, :wn])


def test_every_place_offering_a_crop_offers_the_same_crops(capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI spells the crops out (to register lightly); the card and the study config take them from here."""
    from sijscan.anatomy.crop import CROPS
    from sijscan.classify.card import CROPS as CARD_CROPS
    from sijscan.cli.main import main

    assert CARD_CROPS == (*CROPS, "authors_otsu")
    assert main(["train-classifier", "--help"]) == 0
    assert "{" + ",".join(CROPS) + "}" in capsys.readouterr().out
