"""The CT route's synthetic spine and ribs: each piece's field evaluated in its own box gives the volume
of the whole-grid evaluation, voxel for voxel up to float rounding (the BLAS product in ``capsule``
may round a last bit differently on a sub-grid)."""
from __future__ import annotations

import numpy as np
import pytest

import sijscan.phantom.ct.spine as spine
from sijscan.phantom.ct.synthetic import toy_case


def _whole_grid(monkeypatch):
    monkeypatch.setattr(spine, "VERTEBRA_Z_REACH_MM", 1e6)
    monkeypatch.setattr(spine, "BOX_MARGIN_MM", 1e6)


def test_vertebrae_in_their_slabs_equal_the_whole_grid(monkeypatch):
    case = toy_case(spacing=2.0)
    boxed, o1 = spine.spine_volume(case, np.random.default_rng(1), levels=3)
    _whole_grid(monkeypatch)
    whole, o2 = spine.spine_volume(case, np.random.default_rng(1), levels=3)
    assert np.array_equal(o1, o2) and np.allclose(boxed, whole, rtol=0, atol=1e-3)
    assert np.count_nonzero(boxed) > 0.05 * boxed.size  # three vertebrae, not an empty grid


def test_a_rib_in_segment_boxes_equals_the_whole_grid(monkeypatch):
    joint = np.array([20.0, 30.0, 200.0])
    boxed, o1 = spine.rib_volume(joint, "left", sweep_rad=1.3, rng=np.random.default_rng(2))
    _whole_grid(monkeypatch)
    whole, o2 = spine.rib_volume(joint, "left", sweep_rad=1.3, rng=np.random.default_rng(2))
    assert np.array_equal(o1, o2) and np.allclose(boxed, whole, rtol=0, atol=1e-3) and boxed.max() > 1000


@pytest.mark.parametrize("lo, hi, expect", [(1.5, 3.0, slice(2, 4)), (-5.0, 0.0, slice(0, 1)), (10.0, 20.0, slice(5, 5))])
def test_slab_picks_the_planes_within_the_range(lo, hi, expect):
    assert spine._slab(np.arange(0.0, 5.0, 1.0), lo, hi) == expect
