"""Synthetic lumbar vertebrae above the sacrum of a bone-only CT (L5-L3 by default; L5-T11 and the
11th/12th ribs with :func:`lumbar_with_ribs`).

A real AP pelvis film shows L4-L5 with their pedicles and transverse processes; the shared CTs hold
the pelvis only. Each vertebra is a smooth union of signed-distance primitives (an elliptic body
with a cortical shell, pedicles, laminae, transverse and spinous processes), stacked on the S1
endplate found on the sacrum mask with a disc gap, voxelised on its own 1 mm grid (label 0: the
spine is background in sijscan's label maps).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from sijscan.phantom.ct.case import VOL_SACRUM, CTCase
from sijscan.phantom.ct.femur import GRID_MM, capsule, ellipsoid, smooth_min

VERTEBRA_Z_REACH_MM = 30.0
"""How far above and below its body centre a vertebra's solid can reach, scale 1 (endplates 13.5 mm,
the spinous tip 15 mm below, the transverse tips up to 8 mm, smooth unions 3 mm; generous). Each
vertebra's distance field is evaluated only within this slab of the grid: outside it the vertebra
is nowhere inside (distance > 0), so the volume's HU, which only the inside sets, is unchanged up to
float rounding, at a third to a seventh of the cost (3 to 7 levels). (Rounding: the BLAS product in
``capsule`` rounds the last bit differently on a slab than on the whole grid; on CT 001's L5-L3,
7441 voxels differ by at most 1.2e-4 HU, enough to flip a few 16-bit pixels of a render.)"""
BOX_MARGIN_MM = 2.0
"""Beyond a capsule's bounding box (ends +- radius), the margin within which its field is evaluated."""


def _slab(zs: np.ndarray, lo: float, hi: float) -> slice:
    """The grid planes of ``zs`` (ascending, GRID_MM apart) within [lo, hi] mm, as a slice."""
    return slice(int(np.searchsorted(zs, lo, side="left")), int(np.searchsorted(zs, hi, side="right")))


def s1_endplate(case: CTCase) -> np.ndarray:
    """(x, y, z mm) of the top of the S1 body: the highest sacral voxels near the midline, anterior half."""
    idx = np.argwhere(case.labels == VOL_SACRUM)
    sp = np.asarray(case.spacing)
    mm = idx * sp  # z, y, x
    x_mid = np.median(mm[:, 2])
    y_lo, y_hi = np.percentile(mm[:, 1], [0, 100])
    core = mm[(np.abs(mm[:, 2] - x_mid) < 15.0) & (mm[:, 1] < y_lo + 0.5 * (y_hi - y_lo))]
    core = core if len(core) else mm
    top = core[core[:, 0] >= np.percentile(core[:, 0], 97)]
    return np.array([x_mid, float(np.median(top[:, 1])), float(top[:, 0].max())])


def _vertebra(p: np.ndarray, c: np.ndarray, s: float, rng: np.random.Generator, *, tp_len: float) -> np.ndarray:
    """Signed distance (mm) of one vertebra whose body centre is ``c`` (x, y, z), scale ``s``."""
    body = ellipsoid(p, c, np.array([25.0, 18.0, 19.0]) * s)  # rounded sides: a waist-less barrel
    body = np.maximum(body, np.abs(p[..., 2] - c[2]) - 13.5 * s)  # flat endplates
    d = body
    for side in (-1.0, 1.0):
        ped = c + np.array([side * 13.0 * s, 20.0 * s, 3.0 * s])
        d = smooth_min(d, capsule(p, c + np.array([side * 12.0 * s, 12.0 * s, 3.0 * s]), ped, 5.0 * s), 3.0)
        tp_root = ped + np.array([side * 4.0 * s, 6.0 * s, 0.0])
        tp_tip = tp_root + np.array([side * tp_len * s, rng.uniform(-3.0, 3.0), rng.uniform(-6.0, 2.0)])
        d = smooth_min(d, capsule(p, tp_root, tp_tip, 5.0 * s), 3.0)
        lam = c + np.array([0.0, 40.0 * s, -2.0 * s])
        d = smooth_min(d, capsule(p, ped + np.array([0.0, 5.0 * s, 0.0]), lam, 4.0 * s), 3.0)
    sp_tip = c + np.array([0.0, 62.0 * s, -10.0 * s])
    d = smooth_min(d, capsule(p, c + np.array([0.0, 40.0 * s, -2.0 * s]), sp_tip, 5.0 * s), 3.0)
    return d


