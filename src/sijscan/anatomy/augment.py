"""Training-time augmentation and data mixing for the segmenter.

Three levels (``TrainConfig.augment``):

``none``
    the cached, preprocessed images as they are.
``basic`` (the default; what every segmenter before issue 17 was trained with)
    :func:`basic_augment`, per batch on the training device as torch ops: a random affine per image
    (rotation up to +-10 degrees, shear up to +-0.1, zoom 0.9-1.1, translation up to +-8%), image
    bilinear / mask nearest; then intensity shift (+-0.2 of the z-scored image), contrast scale
    0.8-1.25, Gaussian noise (sigma up to 0.1).
``strong`` (for models that must work on radiographs of real anatomy)
    :func:`strong_transform`, per image in the data set (CPU), MONAI dictionary transforms so image
    and mask share every spatial draw. The appearance families SyntheX (Gao et al., Nature Machine
    Intelligence 2023) found to matter for sim-to-real transfer of X-ray segmentation:
    affine (rotation +-15 deg, scale 0.8-1.2, shear, translation +-10%) and elastic deformation;
    mirroring (left-right, the hip-bone labels 2 and 3 swapped: a mirrored pelvis is a plausible
    pelvis, and it shows each real hip bone of a CT-route render on both sides); inversion; gamma;
    non-linear contrast (histogram shift); blur or sharpen; Gaussian noise; random erasing (rectangles filled with noise; the mask keeps the bone: an occluder does not remove it);
    optionally (``collimate``, off unless a recipe sets it) a random collimation: beyond a random edge the
    image becomes a flat border and the mask background, as ``visible_only`` labels are at a real field's edge;
    then the image is z-scored again (what inference feeds the network) and linear
    contrast/brightness jitter follows. Probabilities are in :data:`STRONG_PROBS`.

Mixing: :func:`mixing_sampler` draws each epoch's training images so that a share ``weight`` comes
from a second manifest (e.g. CT-route renders) and the rest from the first (e.g. the procedural
phantom), with replacement, one epoch = as many draws as there are training images in both.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from sijscan.errors import InputError

AUGMENT_LEVELS = ("none", "basic", "strong")

STRONG_PROBS: dict[str, float] = {
    "mirror": 0.5, "affine": 0.8, "elastic": 0.3, "invert": 0.2, "gamma": 0.5, "histogram": 0.3, "blur": 0.25,
    "sharpen": 0.25, "noise": 0.5, "erase": 0.4, "contrast": 0.5, "brightness": 0.5, "collimate": 0.0,
}
"""Probability with which :func:`strong_transform` applies each family to an image."""


def check_level(level: str) -> str:
    if level not in AUGMENT_LEVELS:
        raise InputError(f"augment must be one of {', '.join(AUGMENT_LEVELS)}, got {level!r}")
    return level


def basic_augment(x: torch.Tensor, y: torch.Tensor, *,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random affine (image bilinear, mask nearest), intensity/contrast shift, Gaussian noise (per batch)."""
    n, dev = x.shape[0], x.device

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator).to(dev) * (hi - lo) + lo

    ang, shear, zoom = u(-10, 10) * math.pi / 180, u(-0.1, 0.1), u(0.9, 1.1)
    tx, ty = u(-0.08, 0.08), u(-0.08, 0.08)
    cos, sin = torch.cos(ang) / zoom, torch.sin(ang) / zoom
    theta = torch.stack([torch.stack([cos, -sin + shear, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    bg = x.amin(dim=(1, 2, 3), keepdim=True)
    xa = F.grid_sample(x - bg, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + bg
    ya = F.grid_sample(y.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False).long()
    xa = xa * u(0.8, 1.25).view(n, 1, 1, 1) + u(-0.2, 0.2).view(n, 1, 1, 1)
    xa = xa + torch.randn(xa.shape, generator=generator).to(dev) * u(0.0, 0.1).view(n, 1, 1, 1)
    return xa, ya


def _random_transform(name: str, prob: float, keys: list[str], apply: Any) -> Any:
    """A MONAI dictionary transform called ``name`` that, with probability ``prob``, runs ``apply(d, R)`` on a copy
    of the data dict ``d`` (``R``: the transform's own random state, seeded by the chain)."""
    from monai.transforms import MapTransform, RandomizableTransform

    class RandPaird(RandomizableTransform, MapTransform):
        def __init__(self) -> None:
            RandomizableTransform.__init__(self, prob)
            MapTransform.__init__(self, keys)

        def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
            d = dict(data)
            self.randomize(None)
            if self._do_transform:
                apply(d, self.R)
            return d

    RandPaird.__name__ = RandPaird.__qualname__ = name
    return RandPaird()


def _rand_invert(prob: float) -> Any:
    """MONAI-style random inversion of the image key: ``x -> max + min - x`` (keeps the range)."""

    def invert(d: dict[str, Any], _: Any) -> None:
        x = d["image"]
        d["image"] = x.max() + x.min() - x

    return _random_transform("RandInvertd", prob, ["image"], invert)


def _rand_mirror(prob: float) -> Any:
    """Left-right mirror of image and mask, with the image-left / image-right hip labels (2, 3) swapped."""

    def mirror(d: dict[str, Any], _: Any) -> None:
        d["image"] = torch.flip(torch.as_tensor(d["image"]), dims=(-1,))
        y = torch.flip(torch.as_tensor(d["label"]), dims=(-1,))
        swapped = y.clone()
        swapped[y == 2], swapped[y == 3] = 3, 2
        d["label"] = swapped

    return _random_transform("RandMirrord", prob, ["image", "label"], mirror)


COLLIMATE_DEPTH = (0.05, 0.35)
""":func:`_rand_collimate`: how far (fraction of the image's height or width) a collimated edge reaches in."""


def _rand_collimate(prob: float) -> Any:
    """Random collimation of image and mask: each edge with probability 1/2 (at least one) is moved in by
    U(:data:`COLLIMATE_DEPTH`) of the image; beyond it the image is flat at its maximum (the unexposed
    detector) and the mask is background (the bone behind a collimator is not on the radiograph). Why:
    the segmenter stopped ~12 mm short of bone that a field edge cuts through (docs/performance.md,
    "Why the crop misses on CT 003"); its training images rarely show such an edge. Measured: not
    adopted (docs/performance.md, "Random collimation in the strong augmentation")."""

    def collimate(d: dict[str, Any], rng: Any) -> None:
        x, y = torch.as_tensor(d["image"]).clone(), torch.as_tensor(d["label"]).clone()
        h, w = x.shape[-2:]
        edges = rng.random_sample(4) < 0.5
        if not edges.any():
            edges[rng.randint(4)] = True
        depth = rng.uniform(*COLLIMATE_DEPTH, size=4)
        top, bottom, left, right = (int(round(f * n)) for f, n in zip(depth, (h, h, w, w)))
        keep = torch.zeros((h, w), dtype=torch.bool)
        r0, r1 = (top if edges[0] else 0), (h - bottom if edges[1] else h)
        c0, c1 = (left if edges[2] else 0), (w - right if edges[3] else w)
        keep[r0:r1, c0:c1] = True
        x[..., ~keep] = x.max()
        y[..., ~keep] = 0
        d["image"], d["label"] = x, y

    return _random_transform("RandCollimated", prob, ["image", "label"], collimate)


def strong_transform(size: int | Sequence[int], *, seed: int = 0,
                     probs: dict[str, float] | None = None) -> Any:
    """The ``strong`` recipe as one MONAI ``Compose`` on ``{"image": (1,H,W) float, "label": (1,H,W)}``.

    ``probs`` overrides entries of :data:`STRONG_PROBS` (tests switch families on one at a time).
    The same ``seed`` gives the same sequence of draws.
    """
    from monai.transforms import (
        Compose, NormalizeIntensityd, Rand2DElasticd, RandAdjustContrastd, RandAffined, RandCoarseDropoutd,
        RandGaussianNoised, RandGaussianSharpend, RandGaussianSmoothd, RandHistogramShiftd, RandScaleIntensityd,
        RandShiftIntensityd,
    )

    p = {**STRONG_PROBS, **(probs or {})}
    unknown = set(p) - set(STRONG_PROBS)
    if unknown:
        raise InputError(f"unknown augmentation famil{'y' if len(unknown) == 1 else 'ies'}: {', '.join(sorted(unknown))}")
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    both, modes = ["image", "label"], ["bilinear", "nearest"]
    chain = Compose([
        _rand_mirror(p["mirror"]),
        RandAffined(both, prob=p["affine"], rotate_range=math.radians(15), scale_range=0.2, shear_range=0.1,
                    translate_range=(0.1 * h, 0.1 * w), mode=modes, padding_mode="zeros"),
        # control points every ~h/6 px, each displaced by N(0, 1) x U(h/96, h/40) px
        Rand2DElasticd(both, spacing=(max(4, h // 6), max(4, w // 6)), magnitude_range=(h / 96, h / 40),
                       prob=p["elastic"], mode=modes, padding_mode="zeros"),
        # only when asked: a chain without it draws exactly what it drew before the option existed
        *([_rand_collimate(p["collimate"])] if p["collimate"] > 0 else []),
        _rand_invert(p["invert"]),
        RandAdjustContrastd("image", prob=p["gamma"], gamma=(0.5, 2.0)),
        RandHistogramShiftd("image", num_control_points=(5, 10), prob=p["histogram"]),
        RandGaussianSmoothd("image", sigma_x=(0.5, 1.5), sigma_y=(0.5, 1.5), prob=p["blur"]),
        RandGaussianSharpend("image", alpha=(5.0, 20.0), prob=p["sharpen"]),
        RandGaussianNoised("image", std=0.15, prob=p["noise"]),
        RandCoarseDropoutd("image", holes=1, max_holes=4, spatial_size=(max(2, h // 16), max(2, w // 16)),
                           max_spatial_size=(max(3, h // 4), max(3, w // 4)), fill_value=(-2.0, 3.0),
                           prob=p["erase"]),
        NormalizeIntensityd("image"),
        RandScaleIntensityd("image", factors=0.25, prob=p["contrast"]),
        RandShiftIntensityd("image", offsets=0.25, prob=p["brightness"]),
    ])
    chain.set_random_state(seed=int(seed))
    return chain


def apply_strong(transform: Any, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run :func:`strong_transform` on one (1, H, W) image/mask pair; plain tensors back (mask int64)."""
    from monai.data import get_track_meta, set_track_meta

    # MONAI's metadata tracking is not needed here; off, the chain gives the same tensors ~30% faster
    # (16.4 -> 11.7 ms per 128 px image, tested equal). Restored after: other MONAI code needs it.
    was = get_track_meta()
    set_track_meta(False)
    try:
        out = transform({"image": x.float(), "label": y.float()})
    finally:
        set_track_meta(was)
    xa, ya = out["image"], out["label"]
    xa = xa.as_tensor() if hasattr(xa, "as_tensor") else torch.as_tensor(xa)
    ya = ya.as_tensor() if hasattr(ya, "as_tensor") else torch.as_tensor(ya)
    return xa.float().contiguous(), ya.round().long().contiguous()


class PairDataset(torch.utils.data.Dataset):
    """Cached (N, 1, S, S) images and masks; with ``transform`` each item is augmented on the fly."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, *, transform: Any = None) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.transform is None:
            return self.x[i], self.y[i]
        return apply_strong(self.transform, self.x[i], self.y[i])


def mixing_sampler(n_first: int, n_second: int, *, weight: float, seed: int) -> torch.utils.data.Sampler:
    """Sample rows ``[0, n_first)`` with total probability ``1 - weight``, the next ``n_second`` with ``weight``."""
    if not 0.0 < weight < 1.0:
        raise InputError(f"extra_weight must be in (0, 1), got {weight!r}")
    if n_first < 1 or n_second < 1:
        raise InputError("both manifests need at least one training row to be mixed")
    w = np.concatenate([np.full(n_first, (1.0 - weight) / n_first), np.full(n_second, weight / n_second)])
    g = torch.Generator().manual_seed(int(seed))
    return torch.utils.data.WeightedRandomSampler(torch.as_tensor(w, dtype=torch.double),
                                                  num_samples=n_first + n_second, replacement=True, generator=g)
