"""Landmark tables of the textbook femur, lumbar spine and coccyx, and the builders that turn them
into one patient's posed outlines (patient mm; see :mod:`sijscan.phantom.body_model.landmarks` for the conventions; the
hip bones and sacrum come from the CT shape set, :mod:`sijscan.phantom.body_model.ctskeleton`).

Every table is written for the image-right side (x > 0, the patient's left) as (x, y, z) rows, z
being the depth (mm, anterior positive) that axial rotation projects into x. The order of random
draws is part of the contract with the anatomy seed: change it and every phantom patient changes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sijscan.phantom.body_model.frame import closed_spline, ellipse_pts

@dataclass(frozen=True)
class Pose:
    """One patient's size and positioning: scales landmark tables and projects them."""

    s: float  # overall size
    wide: float
    tall: float
    rot: float  # axial rotation (deg)
    tilt: float  # pelvic tilt (deg)
    female: bool

    @property
    def sac_y0(self) -> float:
        return -84.0 * self.s * self.tall

    def scale(self, a: np.ndarray | list) -> np.ndarray:
        """Landmark rows (x, y, z) of the textbook pelvis -> this patient's size (mm)."""
        a = np.asarray(a, dtype=np.float64).copy()
        a[:, 0] *= self.s * self.wide
        a[:, 1] *= self.s * self.tall
        a[:, 2] *= self.s
        return a

    def project(self, pts: np.ndarray, sign: float, region: str) -> np.ndarray:
        """(N, 3) image-right rows -> (N, 2) posed mm on the side ``sign`` (tilt, then axial rotation)."""
        p = pts.copy()
        p[:, 0] *= sign
        x, y, z = p[:, 0], p[:, 1].copy(), p[:, 2]
        t = math.radians(self.tilt)
        if region == "sacrum":
            c25 = math.cos(math.radians(25.0))
            y = self.sac_y0 + (y - self.sac_y0) * max(0.55, math.cos(math.radians(25.0) + t) / c25)
        elif region == "pubis":
            y = y + 60.0 * math.sin(t)
        elif region == "spine":
            y = y - 25.0 * math.sin(t)
        r = math.radians(self.rot)
        return np.stack([x * math.cos(r) + z * math.sin(r), y], axis=1)


def _jitter(rng: np.random.Generator, n: int, sd: float) -> np.ndarray:
    """Shape noise (mm) on x and y of n landmark rows."""
    return np.hstack([rng.normal(0.0, sd, (n, 2)), np.zeros((n, 1))])


def joint_layout(rng: np.random.Generator, *, female: bool) -> dict:
    """Seeded SIJ parameters: the posterior line's separation from the anterior one (top, bottom)
    and the normal joint width (the lines themselves come from the CT shape set)."""
    del female  # the draws are the same for both sexes
    sep_top, sep_bot = rng.uniform(3.0, 10.0), rng.uniform(0.5, 5.0)
    rng.uniform(2.0, 6.0)  # (was the bow of the hand-drawn line; kept so later draws do not shift)
    return {"w": float(rng.uniform(2.2, 3.6)), "sep_top": sep_top, "sep_bot": sep_bot}


FEMUR = np.array(  # proximal femur around the head centre (mm): neck with a waist, broad greater
    # trochanter, shaft heading down and slightly medially, lesser trochanter knob (22 rows: the
    # number of rows is part of the seed contract)
    [
        [12, -12], [24, 2], [35, 8], [43, 5], [47, -4], [56, -7], [64, -1], [67, 12], [66, 32], [61, 60],
        [57, 100], [53, 160], [50, 215], [21, 215], [24, 160], [27, 108], [15, 90], [19, 80], [24, 68],
        [23, 50], [15, 35], [5, 24],
    ],
    dtype=np.float64,
)
GT_INDEX, LT_INDEX = 7, 16


def femur(pose: Pose, srng: np.random.Generator, sg: float) -> dict:
    fl = 1.0 if pose.female else 0.0
    hc = pose.scale(np.array([[92 + 3 * fl, 20 + 2 * fl, 0]], dtype=np.float64)) + _jitter(srng, 1, 1.5)
    head_r = (21.5 if pose.female else 24.0) * pose.s * (1 + 0.03 * srng.standard_normal())
    fem3 = np.hstack([FEMUR * pose.s + hc[:, :2], np.zeros((len(FEMUR), 1))]) + _jitter(srng, len(FEMUR), 1.2)
    fem_p = pose.project(fem3, sg, "ilium")
    return {
        "head_c": pose.project(hc, sg, "ilium")[0],
        "head_r": float(head_r),
        "outline": closed_spline(fem_p, 8),
        "gt_tip": fem_p[GT_INDEX].copy(),
        "lt": fem_p[LT_INDEX].copy(),
    }


def coccyx(pose: Pose, rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for k in range(3):
        c = pose.scale(np.array([[0.0, 17.0 + 7.0 * k, -80.0]])) + _jitter(rng, 1, 0.6)
        c2 = pose.project(c, 1.0, "sacrum")[0]
        out.append(ellipse_pts(c2[0], c2[1], (6.5 - 1.5 * k) * pose.s, 4.2 * pose.s, 0.0, 16))
    return out


def vertebrae(pose: Pose, rng: np.random.Generator) -> list[dict]:
    """L5 and L4: centre, half width/height, transverse-process reach, rotation shift of the spinous."""
    out = []
    for name, cy, hh, hw, tpw in (("L5", -98.0, 12.5, 26.0, 44.0), ("L4", -134.0, 13.0, 25.0, 50.0)):
        c = pose.scale(np.array([[0.0, cy, -10.0]])) + _jitter(rng, 1, 0.7)
        out.append(
            {
                "name": name,
                "c": pose.project(c, 1.0, "spine")[0],
                "hw": hw * pose.s * (1 + 0.03 * rng.standard_normal()),
                "hh": hh * pose.s * pose.tall,
                "tp": tpw * pose.s * pose.wide,
                "tp_dy": (-2.0 if name == "L5" else 2.0) * pose.s + rng.normal(0, 1.0),
                "rot_shift": -20.0 * pose.s * math.sin(math.radians(pose.rot)),
            }
        )
    return out


def lumbar3(pose: Pose, rng: np.random.Generator, l4: dict) -> dict:
    """L3 above L4 (the top of an AP pelvis film): a little smaller body, the longest transverse processes."""
    c = l4["c"] + np.array([0.0, -36.0 * pose.s * pose.tall]) + rng.normal(0.0, 0.7, 2)
    return {
        "name": "L3",
        "c": c,
        "hw": 24.0 * pose.s * (1 + 0.03 * rng.standard_normal()),
        "hh": 13.0 * pose.s * pose.tall,
        "tp": 54.0 * pose.s * pose.wide * (1 + 0.05 * rng.standard_normal()),
        "tp_dy": 2.0 * pose.s + rng.normal(0, 1.0),
        "rot_shift": l4["rot_shift"],
    }
