"""box_share_inside: the share of a true SIJ box's area inside the predicted crop, by hand."""
from __future__ import annotations

import math

import pytest

from sijscan.anatomy.metrics import box_share_inside


def test_box_share_by_hand() -> None:
    assert box_share_inside([0, 0, 10, 10], [2, 2, 6, 6]) == 1.0
    assert box_share_inside([0, 0, 4, 10], [2, 2, 6, 6]) == pytest.approx(0.5)  # half the width inside
    assert box_share_inside([0, 0, 4, 4], [2, 2, 6, 6]) == pytest.approx(0.25)
    assert box_share_inside([10, 10, 20, 20], [2, 2, 6, 6]) == 0.0  # disjoint
    assert box_share_inside(None, [2, 2, 6, 6]) == 0.0  # no crop at all
    assert math.isnan(box_share_inside([0, 0, 4, 4], None)) and math.isnan(box_share_inside([0, 0, 4, 4], [3, 3, 3, 9]))
