"""Facts of the authors' SIJ region and crop (from their public app; published-pipeline.md), one test each.

Maps are in the DISPLAY frame; the authors work on the transposed one, which is what several of
these facts are about (their "width" is the display height, their fallback runs per display row).
"""
from __future__ import annotations

import numpy as np
import pytest

from sijscan.anatomy.crop import authors_crop, otsu_foreground_box
from sijscan.anatomy.localize_authors import authors_sij_region, median_height_strip
from sijscan.anatomy.segment import locate_authors


def _map(h: int = 80, w: int = 80) -> np.ndarray:
    return np.zeros((h, w), np.uint8)


def _with_sacrum(rows: tuple[int, int], cols: tuple[int, int], *, h: int = 80, w: int = 80) -> np.ndarray:
    lab = _map(h, w)
    lab[rows[0]:rows[1], cols[0]:cols[1]] = 1
    return lab


def test_width_is_the_vertical_extent_in_display_frame() -> None:
    # sacrum 6 columns wide, 41 rows high: their w = 40 (last - first) -> r = 2; a display-width w would give 0
    lab = _with_sacrum((10, 51), (30, 36))
    lab[20:30, 20:29] = 2  # ends at column 28: a gap of one column (29), reached with r >= 1
    lab[20:30, 37:45] = 3  # starts at column 37: a gap of one column (36)
    reg = authors_sij_region(lab)
    assert reg.radius == 2
    assert reg.fallback == {2: False, 3: False}
    assert reg.boxes[2] == [28, 20, 29, 30] and reg.boxes[3] == [37, 20, 38, 30]
    assert reg.box == [28, 20, 38, 30]


@pytest.mark.parametrize("extent, radius", [(50, 2), (70, 4), (30, 2), (10, 0)])
def test_radius_rounds_half_to_even(extent: int, radius: int) -> None:
    lab = _with_sacrum((5, 5 + extent + 1), (40, 44), h=90)
    lab[10:20, 30:38] = 2
    lab[10:20, 46:50] = 3
    assert authors_sij_region(lab).radius == radius  # 2.5 -> 2, 3.5 -> 4, 1.5 -> 2, 0.5 -> 0


def test_dilation_kernel_is_square() -> None:
    lab = _with_sacrum((10, 51), (30, 36))  # r = 2
    lab[8, 28] = 2  # diagonal (2, 2) from the sacrum's top-left corner: inside a square kernel only
    lab[20:30, 36:40] = 3
    reg = authors_sij_region(lab)
    assert reg.fallback[2] is False and reg.boxes[2] == [28, 8, 29, 9]


def test_largest_component_is_four_connected() -> None:
    lab = _with_sacrum((10, 51), (30, 36))
    lab[20:24, 29] = 2  # four pixels in the dilated band (r = 2: columns 28-29)...
    lab[24:26, 28] = 2  # ...and two more touching them only diagonally
    lab[30:40, 36:40] = 3
    reg = authors_sij_region(lab)
    assert reg.boxes[2] == [29, 20, 30, 24]  # 8-connectivity would give [28, 20, 30, 26]


def test_fallback_is_the_median_height_strip_of_the_transposed_mask() -> None:
    lab = _with_sacrum((10, 51), (40, 46))
    lab[20:30, 38:40] = 3  # in contact
    lab[30:50, 5:15] = 2  # far away: no contact -> fallback
    reg = authors_sij_region(lab)
    assert reg.fallback == {2: True, 3: False}
    # transposed columns = display rows 30..49, each run spans display columns 5..14 (height 10):
    # strips over columns col-5 .. col+4 of the transposed frame -> display rows 25..53, columns 5..14
    assert reg.boxes[2] == [5, 25, 15, 54]


def test_median_height_strip_absent_class_is_none() -> None:
    assert median_height_strip(np.zeros((10, 10), bool)) is None


def test_missing_structures_give_no_box_and_no_crash() -> None:
    lab = _with_sacrum((10, 51), (40, 46))
    lab[20:30, 46:50] = 3  # class 2 absent: their fallback returns None and their code fails
    reg = authors_sij_region(lab)
    assert reg.box is None and reg.boxes[2] is None and reg.boxes[3] is not None
    assert authors_sij_region(_map()).box is None  # no sacrum at all
    loc = locate_authors(lab)
    assert loc.box is None and "one_hip_bone" in loc.qc_flags


def test_locate_authors_names_sides_by_position() -> None:
    lab = _with_sacrum((10, 51), (30, 36))
    lab[20:30, 36:45] = 2  # class 2 on the image's right here
    lab[20:30, 20:30] = 3
    loc = locate_authors(lab)
    assert loc.boxes["image_left"][0] < loc.boxes["image_right"][0]
    assert loc.label_shape == (80, 80)


def test_authors_crop_thresholds_the_whole_zeroed_image() -> None:
    img = np.full((60, 80), 250, np.uint8)  # bright outside the box: zeroed first, so it never counts
    img[10:40, 20:60] = 12  # a dark rim inside the box...
    img[15:35, 25:55] = 200  # ...around the bright joint region
    crop, box = authors_crop(img, [20, 10, 60, 40])
    assert box == [25, 15, 55, 35] and crop.shape == (20, 30) and int(crop.min()) == 200
    # the zeros outside the box take part in the threshold: a rim of 100 is then foreground (a
    # threshold over the box alone would split 100 from 200 and trim it)
    img[10:40, 20:60] = 100
    img[15:35, 25:55] = 200
    assert authors_crop(img, [20, 10, 60, 40])[1] == [20, 10, 60, 40]


def test_authors_crop_uses_itk_otsu_not_skimage() -> None:
    from skimage.filters import threshold_otsu

    img = np.zeros((64, 64), np.uint8)
    img[8:56, 8:56] = 100
    img[20:44, 8:56] = 200
    img[8:10, 8:56] = 77  # ITK's threshold here is 77 (values <= it are background); scikit-image's is 0
    assert otsu_foreground_box(img) == [8, 10, 56, 56]
    assert int(img[8, 8]) > threshold_otsu(img)  # scikit-image would keep rows 8-9


def test_authors_crop_black_box_falls_back_to_the_box() -> None:
    img = np.full((20, 20), 90, np.uint8)
    img[5:10, 5:10] = 0
    crop, box = authors_crop(img, [5, 5, 10, 10])
    assert box == [5, 5, 10, 10] and crop.shape == (5, 5)
