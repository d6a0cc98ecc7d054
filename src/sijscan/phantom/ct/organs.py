"""More of the body for bone-only CTs: bowel loops over the SIJs, a bladder with contrast, psoas shadows.

All are ellipsoids in the case's volume frame (mm), rendered by
:func:`sijscan.phantom.ct.body.add_ellipsoids` as (centre, semi-axes, mu) with mu the change of
attenuation against what the synthetic body already holds there (1/mm, ~60 keV):

* bowel loops with gas over each SIJ: the sigmoid colon lies in the pelvis over the left SIJ, the
  caecum and terminal ileum in the right iliac fossa over the right one, both anterior to the
  joint; a loop is a chain of haustral segments (colon 30-50 mm wide, small bowel 20-30 mm); gas
  replaces water (the body's gas ellipsoids);
* the bladder behind the pubic symphysis, above the pelvic floor; urine is water-like (invisible
  against the body's water), iodinated contrast (excreted after a contrast CT, or a cystogram) adds
  ~0.00066/mm per mg/ml (iodine ~6.6 cm2/g at 60 keV; photoelectric, so it goes with the bone
  channel's energy dependence);
* psoas shadows: each psoas runs from T12-L1 beside the vertebral bodies obliquely down and out over
  the pelvic brim; retroperitoneal fat around it (fat - water = -0.0025) outlines it on a film.
"""
from __future__ import annotations

import numpy as np

from sijscan.phantom.ct.body import MU_FAT, MU_WATER

IODINE_MU_PER_MG_ML = 0.00066
Blob = tuple[np.ndarray, np.ndarray, float]


def _loop(start: np.ndarray, end: np.ndarray, width: float, rng: np.random.Generator, *, mu: float) -> list[Blob]:
    """A wavy chain of haustral gas segments from ``start`` to ``end`` (mm), ``width`` mm across."""
    n = max(3, int(np.linalg.norm(end - start) / (0.7 * width)))
    t = np.linspace(0.0, 1.0, n)
    bend = rng.normal(0.0, 0.25 * width, size=3) * np.array([1.0, 0.5, 1.0])
    path = start + t[:, None] * (end - start) + np.sin(np.pi * t)[:, None] * bend
    out = []
    for p in path:
        axes = np.array([0.5, 0.4, 0.5]) * width * rng.uniform(0.75, 1.15, size=3)
        out.append((p, axes, mu))
    return out


def gas_over_joints(joint_centres: dict[str, np.ndarray], *, amount: float,
                    rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Gas-filled loops crossing each joint's place on an AP film (``joint_centres``: side -> x, y, z mm),
    as the (centre, semi-axes) gas ellipsoids of :func:`sijscan.phantom.ct.body.body_line_integrals`;
    more and wider loops with ``amount`` (0-1)."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    if amount <= 0:
        return out
    for side, c in sorted(joint_centres.items()):
        for _ in range(int(rng.integers(1, 2 + round(2 * amount)))):
            width = float(rng.uniform(30.0, 50.0) if side == "left" else rng.uniform(22.0, 45.0)) * (0.6 + 0.4 * amount)
            front = c[1] - rng.uniform(35.0, 80.0)  # anterior to the joint
            a = np.array([c[0] + rng.uniform(-45.0, 45.0), front, c[2] + rng.uniform(30.0, 60.0)])
            b = np.array([c[0] + rng.uniform(-45.0, 45.0), front + rng.uniform(-10.0, 10.0), c[2] - rng.uniform(30.0, 60.0)])
            out += [(c, axes) for c, axes, _ in _loop(a, b, width, rng, mu=-MU_WATER)]
    return out


def bladder(bone_lo: np.ndarray, bone_hi: np.ndarray, *, contrast_mg_ml: float, rng: np.random.Generator) -> list[Blob]:
    """The bladder with ``contrast_mg_ml`` iodine (for the bone channel; [] without contrast)."""
    if contrast_mg_ml <= 0:
        return []
    h = bone_hi[2] - bone_lo[2]
    axes = rng.uniform([40.0, 30.0, 28.0], [60.0, 45.0, 48.0])
    c = np.array([(bone_lo[0] + bone_hi[0]) / 2.0 + rng.normal(0.0, 5.0), bone_lo[1] + 25.0 + axes[1],
                  bone_lo[2] + 0.22 * h + axes[2] * 0.8])
    return [(c, axes, IODINE_MU_PER_MG_ML * float(contrast_mg_ml))]


def psoas(s1_top: np.ndarray, bone_lo: np.ndarray, bone_hi: np.ndarray, rng: np.random.Generator) -> list[Blob]:
    """Psoas muscles (water) in their retroperitoneal fat (fat), both sides, as soft-channel changes."""
    out: list[Blob] = []
    half = (bone_hi[0] - bone_lo[0]) / 2.0
    for lat in (-1.0, 1.0):
        top = s1_top + np.array([lat * 28.0, 5.0, 185.0])  # beside the L1 body
        low = np.array([s1_top[0] + lat * 0.55 * half, s1_top[1] - 30.0, s1_top[2] - 45.0])  # over the pelvic brim
        for t in np.linspace(0.0, 1.0, 9):
            c = top + t * (low - top)
            r = 12.0 + 14.0 * t + rng.uniform(-2.0, 2.0)
            out.append((c, np.array([r + 8.0, r + 6.0, 24.0]), -(MU_WATER - MU_FAT)))  # fat around it
            out.append((c, np.array([r, r * 0.9, 22.0]), MU_WATER - MU_FAT))  # the muscle
    return out
