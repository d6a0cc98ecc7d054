"""A synthetic body for bone-only CTs: analytic line integrals of water/fat and bowel gas.

Everything is defined in the case's volume frame (mm), so it moves with the pelvis's pose; the
rays come from :mod:`sijscan.phantom.ct.geometry`. The body is two nested elliptic cylinders
along z (muscle/viscera as water inside, a subcutaneous fat layer outside) whose width grows
towards the hips; gas is a set of ellipsoids (rectum, sigmoid, caecum and small bubbles mottling
stool) ahead of the sacrum and over the iliac fossae. Line integrals are in the phantom's units
(mu at ~60 keV, 1/mm, times mm): water 0.0205/mm, fat 0.0180/mm, gas 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sijscan.phantom.ct.geometry import Detector, Pose, project_points, ray_directions, source_position

MU_WATER, MU_FAT = 0.0205, 0.0180


@dataclass(frozen=True)
class BodyShape:
    """Inner (water) and outer (skin) ellipse half-axes (mm) at the pelvis centre, the centre (x, y)."""

    centre_xy: tuple[float, float]
    inner: tuple[float, float]
    outer: tuple[float, float]
    widen_per_100mm: float
    z_ref: float


def sample_body(bone_lo: np.ndarray, bone_hi: np.ndarray, *, habitus: float, rng: np.random.Generator) -> BodyShape:
    """A body around the bones' box (``bone_lo``/``bone_hi``: x, y, z mm); ``habitus`` ~0.7-1.6."""
    half = (bone_hi - bone_lo) / 2.0
    mid = (bone_hi + bone_lo) / 2.0
    muscle = float(rng.uniform(22.0, 40.0)) * habitus ** 0.5
    fat = float(rng.uniform(8.0, 28.0)) * habitus ** 2
    inner = (half[0] + muscle, half[1] + 0.7 * muscle)
    outer = (inner[0] + fat, inner[1] + fat * 1.3)
    return BodyShape(centre_xy=(float(mid[0]), float(mid[1] - rng.uniform(5.0, 20.0))), inner=inner, outer=outer,
                     widen_per_100mm=float(rng.uniform(0.06, 0.14)), z_ref=float(mid[2]))


