"""Metal in the beam: a total hip replacement or iliosacral screws, and beam hardening.

Why no streaks: streaks are a CT artefact (filtered back-projection of projections that metal made
inconsistent: photon starvation, beam hardening). A radiograph is one projection, so metal shows as
what it is, a very dense object: the line integral through it is huge, the detector behind it gets
almost no primary (white on the film), the vendor's edge enhancement draws the dark halo real films
show around implants (``sijscan.phantom.acquisition``'s unsharp mask does it), and the beam
hardens: a polychromatic beam's log attenuation grows less than linearly with the metal's
thickness (soft photons go first), modelled as ``c * ln(1 + m / c)`` on the metal's line integral
``m``. Streaks matter where the SOURCE CT held metal: they are in its HU volume, and a radiograph
rendered from that CT (a DRR, as sijscan's CT route and other tools make) carries them. The shared
CTs hold none; :func:`streak_volume` adds what such a CT would hold (``CTRealism.streaks``): in each
axial slice through the metal, dark streaks along the direction of the longest metal path (photon
starvation and beam hardening: the rays along it are the ones the metal starved) and fainter bright and
dark streaks at other angles, their strength growing with the slice's metal load and fading with
distance, constant within each reconstructed slice of a thick-slice CT (Barrett & Keat,
RadioGraphics 2004, "Artifacts in CT"; Boas & Fleischmann, Imaging Med 2012). Amplitudes: hundreds
of HU near steel or CoCr, a few tens near titanium; tens of HU at 10 cm.

Attenuation at ~60 keV (NIST XCOM mass attenuation x density, 1/mm): cobalt-chromium ~1.0
(8.3 g/cm3), stainless steel ~0.95 (7.9 g/cm3), titanium alloy ~0.2 (4.4 g/cm3); the polyethylene
liner is water-like and left out. Geometry (mm): cup 44-56 outer diameter, 3-5 shell, head 28-36,
stem 120-160 long tapering 16 -> 8 wide; iliosacral screws 6.5-7.3 across the joint into S1.
"""
from __future__ import annotations

import numpy as np

from sijscan.phantom.ct.body import MU_WATER
from sijscan.phantom.ct.case import CTCase
from sijscan.phantom.ct.femur import GRID_MM, capsule
from sijscan.phantom.ct.joint import find_joint, joint_points_mm

METAL_MU = {"cocr": 1.0, "steel": 0.95, "ti": 0.2}
HARDENING_C = 3.0
"""Beam hardening: line integrals well below this are linear, far above it logarithmic."""


def harden(metal_line: np.ndarray, *, c: float = HARDENING_C) -> np.ndarray:
    """Effective (polychromatic) line integral of a monochromatic metal line integral; monotone, sublinear."""
    return (c * np.log1p(np.maximum(metal_line, 0.0) / c)).astype(np.float32)


