"""Segmenter augmentation (sijscan.anatomy.augment): alignment, every family applied, seeds, mixing."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from sijscan.anatomy.augment import STRONG_PROBS, apply_strong, mixing_sampler, strong_transform
from sijscan.errors import InputError

torch.set_num_threads(1)
S = 96
OFF = {k: 0.0 for k in STRONG_PROBS}


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    """A known shape (an L of label 1, a disc of label 2) on a smooth, z-scored intensity ramp."""
    y = np.zeros((S, S), np.int64)
    y[20:60, 25:35] = 1
    y[50:60, 25:55] = 1
    yy, xx = np.mgrid[:S, :S]
    y[(yy - 30) ** 2 + (xx - 68) ** 2 < 12 ** 2] = 2
    ramp = (xx + 0.5 * yy) / (1.5 * S)
    x = 0.3 * ramp + 0.5 * (y == 1) + 0.8 * (y == 2)
    x = (x - x.mean()) / x.std()
    return torch.from_numpy(x.astype(np.float32))[None], torch.from_numpy(y)[None]


def _only(family: str, seed: int = 0):
    return strong_transform(S, seed=seed, probs={**OFF, family: 1.0})


def _hf(x: torch.Tensor) -> float:
    """High-frequency energy: mean squared Laplacian over a patch of smooth ramp (no edges)."""
    return float(np.mean(ndimage.laplace(x[0].numpy().astype(np.float64))[70:94, 4:20] ** 2))


@pytest.mark.parametrize("family", ["affine", "elastic"])
def test_spatial_families_move_image_and_mask_identically(family: str) -> None:
    _, y = _pair()
    raw = y.float()  # image level = class (0, 1, 2): where the image shows a level, the mask has that class
    x = (raw - raw.mean()) / raw.std()
    for seed in range(4):
        xa, ya = apply_strong(_only(family, seed), x, y)
        assert not torch.equal(ya, y), "the spatial transform did not move the mask"
        assert set(ya.unique().tolist()) <= {0, 1, 2}
        # the final z-score moves the levels (the area in view changed): read them off the moved image
        levels = {c: float(xa[0][ya[0] == c].median()) for c in (1, 2)}
        gap = levels[2] - levels[1]
        assert gap > 0.5
        for cls, level in levels.items():
            shown = (xa[0] - level).abs() < 0.25 * gap

            def iou(mask: torch.Tensor) -> float:
                return float((shown & mask).sum()) / float((shown | mask).sum())

            aligned = iou(ya[0] == cls)
            assert aligned > 0.85, (family, seed, cls, aligned)
            assert iou(y[0] == cls) < aligned - 0.05  # the shape did move
            for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):  # a one-pixel slip would fit worse
                assert iou(torch.roll(ya[0], (dy, dx), (0, 1)) == cls) < aligned, (family, seed, cls, dy, dx)


@pytest.mark.parametrize("family", sorted(STRONG_PROBS))
def test_each_family_is_applied(family: str) -> None:
    x, y = _pair()
    base, _ = apply_strong(strong_transform(S, seed=0, probs=OFF), x, y)  # everything off: z-score only
    assert torch.allclose(base, x, atol=1e-4)
    xa, ya = apply_strong(_only(family), x, y)
    assert not torch.allclose(xa, base, atol=1e-3), f"{family} changed nothing"
    a, b = base[0].numpy().ravel(), xa[0].numpy().ravel()
    if family in ("affine", "elastic", "mirror"):
        assert not torch.equal(ya, y)
        return
    if family == "collimate":  # a geometric cut: checked in test_collimate_cuts_image_and_mask_at_one_edge
        return
    assert torch.equal(ya, y), f"{family} is an appearance family: the mask must not change"
    if family == "invert":
        assert np.corrcoef(a, b)[0, 1] < -0.99
    elif family in ("gamma", "histogram"):  # monotone, non-linear remap: order kept, shape of values not
        assert np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1] > 0.99
        assert np.corrcoef(a, b)[0, 1] < 0.9999
    elif family == "noise":
        assert _hf(xa) > 10 * _hf(base) + 1e-6
    elif family in ("sharpen", "blur"):  # across the bones' edges: steeper or softer
        edge = np.abs(np.diff(xa[0].numpy(), axis=1)).max() / np.abs(np.diff(base[0].numpy(), axis=1)).max()
        assert edge > 1.2 if family == "sharpen" else edge < 0.8
    elif family == "erase":  # rectangles refilled; the z-score after them rescales the rest linearly
        keep = np.ones_like(a, bool)
        for _ in range(3):  # robust linear fit b ~ a over the pixels the holes left alone
            slope, icpt = np.polyfit(a[keep], b[keep], 1)
            keep = np.abs(b - (slope * a + icpt)) < 0.05
        changed = ~keep.reshape(S, S)
        assert 0.005 < changed.mean() < 0.5
    elif family == "contrast":
        assert abs(b.std() - 1.0) > 0.01 and abs(b.mean()) < 1e-3
    elif family == "brightness":
        assert abs(b.mean()) > 0.01 and abs(b.std() - 1.0) < 1e-3


def test_collimate_cuts_image_and_mask_at_one_edge() -> None:
    """Beyond the collimated edge(s) the image is flat (the unexposed detector, its maximum) and the mask is
    background; inside, both are as they were. Off (probability 0) the family is not in the chain at all, so
    a recipe without it draws exactly what it drew before the option existed."""
    x, y = _pair()
    n_cut = 0
    for seed in range(6):
        xa, ya = apply_strong(_only("collimate", seed), x, y)
        flat = xa[0] == xa[0].max()
        rows, cols = (~flat).any(dim=1), (~flat).any(dim=0)  # the field: rows and columns with image left
        r0, r1 = int(rows.nonzero().min()), int(rows.nonzero().max()) + 1
        c0, c1 = int(cols.nonzero().min()), int(cols.nonzero().max()) + 1
        assert (r0, S - r1, c0, S - c1) != (0, 0, 0, 0), "no edge was collimated"
        assert all(0 <= d <= round(0.35 * S) for d in (r0, S - r1, c0, S - c1))
        outside = torch.ones(S, S, dtype=torch.bool)
        outside[r0:r1, c0:c1] = False
        assert flat[outside].all() and (ya[0][outside] == 0).all()
        assert torch.equal(ya[0][r0:r1, c0:c1], y[0][r0:r1, c0:c1])
        base = x[0][r0:r1, c0:c1]  # inside: the z-scored image up to the final z-score's linear rescale
        assert np.corrcoef(base.numpy().ravel(), xa[0][r0:r1, c0:c1].numpy().ravel())[0, 1] > 0.999
        n_cut += int((y[0][outside] > 0).any())
    assert n_cut >= 1, "no draw cut through the bone"
    names = [type(t).__name__ for t in strong_transform(S, seed=0).transforms]
    assert "RandCollimated" not in names
    assert names == [type(t).__name__ for t in strong_transform(S, seed=0, probs={"collimate": 0.0}).transforms]
    with_it = [type(t).__name__ for t in strong_transform(S, seed=0, probs={"collimate": 0.3}).transforms]
    assert with_it.count("RandCollimated") == 1 and len(with_it) == len(names) + 1


def test_mirror_flips_and_swaps_the_hip_labels() -> None:
    x, y = _pair()
    y = y.clone()
    y[0, 70:80, 60:90] = 3  # a label-3 bar on the image's right
    xa, ya = apply_strong(_only("mirror"), x, y)
    assert torch.allclose(xa, torch.flip(x, dims=(-1,)), atol=1e-5)
    flipped = torch.flip(y, dims=(-1,))
    assert torch.equal(ya == 1, flipped == 1)
    assert torch.equal(ya == 2, flipped == 3) and torch.equal(ya == 3, flipped == 2)
    assert (ya == 2).any() and (ya == 3).any()


def test_strong_is_deterministic_under_a_seed() -> None:
    x, y = _pair()
    outs = []
    for seed in (3, 3, 4):
        t = strong_transform(S, seed=seed, probs={k: 1.0 for k in STRONG_PROBS})
        outs.append([apply_strong(t, x, y) for _ in range(3)])  # a stream of draws, as over an epoch
    for (xa, ya), (xb, yb) in zip(outs[0], outs[1]):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(outs[0][0][0], outs[2][0][0])
    assert not torch.equal(outs[0][0][0], outs[0][1][0])  # successive draws differ


def test_unknown_family_is_refused() -> None:
    with pytest.raises(InputError, match="unknown augmentation family: colour"):
        strong_transform(S, probs={"colour": 1.0})


def test_mixing_sampler_draws_the_weighted_share() -> None:
    s = mixing_sampler(300, 30, weight=0.4, seed=0)
    idx = np.array(list(iter(s)))
    assert len(idx) == 330
    assert abs((idx >= 300).mean() - 0.4) < 0.07
    assert np.array_equal(idx, np.array(list(iter(mixing_sampler(300, 30, weight=0.4, seed=0)))))
    with pytest.raises(InputError, match="extra_weight"):
        mixing_sampler(3, 3, weight=1.0, seed=0)


def test_apply_strong_leaves_monai_metadata_tracking_as_it_was() -> None:
    from monai.data import get_track_meta, set_track_meta

    x, y = _pair()
    everything = {k: 1.0 for k in STRONG_PROBS}
    with_meta = strong_transform(S, seed=5, probs=everything)  # the chain as MONAI runs it by default
    ref = with_meta({"image": x.float(), "label": y.float()})
    xa, ya = apply_strong(strong_transform(S, seed=5, probs=everything), x, y)
    assert torch.equal(torch.as_tensor(ref["image"]).float(), xa)  # same tensors without the metadata
    assert torch.equal(torch.as_tensor(ref["label"]).round().long(), ya)
    t = strong_transform(S, seed=5, probs={k: 1.0 for k in STRONG_PROBS})
    for state in (True, False):
        set_track_meta(state)
        try:
            apply_strong(t, x, y)
            assert get_track_meta() is state
        finally:
            set_track_meta(True)
