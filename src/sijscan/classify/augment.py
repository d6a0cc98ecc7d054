"""Batch augmentation on the training device (one ``affine_grid``/``grid_sample`` per batch).

The paper's recipe: horizontal and vertical flips (p 0.5 each), rotation up to 0.175 rad (p 0.5),
zoom 0.9-1.1 (p 0.5), shear 0.1 (p 0.5), zero padding. All five are folded into one affine
matrix per image, so the whole batch is resampled once, bilinearly, on whatever device holds it.

Per-side grade targets are in PATIENT order (left, right). A horizontal flip exchanges the image's
left and right halves, hence the patient's sides: the targets of flipped images are swapped.

Appearance randomisation (not in the paper; off unless a recipe turns it on): per image, a gamma
curve, a contrast/brightness change about mid-grey, a Gaussian blur and Gaussian noise, applied to the
preprocessed (CLAHE'd, [0, 1]) view after the affine. It stands for what differs between hospitals and
between the phantom's and real anatomy's rendering (sharpness, noise, grey curve), so that the
classifier cannot tell sources apart by them (issue 22).
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
    p_gamma: float = 0.0
    gamma_range: tuple[float, float] = (0.7, 1.4)
    p_contrast: float = 0.0
    contrast_range: tuple[float, float] = (0.75, 1.3)
    max_brightness: float = 0.08
    p_blur: float = 0.0
    max_blur_sigma_px: float = 1.2
    p_noise: float = 0.0
    max_noise_sd: float = 0.04
    p_elastic: float = 0.0
    elastic_px: float = 3.0
    """largest displacement (input pixels) of the smooth random deformation"""
    elastic_grid: tuple[int, int] = (4, 6)
    """control points (rows, columns) of the deformation, interpolated bicubically"""
    p_tile_mix: float = 0.0
    """joint-pair views only: share of rows whose right joint (tile) comes from another row (see :func:`mix_tiles`)"""

    @property
    def appearance(self) -> bool:
        """True when any appearance randomisation is on."""
        return max(self.p_gamma, self.p_contrast, self.p_blur, self.p_noise) > 0

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        for k in ("zoom_range", "gamma_range", "contrast_range", "elastic_grid"):
            d[k] = list(d[k])
        d["padding"] = "zeros"
        return d


APPEARANCE = dict(p_gamma=0.5, gamma_range=(0.8, 1.25), p_contrast=0.5, contrast_range=(0.85, 1.2), max_brightness=0.05,
                  p_blur=0.3, max_blur_sigma_px=0.8, p_noise=0.3, max_noise_sd=0.015)
"""The appearance randomisation the transfer recipes turn on (``AugmentSpec(**APPEARANCE)``): milder than
the defaults' ranges, because a lesion's contrast at the classifier's input is a few hundredths (a
first version with noise SD up to 0.04 kept a tiny network from learning anything: docs/performance.md)."""
ELASTIC = dict(p_elastic=0.7, elastic_px=4.0)
TILE_MIX = dict(p_tile_mix=0.5)
"""The smooth deformation the transfer recipes can turn on (``AugmentSpec(**ELASTIC)``)."""


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


def apply_affines(images: torch.Tensor, theta: torch.Tensor, displacement: torch.Tensor | None = None) -> torch.Tensor:
    """Resample ``(N, C, H, W)`` images with the ``(N, 2, 3)`` matrices (plus an ``(N, H, W, 2)``
    displacement of the sampling grid, normalised coordinates); zero padding outside."""
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    if displacement is not None:
        grid = grid + displacement.to(grid.dtype)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_displacement(n: int, spec: AugmentSpec, *, size_hw: tuple[int, int],
                        generator: torch.Generator | None = None) -> torch.Tensor | None:
    """A smooth random deformation per image (``p_elastic`` of them; the rest none), ``(n, H, W, 2)`` in
    grid_sample's normalised coordinates, at most ``elastic_px`` input pixels; None when off.

    It changes the joints' shapes a little (anatomy differs from patient to patient) while keeping
    their texture, so that a classifier trained on few real anatomies sees more than those."""
    if spec.p_elastic <= 0:
        return None
    h, w = size_hw
    gh, gw = spec.elastic_grid
    on = (torch.rand(n, generator=generator) < spec.p_elastic).float()
    coarse = (torch.rand(n, 2, gh, gw, generator=generator) * 2 - 1) * spec.elastic_px * on[:, None, None, None]
    fine = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)
    scale = torch.tensor([2.0 / w, 2.0 / h]).view(1, 2, 1, 1)  # pixels -> normalised (x, y)
    return (fine * scale).permute(0, 2, 3, 1)


def swap_sides(grades: torch.Tensor, flipped: torch.Tensor) -> torch.Tensor:
    """Exchange the (left, right) grade columns of the rows where ``flipped`` is true."""
    return torch.where(flipped[:, None], grades.flip(-1), grades)


def _gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each ``(1, H, W)`` image of the batch with its own sigma (pixels; 0 leaves it unchanged)."""
    out = images.clone()
    for i in torch.nonzero(sigma > 0.05).flatten().tolist():
        s = float(sigma[i])
        r = max(1, int(round(3 * s)))
        x = torch.arange(-r, r + 1, dtype=images.dtype, device=images.device)
        k = torch.exp(-0.5 * (x / s) ** 2)
        k = k / k.sum()
        img = F.pad(images[i:i + 1], (r, r, r, r), mode="replicate")
        img = F.conv2d(img, k.view(1, 1, 1, -1))
        out[i:i + 1] = F.conv2d(img, k.view(1, 1, -1, 1))
    return out