def _grid(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    zs, ys, xs = (np.arange(lo[k], hi[k], GRID_MM) for k in (2, 1, 0))
    p = np.stack(np.meshgrid(xs, ys, zs, indexing="xy"), axis=-1).transpose(2, 0, 1, 3).astype(np.float32)
    return p, np.array([xs[0], ys[0], zs[0]])


def _occupancy(d: np.ndarray) -> np.ndarray:
    """Partial-volume fill (0-1) of a signed distance field on the 1 mm grid."""
    return np.clip(0.5 - d / GRID_MM, 0.0, 1.0).astype(np.float32)


def hip_implant(head: np.ndarray, radius: float, side: str, rng: np.random.Generator, *,
                metal: str = "cocr") -> tuple[np.ndarray, np.ndarray]:
    """(mu volume z/y/x on a 1 mm grid, origin x, y, z mm) of a cup, head and stem in ``side``'s hip."""
    lat = 1.0 if side == "left" else -1.0
    mu = METAL_MU[metal]
    r_cup = float(np.clip(radius + rng.uniform(0.0, 3.0), 22.0, 28.0))
    shell = float(rng.uniform(3.0, 5.0))
    r_head = float(rng.choice([14.0, 16.0, 18.0]))
    ang = np.deg2rad(rng.uniform(125.0, 135.0) - 90.0)
    neck_dir = np.array([lat * np.cos(ang), 0.0, -np.sin(ang)])
    neck_end = head + 2.1 * radius * neck_dir
    stem_len = float(rng.uniform(120.0, 160.0))
    tip = neck_end + np.array([-lat * 0.1 * stem_len, 0.0, -stem_len])
    opening = np.array([lat * np.sin(np.deg2rad(45.0)), -0.25, -np.cos(np.deg2rad(45.0))])  # 45 deg inclination
    opening /= np.linalg.norm(opening)
    lo = np.minimum.reduce([head - r_cup - 3, tip - 12, neck_end - 15]) - 2
    hi = np.maximum.reduce([head + r_cup + 3, tip + 12, neck_end + 15]) + 2
    p, origin = _grid(lo, hi)
    rel = p - head
    dist = np.linalg.norm(rel, axis=-1)
    d_shell = np.maximum(np.abs(dist - (r_cup - shell / 2)) - shell / 2, rel @ opening)  # the dome, open laterally
    d_head = dist - r_head
    t = np.clip(((p - neck_end) @ (tip - neck_end)) / float((tip - neck_end) @ (tip - neck_end)), 0.0, 1.0)
    d_stem = np.linalg.norm(p - (neck_end + t[..., None] * (tip - neck_end)), axis=-1) - (8.0 - 4.0 * t)
    d_neck = capsule(p, head, neck_end, 6.0)
    metal_head = np.maximum(_occupancy(d_head), np.maximum(_occupancy(d_stem), _occupancy(d_neck)))
    cup = _occupancy(d_shell)
    vol = METAL_MU["cocr" if metal == "ti" else metal] * metal_head + mu * cup  # heads are CoCr (or ceramic)
    return np.ascontiguousarray(vol, np.float32), origin


def sij_screws(case: CTCase, side: str, rng: np.random.Generator, *, metal: str = "steel",
               count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mu volume, origin) of 1-2 iliosacral screws entering the lateral ilium, crossing ``side``'s
    joint into the S1 body (the fixation of posterior pelvic ring injuries)."""
    pts = joint_points_mm(case, find_joint(case, side))
    centre = np.median(pts, axis=0)
    lat = 1.0 if side == "left" else -1.0
    n = int(count or rng.integers(1, 3))
    shafts = []
    for k in range(n):
        c = centre + np.array([0.0, rng.uniform(-6.0, 6.0), 12.0 - 22.0 * k + rng.uniform(-4.0, 4.0)])
        start = c + np.array([lat * rng.uniform(35.0, 50.0), rng.uniform(-5.0, 5.0), rng.uniform(-8.0, 0.0)])
        end = c - np.array([lat * rng.uniform(35.0, 55.0), 0.0, 0.0])
        shafts.append((start, end, float(rng.uniform(3.25, 3.65))))
    lo = np.min([np.minimum(a, b) for a, b, _ in shafts], axis=0) - 12
    hi = np.max([np.maximum(a, b) for a, b, _ in shafts], axis=0) + 12
    p, origin = _grid(lo, hi)
    fill = np.zeros(p.shape[:3], np.float32)
    for start, end, r in shafts:
        fill = np.maximum(fill, _occupancy(capsule(p, start, end, r)))
        axis = (end - start) / np.linalg.norm(end - start)
        washer = capsule(p, start - 2.0 * axis, start + 1.0 * axis, 2.6 * r)  # head and washer on the ilium
        fill = np.maximum(fill, _occupancy(washer))
    return np.ascontiguousarray(METAL_MU[metal] * fill, np.float32), origin


STREAK_REACH_MM = 100.0
STREAK_LOAD_MM = 100.0
"""A slice's metal load (sum of mu over its area, mm) at which its streaks reach full strength: a
12 mm CoCr stem is ~110, a titanium one ~23."""


def streak_volume(metal_mu: np.ndarray, origin: np.ndarray, rng: np.random.Generator, *,
                  slice_mm: float | None = None, reach_mm: float = STREAK_REACH_MM) -> tuple[np.ndarray, np.ndarray]:
    """(signed mu volume, origin) of the reconstruction streaks a CT holding ``metal_mu`` (z/y/x on
    the 1 mm grid, ``origin`` x/y/z mm) would carry: the grid padded by ``reach_mm`` in x and y.
    ``slice_mm`` > 1: one pattern per reconstructed slice (a thick-slice CT's stair-steps)."""
    pad = int(round(reach_mm / GRID_MM))
    nz, ny, nx = metal_mu.shape
    out = np.zeros((nz, ny + 2 * pad, nx + 2 * pad), np.float32)
    ys, xs = np.mgrid[0:ny + 2 * pad, 0:nx + 2 * pad].astype(np.float32) * GRID_MM
    strength = float(rng.uniform(400.0, 900.0))  # HU of a fully loaded slice's dark streak near the metal
    n_bright = int(rng.integers(3, 7))
    jitter = np.deg2rad(rng.normal(0.0, 6.0, 2))
    others = rng.uniform(0.0, np.pi, n_bright)
    widths = rng.uniform(1.0, 2.5, 2 + n_bright)
    signs = np.concatenate([[-1.0, -1.0], np.where(rng.random(n_bright) < 0.7, 0.45, -0.3)])
    block = max(1, int(round((slice_mm or GRID_MM) / GRID_MM)))
    for z0 in range(0, nz, block):
        m = metal_mu[z0:z0 + block].mean(axis=0)
        load = float(m.sum()) * GRID_MM * GRID_MM
        if load <= 1e-3:
            continue
        yy, xx = np.nonzero(m)
        w = m[yy, xx]
        cy, cx = (float(np.average(v, weights=w)) for v in (yy, xx))
        cov = np.cov(np.stack([xx - cx, yy - cy]), aweights=w) if len(w) > 2 else np.eye(2)
        _, evecs = np.linalg.eigh(cov)
        long_axis = float(np.arctan2(evecs[1, -1], evecs[0, -1]))  # the eigenvector of the largest spread
        angles = np.concatenate([long_axis + jitter, others])
        dx, dy = xs - np.float32((cx + pad) * GRID_MM), ys - np.float32((cy + pad) * GRID_MM)
        r = np.hypot(dx, dy)
        fade = np.where(r <= reach_mm, 25.0 / (25.0 + r), 0.0).astype(np.float32)
        hu = np.zeros_like(fade)
        for a, s, wd in zip(angles, signs, widths):
            d = dx * np.float32(np.sin(a)) - dy * np.float32(np.cos(a))
            d *= d
            d *= np.float32(-0.5 / (wd * wd))
            hu += np.float32(s) * np.exp(d)
        hu *= fade * np.float32(strength * min(1.0, load / STREAK_LOAD_MM))
        hu[pad:pad + ny, pad:pad + nx][m > 0] = 0.0  # the metal itself is the metal's
        out[z0:z0 + block] = hu * np.float32(MU_WATER / 1000.0)
    return out, np.asarray(origin, float) - np.array([pad * GRID_MM, pad * GRID_MM, 0.0])
