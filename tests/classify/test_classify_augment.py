"""Batch augmentation: flips swap the per-side grade targets; the affine keeps zero padding."""
from __future__ import annotations

import torch

from sijscan.classify.augment import AugmentSpec, apply_affines, augment_batch, random_affines

torch.set_num_threads(1)


def _asymmetric_batch(n: int) -> torch.Tensor:
    x = torch.zeros(n, 1, 16, 24)
    x[:, :, 4:12, 2:6] = 1.0  # a bright block on the image's left only
    x += torch.linspace(0, 0.1, n)[:, None, None, None]
    return x


def test_forced_hflip_mirrors_and_swaps_grades() -> None:
    spec = AugmentSpec(p_hflip=1.0, p_vflip=0, p_rotation=0, p_zoom=0, p_shear=0)
    x = _asymmetric_batch(3)
    grades = torch.tensor([[0, 3], [4, 1], [2, 2]])  # patient (left, right)
    out, g = augment_batch(x, grades, spec)
    assert torch.allclose(out, x.flip(-1), atol=1e-5)
    assert torch.equal(g, grades.flip(-1))


def test_random_flips_swap_exactly_the_flipped_rows() -> None:
    torch.manual_seed(3)
    spec = AugmentSpec(p_hflip=0.5, p_vflip=0.5, p_rotation=0, p_zoom=0, p_shear=0)
    x = _asymmetric_batch(32)
    grades = torch.stack([torch.arange(32) % 5, torch.full((32,), 9)], 1)
    out, g = augment_batch(x, grades, spec)
    left_mass, right_mass = out[..., :12].sum((1, 2, 3)), out[..., 12:].sum((1, 2, 3))
    flipped = right_mass > left_mass  # the block moved to the right half
    assert 0 < int(flipped.sum()) < 32
    assert torch.equal(g[flipped], grades[flipped].flip(-1))
    assert torch.equal(g[~flipped], grades[~flipped])


def test_vflip_does_not_swap_sides() -> None:
    spec = AugmentSpec(p_hflip=0.0, p_vflip=1.0, p_rotation=0, p_zoom=0, p_shear=0)
    x = _asymmetric_batch(2)
    grades = torch.tensor([[0, 3], [4, 1]])
    out, g = augment_batch(x, grades, spec)
    assert torch.allclose(out, x.flip(-2), atol=1e-5) and torch.equal(g, grades)


def test_affine_ranges_and_zero_padding() -> None:
    torch.manual_seed(0)
    spec = AugmentSpec(p_hflip=0, p_vflip=0, p_rotation=1.0, p_zoom=1.0, p_shear=1.0)
    theta, _ = random_affines(500, spec)
    det = torch.linalg.det(theta[:, :, :2])
    # output->input matrix: det = 1 / zoom^2 (rotation and shear have det 1)
    zoom = det.rsqrt()
    assert float(zoom.min()) >= 0.9 - 1e-4 and float(zoom.max()) <= 1.1 + 1e-4
    rot_spec = AugmentSpec(p_hflip=0, p_vflip=0, max_rotation_rad=0.175, p_rotation=1.0, p_zoom=0, p_shear=0)
    theta, _ = random_affines(200, rot_spec, size_hw=(20, 60))
    # in pixel geometry a pure rotation: S theta S^-1 is orthonormal
    s = torch.diag(torch.tensor([60.0, 20.0]))
    pix = s @ theta[:, :, :2] @ torch.linalg.inv(s)
    assert torch.allclose(pix @ pix.transpose(1, 2), torch.eye(2).expand(200, 2, 2), atol=1e-5)
    ones = torch.ones(1, 1, 20, 60)
    out = apply_affines(ones, theta[:1])
    assert float(out[0, 0, 0, 0]) < 0.5 or float(out[0, 0, 0, -1]) < 0.5  # a rotated corner leaves the image
    assert float(out[0, 0, 10, 30]) > 0.99 and float(out.min()) == 0.0  # zero padding