def randomise_appearance(images: torch.Tensor, spec: AugmentSpec, *,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-image gamma, contrast/brightness, blur and noise of ``(N, 1, H, W)`` views in [0, 1] (see module doc)."""
    if not spec.appearance:
        return images
    n = images.shape[0]

    def u(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device="cpu")

    def col(v: torch.Tensor) -> torch.Tensor:
        return v.to(images.device, images.dtype).view(n, 1, 1, 1)

    x = images
    g_lo, g_hi = spec.gamma_range
    gamma = torch.where(u(n) < spec.p_gamma, torch.exp(torch.log(torch.tensor(g_lo)) + u(n) * float(
        torch.log(torch.tensor(g_hi / g_lo)))), torch.ones(n))
    x = x.clamp(0.0, 1.0) ** col(gamma)
    c_lo, c_hi = spec.contrast_range
    on = u(n) < spec.p_contrast
    contrast = torch.where(on, c_lo + (c_hi - c_lo) * u(n), torch.ones(n))
    bright = torch.where(on, (u(n) * 2 - 1) * spec.max_brightness, torch.zeros(n))
    x = (x - 0.5) * col(contrast) + 0.5 + col(bright)
    sigma = torch.where(u(n) < spec.p_blur, u(n) * spec.max_blur_sigma_px, torch.zeros(n))
    x = _gaussian_blur(x, sigma)
    sd = torch.where(u(n) < spec.p_noise, u(n) * spec.max_noise_sd, torch.zeros(n))
    noise = torch.randn(images.shape, generator=generator, device="cpu").to(images.device, images.dtype)
    x = x + noise * col(sd)
    return x.clamp(0.0, 1.0)


def augment_batch(images: torch.Tensor, grades: torch.Tensor | None, spec: AugmentSpec, *,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Augment a batch; return the images and the per-side grades with flipped rows swapped."""
    size = (images.shape[-2], images.shape[-1])
    theta, hflip = random_affines(images.shape[0], spec, size_hw=size, generator=generator, device=images.device)
    disp = random_displacement(images.shape[0], spec, size_hw=size, generator=generator)
    out = randomise_appearance(apply_affines(images, theta, None if disp is None else disp.to(images.device)), spec,
                               generator=generator)
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


def mix_tiles(images: torch.Tensor, labels: torch.Tensor, grades: torch.Tensor | None, p: float, *,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Joint-pair views (``[patient's right joint | patient's left joint, mirrored]``): in a share ``p`` of
    the rows, the right half and its joint's grade come from another row of the batch, and the label is
    the modified New York criterion of the two grades: a new patient from two real joints.

    With few real anatomies in training (the CT route's CTs), this shows the classifier each joint beside
    joints of other anatomies, so it judges joints rather than recognising whole anatomies. The right
    half holds grade column 0 (the patient's left) before and after :func:`augment_batch` (a horizontal
    flip swaps both). Rows without both grades are left alone."""
    n = images.shape[0]
    if p <= 0 or grades is None or n < 2:
        return images, labels, grades
    perm = torch.randperm(n, generator=generator).to(images.device)
    known = (grades >= 0).all(dim=1)
    mix = (torch.rand(n, generator=generator).to(images.device) < p) & known & known[perm]
    if not bool(mix.any()):
        return images, labels, grades
    half = images.shape[-1] // 2
    out = images.clone()
    out[mix, ..., half:] = images[perm[mix], ..., half:]
    g = grades.clone()
    g[mix, 0] = grades[perm[mix], 0]
    positive = ((g[:, 0] >= 2) & (g[:, 1] >= 2)) | (g >= 3).any(dim=1)
    return out, torch.where(mix, positive.to(labels.dtype), labels), g
