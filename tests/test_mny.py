"""The modified New York criterion over every grade pair, against its textual definition."""
from __future__ import annotations

import itertools

import pytest

from sijscan.mny import mny_positive


@pytest.mark.parametrize("left,right", list(itertools.product(range(5), range(5))))
def test_every_grade_pair(left, right):
    expected = (left >= 2 and right >= 2) or left >= 3 or right >= 3
    assert mny_positive(left, right) == int(expected)


@pytest.mark.parametrize("bad", [-1, 5, 2.5])
def test_out_of_range_grades_are_rejected(bad):
    with pytest.raises(ValueError):
        mny_positive(bad, 0)
