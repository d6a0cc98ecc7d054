"""Landmark tables of the textbook adult pelvis and the builders that turn them into one
patient's posed outlines (patient mm; see :mod:`anat_landmarks` for the conventions).

Every table is written for the image-right side (x > 0, the patient's left) as (x, y, z) rows, z
being the depth (mm, anterior positive) that axial rotation projects into x. The order of random
draws is part of the contract with the anatomy seed: change it and every phantom patient changes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sijscan.phantom.anat_frame import closed_spline, ellipse_pts, open_spline

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


def sym_top(female: bool) -> float:
    return 48.0 if female else 46.0


def sym_bottom(female: bool) -> float:
    return 79.0 if female else 86.0


def joint_layout(rng: np.random.Generator, *, female: bool) -> dict:
    """The SIJ of the textbook pelvis with seeded line separation, bowing and joint width."""
    sac_w = 1.05 if female else 1.0
    jt, jb = -86.0, -20.0 + (4.0 if female else 0.0)
    sep_top, sep_bot = rng.uniform(3.0, 10.0), rng.uniform(0.5, 5.0)
    bow = rng.uniform(2.0, 6.0)
    ys = np.linspace(jt, jb, 9)
    u = (ys - jt) / (jb - jt)
    ax = (57.0 * sac_w) - 20.0 * u + bow * np.sin(np.pi * u)
    px = ax - (sep_top + (sep_bot - sep_top) * u)
    return {"ys": ys, "ax": ax, "px": px, "w": float(rng.uniform(2.2, 3.6)), "sep_top": sep_top, "sep_bot": sep_bot}


def joint_lines(pose: Pose, joint: dict, srng: np.random.Generator, sg: float) -> tuple[np.ndarray, np.ndarray]:
    """(anterior line = sacral margin, posterior line = iliac margin), dense, top -> bottom."""
    ys, ax, px = joint["ys"], joint["ax"], joint["px"]
    ant0 = pose.scale(np.stack([ax, ys, np.full_like(ys, -35.0)], 1))
    ant = ant0 + np.hstack([srng.normal(0, 0.6, (1, 2)).repeat(9, 0), np.zeros((9, 1))])
    post = pose.scale(np.stack([px, ys, np.full_like(ys, -62.0)], 1))
    post[:, :2] += ant[:, :2] - ant0[:, :2]
    ant_p = pose.project(ant, sg, "sacrum")
    post_p = pose.project(post, sg, "sacrum")
    # keep the posterior (iliac) line medial of the anterior (sacral) margin
    if sg > 0:
        post_p[:, 0] = np.minimum(post_p[:, 0], ant_p[:, 0] - 0.3)
    else:
        post_p[:, 0] = np.maximum(post_p[:, 0], ant_p[:, 0] + 0.3)
    return open_spline(ant_p, 6), open_spline(post_p, 6)


def hip_outline(pose: Pose, post_d: np.ndarray, srng: np.random.Generator, sg: float) -> dict:
    """The hip bone's outline: posterior joint line, crest, acetabulum, ischium, arch, symphysis, ramus."""
    fl = 1.0 if pose.female else 0.0
    cdx = 6.0 * fl  # female iliac wings flare more and sit lower
    hip_pts = np.array(
        [
            [62, -108, -65], [80 + cdx * 0.5, -124 + 8 * fl, -45], [105 + cdx, -133 + 8 * fl, -15],
            [128 + cdx, -129 + 8 * fl, 10], [144 + cdx, -113 + 8 * fl, 30], [149 + cdx, -90 + 6 * fl, 45],
            [142 + cdx, -73 + 4 * fl, 40], [137 + cdx * 0.6, -55, 35], [128, -28, 20], [121, 0, 5],
            [111, 25, 0], [91 + 2 * fl, 42, -10], [85 + 2 * fl, 68, -20], [87 + 2 * fl, 95 - 4 * fl, -22],
            [81 + 2 * fl, 112 - 5 * fl, -20], [64, 116 - 5 * fl, -15],
        ],
        dtype=np.float64,
    )
    if pose.female:  # a wide pubic arch (subpubic angle > 90 degrees)
        arch = np.array([[48, 111, 20], [30, 101, 40], [15, 90, 55], [3, sym_bottom(True), 60]], dtype=np.float64)
    else:  # a narrow one (< 70 degrees): slender ischiopubic rami converging on the symphysis
        arch = np.array([[40, 118, 20], [17, 114, 40], [7, 104, 55], [3, sym_bottom(False), 60]], dtype=np.float64)
    st = sym_top(pose.female)
    upper = np.array(
        [[3, st, 60], [18, st - 4, 55], [40, st - 8, 40], [60, 30, 25], [58, 12, 5], [50, 4, -20], [43, -9, -40]],
        dtype=np.float64,
    )
    hip_l = pose.scale(hip_pts) + _jitter(srng, len(hip_pts), 2.0)
    arch_l = pose.scale(arch) + _jitter(srng, len(arch), 1.0)
    upper_l = pose.scale(upper) + _jitter(srng, len(upper), 1.0)
    arch_l[-1, 0] = upper_l[0, 0] = 2.5 * pose.s  # symphysis half-gap (4-6 mm between the pubic bodies)
    # the flat symphyseal face between them (no draws: keeps the seed contract), so the outline's
    # spline does not bulge into the gap
    fy = np.linspace(arch_l[-1, 1], upper_l[0, 1], 6)[1:-1]
    face_l = np.stack([np.full(4, 2.5 * pose.s), fy, np.full(4, 60.0 * pose.s)], axis=1)
    posed = [pose.project(hip_l, sg, "ilium"), pose.project(arch_l, sg, "pubis"), pose.project(face_l, sg, "pubis"),
             pose.project(upper_l, sg, "pubis")]
    # posterior joint line bottom -> top, then round the crest ... superior ramus back to the joint
    outline = np.concatenate([post_d[::-1], open_spline(np.concatenate(posed), 10)], 0)
    return {"outline": outline, "posed": posed[0], "sym_top": st}