def spine_volume(case: CTCase, rng: np.random.Generator, *, levels: int = 3,
                 info: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(HU volume z/y/x on a 1 mm grid, origin x, y, z mm) of L5 upwards (``levels`` vertebrae: 5 reach
    L1, 7 T11); ``info``, if given, receives the body centres (mm) and the scale."""
    top = s1_endplate(case)
    s = float(rng.uniform(0.92, 1.08))
    height, disc = 27.0 * s, rng.uniform(8.0, 11.0)
    first = rng.uniform(-3.0, 2.0)  # L5-S1: the disc is wedged and L5 overhangs the promontory
    centres = [top + np.array([0.0, -6.0 - 3.0 * k, first + height / 2 + k * (height + disc)]) for k in range(levels)]
    if info is not None:
        info.update(centres=centres, scale=s)
    lo = top + np.array([-80.0, -40.0, first - 4.0])
    hi = centres[-1] + np.array([80.0, 80.0, height / 2 + 2.0])
    zs, ys, xs = (np.arange(lo[k], hi[k], GRID_MM) for k in (2, 1, 0))
    p = np.stack(np.meshgrid(xs, ys, zs, indexing="xy"), axis=-1).transpose(2, 0, 1, 3).astype(np.float32)
    d = np.full(p.shape[:3], np.inf, np.float32)
    for k, c in enumerate(centres):
        z = _slab(zs, c[2] - VERTEBRA_Z_REACH_MM * s, c[2] + VERTEBRA_Z_REACH_MM * s)
        d[z] = np.minimum(d[z], _vertebra(p[z], c, s, rng, tp_len=(30.0 if k == 0 else 36.0 - 4.0 * (k - 1))))
    depth = -d
    tex = ndimage.gaussian_filter(rng.normal(0.0, 1.0, size=depth.shape).astype(np.float32), 1.2)
    tex *= 80.0 / max(float(tex.std()), 1e-6)
    hu = np.where(depth > 1.5, 230.0 + tex, 1150.0 * np.clip(depth / 0.8, 0.0, 1.0))
    hu = np.where(depth > 0, hu, 0.0).astype(np.float32)
    return hu, np.array([xs[0], ys[0], zs[0]])


def _shell_hu(depth: np.ndarray) -> np.ndarray:
    hu = np.where(depth > 1.2, 220.0, 1100.0 * np.clip(depth / 0.8, 0.0, 1.0))
    return np.where(depth > 0, hu, 0.0).astype(np.float32)


def rib_volume(costovertebral: np.ndarray, side: str, *, sweep_rad: float, rng: np.random.Generator,
               trunk_half_axes: tuple[float, float] = (130.0, 100.0)) -> tuple[np.ndarray, np.ndarray]:
    """(HU volume, origin) of one lower rib: from its costovertebral joint round the trunk (an
    ellipse of ``trunk_half_axes`` x/y mm seen from above), laterally then forwards, falling as it goes."""
    lat = 1.0 if side == "left" else -1.0
    a, b = trunk_half_axes
    th = np.linspace(0.3, 0.3 + sweep_rad, 24)
    drop = rng.uniform(40.0, 60.0)
    y_c = costovertebral[1] - b * np.cos(0.3)
    path = np.stack([costovertebral[0] + lat * a * (np.sin(th) - np.sin(0.3)), y_c + b * np.cos(th),
                     costovertebral[2] - drop * (th - 0.3)], axis=1)
    lo, hi = path.min(0) - 9.0, path.max(0) + 9.0
    zs, ys, xs = (np.arange(lo[k], hi[k], GRID_MM) for k in (2, 1, 0))
    p = np.stack(np.meshgrid(xs, ys, zs, indexing="xy"), axis=-1).transpose(2, 0, 1, 3).astype(np.float32)
    d = np.full(p.shape[:3], np.inf, np.float32)
    radii = np.linspace(5.5, 4.5, len(path) - 1)
    for k in range(len(path) - 1):  # each segment within its own box (see BOX_MARGIN_MM)
        reach = float(radii[k]) + BOX_MARGIN_MM
        a, b = np.minimum(path[k], path[k + 1]) - reach, np.maximum(path[k], path[k + 1]) + reach
        box = (_slab(zs, a[2], b[2]), _slab(ys, a[1], b[1]), _slab(xs, a[0], b[0]))
        d[box] = np.minimum(d[box], capsule(p[box], path[k], path[k + 1], float(radii[k])))
    return _shell_hu(-d), np.array([xs[0], ys[0], zs[0]])


def lumbar_with_ribs(case: CTCase, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(HU volume, origin)]: L5 to T11 (L1-L5 with their transverse processes), then the 11th and 12th
    ribs on both sides (floating ribs: short, falling, over the upper lumbar spine on an abdomen film)."""
    info: dict = {}
    out = [spine_volume(case, rng, levels=7, info=info)]
    s = info["scale"]
    for k, sweep in ((5, (0.7, 1.0)), (6, (1.1, 1.5))):  # T12: rib 12, T11: rib 11
        c = info["centres"][k]
        for side, lat in (("right", -1.0), ("left", 1.0)):
            joint = c + np.array([lat * 22.0 * s, 22.0 * s, 6.0 * s])
            out.append(rib_volume(joint, side, sweep_rad=float(rng.uniform(*sweep)), rng=rng))
    return out
