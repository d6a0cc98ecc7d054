"""Synthetic proximal femora for bone-only CTs (the shared CTs hold only the three pelvic bones).

An AP pelvis film always shows the femoral heads, necks, trochanters and upper shafts; without them
the acetabula look empty. Each femur is placed in its acetabulum, found on the hip-bone mask: the
point outside the bone, in the lower lateral part, that bone surrounds over the largest solid angle
(a socket), its distance to the bone giving the head radius. The femur is a smooth union of
signed-distance primitives (head sphere, neck and shaft capsules, trochanter ellipsoids) with a
cortical shell and a cancellous/marrow interior, voxelised on its own 1 mm grid (label 0: femora
are background in sijscan's label maps).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from sijscan.phantom.ct.case import VOL_HIP_LEFT, VOL_HIP_RIGHT, CTCase

GRID_MM = 1.0


def find_acetabulum(case: CTCase, side: str) -> tuple[np.ndarray, float]:
    """(centre x, y, z mm, head radius mm) of the patient's ``side`` acetabulum."""
    value = VOL_HIP_LEFT if side == "left" else VOL_HIP_RIGHT
    step = np.maximum(np.round(2.0 / np.asarray(case.spacing)).astype(int), 1)
    il = case.labels[::step[0], ::step[1], ::step[2]] == value
    sp = np.asarray(case.spacing) * step
    idx = np.argwhere(il)
    zlo, zhi = idx[:, 0].min(), idx[:, 0].max()
    xlo, xhi = idx[:, 2].min(), idx[:, 2].max()
    dist = ndimage.distance_transform_edt(~il, sampling=sp)
    cand = np.argwhere(dist > 14.0)
    zf = (cand[:, 0] - zlo) / max(zhi - zlo, 1)
    xf = (cand[:, 2] - xlo) / max(xhi - xlo, 1)
    lateral = xf if side == "left" else 1.0 - xf
    keep = (zf > 0.12) & (zf < 0.5) & (lateral > 0.45) & (dist[tuple(cand.T)] >= 20.0) & (dist[tuple(cand.T)] < 30.0)
    cand = cand[keep]
    if len(cand) == 0:
        raise ValueError("no acetabulum candidate")
    if len(cand) > 6000:
        cand = cand[np.linspace(0, len(cand) - 1, 6000).astype(int)]
    d0 = dist[tuple(cand.T)]
    dirs = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1) if (i, j, k) != (0, 0, 0)],
                    float)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    hits = np.zeros((len(cand), len(dirs)), bool)
    for t in (0.0, 3.0, 6.0, 9.0):
        pts = cand[:, None, :] + (d0[:, None, None] + t) * dirs[None] / sp  # voxel units of the 2 mm grid
        pi = np.rint(pts).astype(int)
        ok = np.all((pi >= 0) & (pi < il.shape), axis=-1)
        pi = np.clip(pi, 0, np.array(il.shape) - 1)
        hits |= ok & il[pi[..., 0], pi[..., 1], pi[..., 2]]
    score = hits.mean(axis=1) - 0.01 * np.abs(d0 - 24.0)
    best = cand[int(np.argmax(score))]
    centre_zyx = (best * step + (step - 1) / 2.0) * np.asarray(case.spacing)
    return centre_zyx[::-1].copy(), float(np.clip(dist[tuple(best)] - 1.0, 21.0, 26.0))


def capsule(p: np.ndarray, a: np.ndarray, b: np.ndarray, r: float) -> np.ndarray:
    """Signed distance (mm) of points ``p`` to the capsule from ``a`` to ``b`` of radius ``r``."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / float(ab @ ab), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1) - r


def ellipsoid(p: np.ndarray, c: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Approximate signed distance (mm) of points ``p`` to the ellipsoid at ``c`` with semi-axes ``axes``."""
    q = (p - c) / axes
    return (np.linalg.norm(q, axis=-1) - 1.0) * axes.min()


def smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth union of two distance fields, blending over ``k`` mm."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def femur_volume(head: np.ndarray, radius: float, side: str, rng: np.random.Generator,
                 *, shaft_mm: float = 170.0) -> tuple[np.ndarray, np.ndarray]:
    """(HU volume z/y/x on a 1 mm grid, its origin x, y, z mm) of one proximal femur."""
    lat = 1.0 if side == "left" else -1.0  # +x is the patient's left
    ang = np.deg2rad(rng.uniform(125.0, 135.0) - 90.0)  # neck-shaft angle
    neck_len = rng.uniform(1.9, 2.3) * radius
    neck_dir = np.array([lat * np.cos(ang), rng.uniform(-0.05, 0.1), -np.sin(ang)])
    base = head + neck_len * neck_dir
    shaft_top = base + np.array([lat * 0.25 * radius, 0.0, 0.0])
    shaft_end = shaft_top + np.array([-lat * 0.12 * shaft_mm, 0.0, -shaft_mm])
    gt = shaft_top + np.array([lat * 0.45 * radius, 3.0, 0.35 * radius])
    lt = shaft_top + np.array([-lat * 0.55 * radius, 6.0, -1.6 * radius])
    lo = np.minimum.reduce([head - radius, shaft_end - 20.0, gt - 25.0, lt - 15.0]) - 4.0
    hi = np.maximum.reduce([head + radius, shaft_top + 20.0, gt + 25.0, lt + 15.0]) + 4.0
    zs, ys, xs = (np.arange(lo[k], hi[k], GRID_MM) for k in (2, 1, 0))
    p = np.stack(np.meshgrid(xs, ys, zs, indexing="xy"), axis=-1).transpose(2, 0, 1, 3).astype(np.float32)
    r_neck, r_shaft = 0.62 * radius, rng.uniform(0.55, 0.65) * radius
    d_head = np.linalg.norm(p - head, axis=-1) - radius
    d = smooth_min(d_head, capsule(p, head, base, r_neck), 6.0)
    d = smooth_min(d, capsule(p, shaft_top, shaft_end, r_shaft), 10.0)
    d = smooth_min(d, ellipsoid(p, gt, np.array([0.55, 0.5, 0.75]) * radius), 8.0)
    d = smooth_min(d, ellipsoid(p, lt, np.array([0.35, 0.35, 0.5]) * radius), 5.0)
    depth = -d  # mm inside the surface
    along = np.clip((shaft_top[2] - p[..., 2]) / 60.0, 0.0, 1.0)  # 0 at the neck, 1 down the shaft
    cortex = 1.8 + 4.5 * along
    tex = ndimage.gaussian_filter(rng.normal(0.0, 1.0, size=depth.shape).astype(np.float32), 1.2)
    tex *= 90.0 / max(float(tex.std()), 1e-6)
    inner = (260.0 - 200.0 * along + tex * (1.0 - 0.7 * along))
    hu = np.where(depth > cortex, inner, 1250.0 * np.clip(depth / 0.8, 0.0, 1.0))
    hu = np.where(depth > 0, hu, 0.0).astype(np.float32)
    return hu, np.array([xs[0], ys[0], zs[0]])