def obturator(pose: Pose, srng: np.random.Generator, sg: float) -> np.ndarray:
    """Closed outline of the obturator foramen: oval in men, more triangular in women."""
    if pose.female:
        tri = [[23, 58, 45], [48, 49, 30], [69, 56, 10], [66, 81, 5], [47, 97, 20], [26, 87, 40]]
        ob = pose.scale(np.array(tri, dtype=np.float64))
        return closed_spline(pose.project(ob + _jitter(srng, len(ob), 1.0), sg, "pubis"), 10)
    # a large oval (about 5 x 3.5 cm on the film), long axis oblique, framed by slender rami
    e = ellipse_pts(47.0, 77.0, 19.0, 26.0, 25.0, n=12)
    ob = pose.scale(np.hstack([e, np.where(e[:, :1] > 45.0, 5.0, 45.0)]))
    return closed_spline(pose.project(ob + _jitter(srng, len(ob), 0.8), sg, "pubis"), 6)


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


def pelvic_lines(pose: Pose, joint: dict, st: float, srng: np.random.Generator, sg: float) -> dict:
    """Tangential cortical lines: iliopectineal line (pelvic brim), ilioischial line, teardrop."""
    ax, ys = joint["ax"], joint["ys"]
    out = {}
    for name, pts in (
        ("brim", [[ax[4] - 6, ys[4], -45], [62, -12, -10], [66, 14, 0], [58, 32, 20], [34, st - 6, 45],
                  [12, st - 2, 58]]),
        ("ilioischial", [[74, -35, -30], [69, 10, -10], [72, 55, -15], [84, 100, -20]]),
        ("teardrop", [[75, 8, 0], [73, 32, 0], [69, 41, 0], [64, 34, 5], [64, 10, 5]]),
    ):
        a3 = pose.scale(np.array(pts, dtype=np.float64)) + _jitter(srng, len(pts), 0.8)
        out[name] = open_spline(pose.project(a3, sg, "ilium"), 8)
    return out


def sacrum_outline(
    pose: Pose, ant_lines: dict[str, np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(closed sacrum outline: ala tops, both sacral margins, body tapering to the apex; promontory)."""
    top = pose.scale(np.array([[0, -84, -20], [22, -86, -25], [40, -92, -40]], dtype=np.float64))
    low = pose.scale(np.array([[30, -10, -50], [19, 2, -60], [9, 11, -70], [0, 14, -75]], dtype=np.float64))
    low = low + _jitter(rng, 4, 1.0)
    halves = []
    for side, sg in (("image_right", 1.0), ("image_left", -1.0)):
        t, lo, a = pose.project(top, sg, "sacrum"), pose.project(low, sg, "sacrum"), ant_lines[side]
        halves.append(
            np.concatenate(
                [
                    open_spline(np.concatenate([t[1:], a[:1]]), 8),  # ala top to the joint's top
                    a[1:],  # the sacral margin along the joint
                    open_spline(np.concatenate([a[-1:], lo]), 8)[1:],  # below the joint to the apex
                ]
            )
        )
        if sg > 0:
            mid_top = t[:1]
    outline = np.concatenate([mid_top, halves[0], halves[1][::-1]], axis=0)
    return outline, pose.project(top[:1], 1.0, "sacrum")[0]


def foramina(pose: Pose, jit: np.ndarray) -> list[tuple[float, float, float]]:
    """Four pairs of anterior sacral foramina (x, y, radius) along the arcuate lines."""
    out = []
    for k, (fx, fy, fr) in enumerate([(21, -64, 5.5), (19, -46, 5.0), (16, -30, 4.3), (13, -16, 3.5)]):
        for sg in (-1.0, 1.0):
            p = pose.scale(np.array([[sg * (fx + jit[k, 0]), fy + jit[k, 1], -40]], dtype=np.float64))
            q = pose.project(p, 1.0, "sacrum")[0]
            out.append((float(q[0]), float(q[1]), float(fr * pose.s)))
    return out


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
