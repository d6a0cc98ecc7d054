"""The case's skeleton: landmark outlines in patient millimetres, posed.

Landmarks are written for the image-right side (x > 0, the patient's left) as (x, y, z) rows, z
being the depth (mm, anterior positive) used by axial rotation; the image-left side is the mirror
image with its own shape noise. Sex sets the proportions (male taller and narrower with a narrow
subpubic arch, female wider with a wide arch), ``body_scale`` the size, ``pelvic_tilt_deg``
foreshortens the sacrum and inlet and moves the symphysis, ``axial_rotation_deg`` projects depth
into width (one iliac wing wider, the opposite obturator foramen wider).

Sign conventions: positive tilt = more anterior pelvic tilt (sacrum more foreshortened, symphysis
lower relative to the sacrum); positive axial rotation widens the image-right iliac wing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sijscan.phantom import anat_outlines as outl
from sijscan.phantom.anat_frame import open_spline
from sijscan.phantom.anat_outlines import Pose
from sijscan.phantom.spec import CaseSpec

SIDES = ("image_left", "image_right")
SIGN = {"image_left": -1.0, "image_right": 1.0}


def patient_side(side: str) -> str:
    """The patient's side shown on an image side (patient's right is on the image's left)."""
    return "right" if side == "image_left" else "left"


@dataclass
class SideSkeleton:
    hip: np.ndarray  # closed outline (mm, dense)
    obturator: np.ndarray  # closed outline of the hole
    head_c: np.ndarray  # femoral head centre (2,)
    head_r: float
    femur: np.ndarray  # closed outline of neck + trochanters + shaft (the head is a circle)
    ant_line: np.ndarray  # anterior joint line = sacral margin, top -> bottom (M, 2)
    post_line: np.ndarray  # posterior joint line = iliac margin, top -> bottom (M, 2)
    joint_w: float  # normal joint space (mm)
    brim: np.ndarray  # iliopectineal line (open polyline)
    ilioischial: np.ndarray
    teardrop: np.ndarray
    crest: np.ndarray  # iliac crest outline part (open)
    tuberosity: np.ndarray  # ischial tuberosity lower outline (open)
    gt_tip: np.ndarray  # greater trochanter lateral point (2,)
    lt: np.ndarray  # lesser trochanter point (2,)
    acetabular_gap: float  # hip joint space (mm)


@dataclass
class Skeleton:
    sex: str
    sides: dict[str, SideSkeleton]
    sacrum: np.ndarray  # closed outline (mm, dense)
    sacrum_mid_y: float
    foramina: list[tuple[float, float, float]]  # (x, y, r)
    coccyx: list[np.ndarray]
    vertebrae: list[dict]  # L4, L5: centre, half sizes, tps, pedicles, spinous
    symphysis: np.ndarray  # (2, 2) top and bottom of the symphysis midline
    promontory: np.ndarray  # (2,)
    info: dict = field(default_factory=dict)


def build_skeleton(spec: CaseSpec) -> Skeleton:
    """All outlines of one case in posed patient mm. Deterministic in ``spec.anatomy_seed``."""
    seed = int(spec.anatomy_seed) & 0xFFFFFFFF
    rng = np.random.default_rng([seed, 11])
    female = spec.sex == "F"
    pose = Pose(
        s=float(spec.body_scale) * (0.97 if female else 1.0),
        wide=(1.06 if female else 1.0) * (1.0 + 0.03 * rng.standard_normal()),
        tall=(0.93 if female else 1.0) * (1.0 + 0.03 * rng.standard_normal()),
        rot=float(spec.axial_rotation_deg),
        tilt=float(spec.pelvic_tilt_deg),
        female=female,
    )
    joint = outl.joint_layout(rng, female=female)
    foramen_jit = rng.normal(0, 0.8, (4, 2))
    sides: dict[str, SideSkeleton] = {}
    for side in SIDES:
        sg = SIGN[side]
        srng = np.random.default_rng([seed, 12 if sg < 0 else 13])
        ant_d, post_d = outl.joint_lines(pose, joint, srng, sg)
        hip = outl.hip_outline(pose, post_d, srng, sg)
        obturator = outl.obturator(pose, srng, sg)
        fem = outl.femur(pose, srng, sg)
        lines = outl.pelvic_lines(pose, joint, hip["sym_top"], srng, sg)
        sides[side] = SideSkeleton(
            hip=hip["outline"],
            obturator=obturator,
            head_c=fem["head_c"],
            head_r=fem["head_r"],
            femur=fem["outline"],
            ant_line=ant_d,
            post_line=post_d,
            joint_w=joint["w"] * (1 + 0.08 * srng.standard_normal()),
            brim=lines["brim"],
            ilioischial=lines["ilioischial"],
            teardrop=lines["teardrop"],
            crest=open_spline(hip["posed"][0:6], 8),
            tuberosity=open_spline(hip["posed"][12:16], 8),
            gt_tip=fem["gt_tip"],
            lt=fem["lt"],
            acetabular_gap=float(rng.uniform(3.5, 4.8)),
        )
    sacrum, prom = outl.sacrum_outline(pose, {k: v.ant_line for k, v in sides.items()}, rng)
    foramina = outl.foramina(pose, foramen_jit)
    coccyx = outl.coccyx(pose, rng)
    vertebrae = outl.vertebrae(pose, rng)
    sym_mm = [[0.0, outl.sym_top(female), 60.0], [0.0, outl.sym_bottom(female), 60.0]]
    sym = pose.project(pose.scale(sym_mm), 1.0, "pubis")
    sk = Skeleton(
        sex="F" if female else "M",
        sides=sides,
        sacrum=sacrum,
        sacrum_mid_y=float(np.mean(sacrum[:, 1])),
        foramina=foramina,
        coccyx=coccyx,
        vertebrae=vertebrae,
        symphysis=sym,
        promontory=prom,
    )
    sk.info = _measure(sk)
    return sk


def _measure(sk: Skeleton) -> dict:
    """Inlet width/height and subpubic angle from the posed outlines (mm, degrees)."""
    bl, br = sk.sides["image_left"].brim, sk.sides["image_right"].brim
    inlet_w = float(br[:, 0].max() - bl[:, 0].min())
    inlet_h = float(sk.symphysis[0, 1] - sk.promontory[1])
    angles = []
    bottom = sk.symphysis[1]
    for side in SIDES:
        hip = sk.sides[side].hip
        sg = SIGN[side]
        # the arch: outline points below the symphysis bottom, within 30 mm laterally
        dx = sg * (hip[:, 0] - bottom[0])
        sel = (dx > 8) & (dx < 22) & (hip[:, 1] > bottom[1])
        if sel.any():
            v = hip[sel].mean(axis=0) - bottom
            angles.append(math.degrees(math.atan2(abs(v[0]), max(v[1], 1e-3))))
    return {
        "inlet_width_mm": inlet_w,
        "inlet_height_mm": inlet_h,
        "inlet_ratio": inlet_w / max(inlet_h, 1e-3),
        "subpubic_angle_deg": float(sum(angles)) if len(angles) == 2 else float("nan"),
    }