def test_appearance_randomisation_is_off_by_default_and_on_when_asked() -> None:
    from sijscan.classify.augment import APPEARANCE, AugmentSpec, randomise_appearance

    x = torch.rand(6, 1, 12, 16)
    assert randomise_appearance(x, AugmentSpec()) is x  # the paper's recipe: untouched (and no draws)
    sq = randomise_appearance(x, AugmentSpec(p_gamma=1.0, gamma_range=(2.0, 2.0)))
    assert torch.allclose(sq, x ** 2, atol=1e-6)
    g = torch.Generator().manual_seed(0)
    y = randomise_appearance(x, AugmentSpec(**APPEARANCE), generator=g)
    assert y.shape == x.shape and float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert not torch.allclose(y, x)
    # blur only: a blurred image keeps its mean but loses its pixel-to-pixel variation
    b = randomise_appearance(x, AugmentSpec(p_blur=1.0, max_blur_sigma_px=1.2), generator=torch.Generator().manual_seed(1))
    dx = lambda t: (t[..., 1:] - t[..., :-1]).abs().mean()  # noqa: E731
    assert float(dx(b)) < float(dx(x))


def test_elastic_displacement_is_bounded_smooth_and_optional() -> None:
    from sijscan.classify.augment import AugmentSpec, apply_affines, random_displacement

    assert random_displacement(3, AugmentSpec(), size_hw=(24, 32)) is None
    spec = AugmentSpec(p_elastic=1.0, elastic_px=3.0)
    d = random_displacement(4, spec, size_hw=(96, 144), generator=torch.Generator().manual_seed(2))
    assert d.shape == (4, 96, 144, 2)
    px = d * torch.tensor([144 / 2.0, 96 / 2.0])  # back to pixels (x, y)
    assert float(px.abs().max()) <= 3.0 * 1.3 and float(px.abs().max()) > 0.5  # bicubic may overshoot a little
    assert float((px[:, :, 1:] - px[:, :, :-1]).abs().max()) < 0.5  # smooth, no folding: neighbours move together
    ident = torch.eye(2, 3).expand(4, 2, 3)
    flat = torch.full((4, 1, 96, 144), 0.7)
    out = apply_affines(flat, ident, d)
    inner = out[:, :, 5:-5, 5:-5]
    assert torch.allclose(inner, torch.full_like(inner, 0.7), atol=1e-5)  # a flat image stays flat inside


def test_joint_mix_takes_the_right_joint_and_its_grade_from_another_row() -> None:
    from sijscan.classify.augment import mix_tiles

    x = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 1, 2, 4).clone()  # row k is filled with k
    grades = torch.tensor([[0, 0], [3, 1], [2, 2], [-1, 0]])  # (patient's left, right); the last unknown
    y = torch.tensor([0, 1, 1, 0])
    out, y2, g2 = mix_tiles(x, y, grades, 1.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out[..., :2], x[..., :2])  # the left halves (patient's right joints) stay
    for i in range(4):
        src = int(out[i, 0, 0, 3])
        if src != i:  # mixed: right half, grade column 0 (patient's left) and label follow the source row
            assert grades[i].min() >= 0 and grades[src].min() >= 0
            assert int(g2[i, 0]) == int(grades[src, 0]) and int(g2[i, 1]) == int(grades[i, 1])
            gl, gr = int(g2[i, 0]), int(g2[i, 1])
            assert int(y2[i]) == int((gl >= 2 and gr >= 2) or gl >= 3 or gr >= 3)
        else:
            assert int(y2[i]) == int(y[i]) and torch.equal(g2[i], grades[i])
    assert any(int(out[i, 0, 0, 3]) != i for i in range(3))  # some rows were mixed
    assert int(out[3, 0, 0, 3]) == 3  # a row without grades is never mixed
    assert mix_tiles(x, y, grades, 0.0)[0] is x
