"""Batch augmentation on the training device (one ``affine_grid``/``grid_sample`` per batch).

The paper's recipe: horizontal and vertical flips (p 0.5 each), rotation up to 0.175 rad (p 0.5),
zoom 0.9-1.1 (p 0.5), shear 0.1 (p 0.5), zero padding. All five are folded into one affine
matrix per image, so the whole batch is resampled once, bilinearly, on whatever device holds it.

Per-side grade targets are in PATIENT order (left, right). A horizontal flip exchanges the image's
left and right halves, hence the patient's sides: the targets of flipped images are swapped.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentSpec:
    p_hflip: float = 0.5
    p_vflip: float = 0.5
    max_rotation_rad: float = 0.175
    p_rotation: float = 0.5
    zoom_range: tuple[float, float] = (0.9, 1.1)
    p_zoom: float = 0.5
    max_shear: float = 0.1
    p_shear: float = 0.5

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["zoom_range"] = list(self.zoom_range)
        d["padding"] = "zeros"
        return d


def random_affines(n: int, spec: AugmentSpec, *, size_hw: tuple[int, int] = (1, 1),
                   generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``(n, 2, 3)`` affine matrices (normalised coordinates, output -> input) and the hflip mask ``(n,)``.

    Rotation and shear are drawn in PIXEL geometry and conjugated into grid_sample's normalised
    coordinates (``S^-1 A S`` with ``S = diag(W, H)``), so a non-square image is rotated, not skewed.
    """
    def u(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device="cpu")

    hflip = u(n) < spec.p_hflip
    vflip = u(n) < spec.p_vflip
    angle = (u(n) * 2 - 1) * spec.max_rotation_rad * (u(n) < spec.p_rotation)
    lo, hi = spec.zoom_range
    zoom = torch.where(u(n) < spec.p_zoom, lo + (hi - lo) * u(n), torch.ones(n))
    shear = (u(n) * 2 - 1) * spec.max_shear * (u(n) < spec.p_shear)

    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    shear_m = torch.stack([torch.stack([torch.ones(n), shear], -1),
                           torch.stack([torch.zeros(n), torch.ones(n)], -1)], -2)
    flip = torch.diag_embed(torch.stack([1 - 2 * hflip.float(), 1 - 2 * vflip.float()], -1))
    # grid_sample maps output coords to input coords: zoom > 1 magnifies, so divide by it.
    lin = flip @ rot @ shear_m / zoom[:, None, None]
    h, w = size_hw
    scale = torch.diag(torch.tensor([float(w), float(h)]))
    lin = torch.linalg.inv(scale) @ lin @ scale
    theta = torch.cat([lin, torch.zeros(n, 2, 1)], dim=2)
    return theta.to(device), hflip.to(device)


def apply_affines(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample ``(N, C, H, W)`` images with the ``(N, 2, 3)`` matrices; zero padding outside."""
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def swap_sides(grades: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
    """Exchange the (left, right) grade columns of the rows where ``flipped`` is true."""
    return torch.where(flipped[:, None], grades.flip(-1), grades)


def augment_batch(images: torch.Tensor, grades: torch.Tensor | None, spec: AugmentSpec, *,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Augment a batch; return the images and the per-side grades with flipped rows swapped."""
    theta, hflip = random_affines(images.shape[0], spec, size_hw=(images.shape[-2], images.shape[-1]),
                                  generator=generator, device=images.device)
    out = apply_affines(images, theta)
    return out, (swap_sides(grades, hflip) if grades is not None else None)


def sample_mixup(n: int, alpha: float, *, generator: torch.Generator | None = None) -> tuple[float, torch.Tensor]:
    """Mixup weight lam ~ Beta(alpha, alpha) (fastai style: max(lam, 1 - lam)) and a permutation."""
    if alpha <= 0:
        return 1.0, torch.arange(n)
    g = torch.distributions.Beta(alpha, alpha)
    lam = float(g.sample())
    lam = max(lam, 1.0 - lam)
    perm = torch.randperm(n, generator=generator)
    return lam, perm