def _cyl_chord(o: np.ndarray, d: np.ndarray, cx: float, cy: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ox, oy = o[0] - cx, o[1] - cy
    dx, dy = d[..., 0], d[..., 1]
    qa = dx * dx / (a * a) + dy * dy / (b * b)
    qb = 2.0 * (ox * dx / (a * a) + oy * dy / (b * b))
    qc = ox * ox / (a * a) + oy * oy / (b * b) - 1.0
    disc = qb * qb - 4.0 * qa * qc
    return np.sqrt(np.maximum(disc, 0.0)) / qa


def ellipsoid_chord(o: np.ndarray, d: np.ndarray, centre: np.ndarray, axes: np.ndarray) -> np.ndarray:
    oc = (o - centre) / axes
    dd = d / axes
    qa = (dd * dd).sum(-1)
    qb = 2.0 * (dd * oc).sum(-1)
    qc = float((oc * oc).sum() - 1.0)
    disc = qb * qb - 4.0 * qa * qc
    return np.sqrt(np.maximum(disc, 0.0)) / qa


def sample_gas(bone_lo: np.ndarray, bone_hi: np.ndarray, sacrum_lo: np.ndarray, sacrum_hi: np.ndarray, *,
               amount: float, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Gas ellipsoids (centre, semi-axes) in mm: large pockets plus stool bubbles; ``amount`` 0..1."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    mid_x = (sacrum_lo[0] + sacrum_hi[0]) / 2.0
    width = bone_hi[0] - bone_lo[0]
    y_front = sacrum_lo[1]  # gas lies anterior to the sacrum
    n_big = int(rng.poisson(1.0 + 6.0 * amount))
    for _ in range(n_big):
        c = np.array([mid_x + rng.normal(0.0, width * 0.22), y_front - rng.uniform(10.0, 70.0),
                      rng.uniform(sacrum_lo[2] - 10.0, bone_hi[2] + 10.0)])
        axes = rng.uniform([6.0, 6.0, 5.0], [22.0, 16.0, 14.0]) * (0.6 + 0.6 * amount)
        axes[int(rng.integers(0, 3)) if rng.random() < 0.5 else 0] *= rng.uniform(1.2, 2.2)  # loops are elongated
        out.append((c, axes))
    n_clusters = int(rng.poisson(0.5 + 2.5 * amount))
    for _ in range(n_clusters):  # stool: a cloud of small bubbles
        c0 = np.array([mid_x + rng.normal(0.0, width * 0.2), y_front - rng.uniform(10.0, 60.0),
                       rng.uniform(sacrum_lo[2], bone_hi[2])])
        for _ in range(int(rng.integers(25, 70))):
            c = c0 + rng.normal(0.0, [12.0, 8.0, 10.0])
            out.append((c, rng.uniform(0.8, 2.6, size=3)))
    return out


def _stool(soft: np.ndarray, amount: float, *, pose: Pose, det: Detector, centre: np.ndarray, step: int,
           rng: np.random.Generator) -> np.ndarray:
    """Mottled bowel content: band-passed noise, its low tail as small gas lucencies, over the lower
    abdomen and true pelvis (a 2-D texture on the detector, centred on the projected pelvis)."""
    h, w = soft.shape
    mm = det.pixel_spacing_mm * step
    noise = rng.normal(0.0, 1.0, size=(h, w)).astype(np.float32)
    fine = cv2.GaussianBlur(noise, (0, 0), 2.5 / mm) - cv2.GaussianBlur(noise, (0, 0), 7.0 / mm)
    fine /= max(float(fine.std()), 1e-6)
    bubbles = np.clip(-(fine + 0.8), 0.0, None)  # small lucent pockets ...
    patches = cv2.GaussianBlur(rng.normal(0.0, 1.0, size=(h, w)).astype(np.float32), (0, 0), 18.0 / mm)
    patches /= max(float(patches.std()), 1e-6)
    bubbles *= np.clip(patches - 0.2, 0.0, 1.0)  # ... clustered in stool-filled loops
    cu, cv = project_points(np.asarray(centre, float)[None], pose, det, centre)[0] / step
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ax, ay = 80.0 / mm, 75.0 / mm
    cx, cy = cu + rng.normal(0.0, 20.0) / mm, cv - rng.uniform(10.0, 50.0) / mm
    region = np.exp(-(((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2) ** 2)
    return np.maximum(soft - np.float32(0.25 * amount) * bubbles * region, 0.0)


def add_ellipsoids(out: np.ndarray, blobs: list[tuple[np.ndarray, np.ndarray, float]], *, pose: Pose, det: Detector,
                   centre: np.ndarray, step: int, d: np.ndarray | None = None) -> np.ndarray:
    """Add ``mu * chord`` of each (centre, semi-axes, mu) ellipsoid (volume frame, mm) to ``out`` (the
    detector at every ``step``-th pixel) in place, each within its projected reach; return ``out``."""
    if not blobs:
        return out
    d = ray_directions(pose, det, step=step) if d is None else d
    o = source_position(pose, centre)
    centres = np.array([c for c, _, _ in blobs])
    px = project_points(centres, pose, det, centre) / step
    reach = np.array([a.max() for _, a, _ in blobs]) * (pose.sid_mm / (pose.sod_mm - 150.0)) / det.pixel_spacing_mm / step
    h, w = out.shape
    for (c, axes, mu), (u, v), r in zip(blobs, px, reach):
        c0, c1 = int(max(u - r - 1, 0)), int(min(u + r + 2, w))
        r0, r1 = int(max(v - r - 1, 0)), int(min(v + r + 2, h))
        if c1 > c0 and r1 > r0:
            out[r0:r1, c0:c1] += mu * ellipsoid_chord(o, d[r0:r1, c0:c1], c, axes)
    return out


def body_line_integrals(shape: BodyShape, gas: list[tuple[np.ndarray, np.ndarray]], *, pose: Pose, det: Detector,
                        centre: np.ndarray, step: int = 2, stool: float = 0.0,
                        rng: np.random.Generator | None = None) -> np.ndarray:
    """Soft-tissue line integral (H, W) float32: water + fat chords minus gas chords (never < 0);
    ``stool`` (0..1, needs ``rng``) adds mottled bowel content over the pelvis."""
    d = ray_directions(pose, det, step=step)
    o = source_position(pose, centre)
    cx, cy = shape.centre_xy
    s_mid = (cy - o[1]) / np.maximum(d[..., 1], 1e-6)
    z_mid = o[2] + s_mid * d[..., 2]
    grow = 1.0 + shape.widen_per_100mm * np.clip((shape.z_ref - z_mid) / 100.0, -1.0, 1.5)
    inner = _cyl_chord(o, d, cx, cy, shape.inner[0] * grow, shape.inner[1] * grow)
    outer = _cyl_chord(o, d, cx, cy, shape.outer[0] * grow, shape.outer[1] * grow)
    soft = MU_WATER * inner + MU_FAT * (outer - inner)
    add_ellipsoids(soft, [(c, a, -MU_WATER) for c, a in gas], pose=pose, det=det, centre=centre, step=step, d=d)
    soft = np.maximum(soft, 0.0).astype(np.float32)
    if stool > 0:
        soft = _stool(soft, stool, pose=pose, det=det, centre=centre, step=step, rng=rng)
    if step == 1:
        return soft
    return cv2.resize(soft, (det.width, det.height), interpolation=cv2.INTER_LINEAR)
