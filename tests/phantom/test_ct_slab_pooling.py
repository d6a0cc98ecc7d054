"""The slab pooling of the CT route: the strided y-run reduction equals numpy's block reduce bit for bit,
and a resampled CT reuses the thin CT's pooled occupancy without changing its slabs."""
from __future__ import annotations

import numpy as np
import pytest

from sijscan.phantom.ct.projector import _pool, build_slabs


def _reference_pool(arr: np.ndarray, fy: int, fxz: int, *, y_max: bool = False) -> np.ndarray:
    """The block reduce as one 6-D reshape (the implementation before session 16)."""
    z, y, x = arr.shape[:3]
    z2, y2, x2 = z // fxz * fxz, y // fy * fy, x // fxz * fxz
    a = arr[:z2, :y2, :x2].astype(np.float32)
    a = a.reshape(z2 // fxz, fxz, y2 // fy, fy, x2 // fxz, fxz, *arr.shape[3:])
    a = (a.max(axis=3) if y_max else a.mean(axis=3)).mean(axis=(1, 4))
    return np.ascontiguousarray(np.moveaxis(a, 1, 0))


@pytest.mark.parametrize("fy,fxz", [(2, 1), (3, 1), (2, 2), (4, 3)])
def test_pool_is_bit_identical_to_the_block_reduce(fy, fxz):
    rng = np.random.default_rng(fy * 10 + fxz)
    vol = (rng.random((23, 31, 29)) * rng.random((23, 31, 29)) ** 3).astype(np.float32)  # uneven sizes: edges cut
    assert np.array_equal(_pool(vol, fy, fxz), _reference_pool(vol, fy, fxz))
    occ = (rng.random((23, 31, 29, 3)) < 0.2).astype(np.uint8) * 255
    assert np.array_equal(_pool(occ, fy, fxz, y_max=True), _reference_pool(occ, fy, fxz, y_max=True))


def test_pool_takes_the_largest_value_along_y_for_occupancy():
    occ = np.zeros((2, 4, 2, 3), np.uint8)
    occ[0, 1, 0, 2] = 255  # one voxel of a 2-voxel y-run inside
    pooled = _pool(occ, 2, 1, y_max=True)
    assert pooled.shape == (2, 2, 2, 3)
    assert pooled[0, 0, 0, 2] == 255 and pooled.sum() == 255


def test_reused_occupancy_gives_the_same_slabs():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, (20, 18, 22)).astype(np.uint8)
    labels[:, :, :3] = 0
    thin = np.where(labels > 0, 0.02, 0.0).astype(np.float32)
    thick = np.roll(thin, 1, axis=0) * 0.9  # a resampled copy: other bone, the same labels
    first = build_slabs(thin, labels, None, (1.0, 1.0, 1.0), fy=2)
    fresh = build_slabs(thick, labels, None, (1.0, 1.0, 1.0), fy=2)
    reused = build_slabs(thick, labels, None, (1.0, 1.0, 1.0), fy=2, occ=first.occ)
    assert np.array_equal(reused.occ, fresh.occ)
    assert np.array_equal(reused.bone, fresh.bone)
    assert np.array_equal(reused.boxes, fresh.boxes)


@pytest.mark.parametrize("label", [1, 2, 3])
def test_slab_boxes_cover_every_labelled_structure(label):
    labels = np.zeros((10, 4, 12), np.uint8)
    labels[2:5, :, 6:9] = label  # no bone value anywhere: the box must come from the labels alone
    slabs = build_slabs(np.zeros(labels.shape, np.float32), labels, None, (1.0, 1.0, 1.0), fy=2)
    assert slabs.boxes[0].tolist() == [2, 5, 6, 9]
