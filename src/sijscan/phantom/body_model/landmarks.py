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

from sijscan.phantom.body_model import outlines as outl
from sijscan.phantom.body_model.ctshape import N_HIP
from sijscan.phantom.body_model.ctskeleton import arch_half_angle, build_ct_bones, members_of
from sijscan.phantom.body_model.frame import closed_spline, open_spline
from sijscan.phantom.body_model.outlines import Pose
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
    ct_w: np.ndarray | None = None  # mixing weights over the CT shape set
    ct_anchor: np.ndarray | None = None  # posed points matching the set's (image-right x), for the template warp


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
    sacrum_anchor: np.ndarray | None = None  # posed points matching the CT sacrum set
    sacrum_w: np.ndarray | None = None
    members: tuple[str, ...] | None = None  # CT cases the shapes come from (None: all)
    info: dict = field(default_factory=dict)


def _post_line(ant: np.ndarray, joint: dict, sg: float) -> np.ndarray:
    """The posterior (iliac) joint line: medial of the anterior line by the seeded separation."""
    u = np.linspace(0.0, 1.0, len(ant))
    sep = joint["sep_top"] + (joint["sep_bot"] - joint["sep_top"]) * u
    post = ant.copy()
    post[:, 0] -= sg * sep
    return post


def build_skeleton(spec: CaseSpec) -> Skeleton:
    """All outlines of one case in posed patient mm. Deterministic in ``spec.anatomy_seed``.

    Hip bones and sacrum come from the CT shape set (:mod:`sijscan.phantom.body_model.ctskeleton`); femora, vertebrae
    and coccyx from the landmark tables, placed on the CT bones (heads in the acetabula, L5 on the
    promontory)."""
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
    ct = build_ct_bones(pose, seed=seed, members=members_of(spec.extras))
    sides: dict[str, SideSkeleton] = {}
    k1, k2, k3, k4 = np.cumsum(N_HIP)[:4]
    for side in SIDES:
        sg = SIGN[side]
        srng = np.random.default_rng([seed, 12 if sg < 0 else 13])
        c = ct["sides"][side]
        parts = c["parts"]
        ant = open_spline(parts["ant"], 6)
        post = _post_line(ant, joint, sg)
        rest = open_spline(parts["outline"], 4)
        # the iliac margin under the sacrum, its end points on the sacral margin (the hip bone's
        # label meets the sacrum's only along the joint)
        medial = parts["post"].copy()
        medial[0], medial[-1] = parts["ant"][0], parts["ant"][-1]
        hip = np.concatenate([open_spline(medial, 6)[::-1], rest])
        fem = outl.femur(pose, srng, sg)
        shift = c["head_c"] - fem["head_c"]  # the femur hangs from the CT acetabulum
        ol = parts["outline"]
        sides[side] = SideSkeleton(
            hip=hip,
            obturator=closed_spline(parts["obturator"], 4),
            head_c=c["head_c"],
            head_r=fem["head_r"],
            femur=fem["outline"] + shift,
            ant_line=ant,
            post_line=post,
            joint_w=joint["w"] * (1 + 0.08 * srng.standard_normal()),
            brim=open_spline(ol[k4:], 6),
            ilioischial=np.empty((0, 2)),
            teardrop=np.empty((0, 2)),
            crest=open_spline(ol[: k2 + 1], 4),
            tuberosity=open_spline(ol[k3 - 4 : k3 + 5], 4),
            gt_tip=fem["gt_tip"] + shift,
            lt=fem["lt"] + shift,
            acetabular_gap=float(rng.uniform(3.5, 4.8)),
            ct_w=c["w"],
            ct_anchor=c["anchor"],
        )
    sacrum = ct["sacrum"]
    prom, apex = ct["promontory"], ct["apex"]
    coccyx = outl.coccyx(pose, rng)
    c_shift = apex + np.array([0.0, 5.0 * pose.s]) - coccyx[0].mean(axis=0)  # the coccyx hangs from the apex
    coccyx = [cc + c_shift for cc in coccyx]
    vertebrae = outl.vertebrae(pose, rng)
    dy = prom[1] - 16.0 * pose.s - vertebrae[0]["c"][1]  # L5 just above the promontory
    for v in vertebrae:
        v["c"] = v["c"] + np.array([0.0, dy])
    vertebrae.append(outl.lumbar3(pose, rng, vertebrae[-1]))
    # the symphysis: the medial face of the pubis where the arch warp found it (image-right side)
    sym = ct["sides"]["image_right"]["parts"]["symphysis"].copy()
    sym[:, 0] = 0.0
    sk = Skeleton(
        sex="F" if female else "M",
        sides=sides,
        sacrum=sacrum,
        sacrum_mid_y=float(np.mean(sacrum[:, 1])),
        foramina=[],
        coccyx=coccyx,
        vertebrae=vertebrae,
        symphysis=sym,
        promontory=prom,
        sacrum_anchor=ct["sacrum_anchor"],
        sacrum_w=ct["sacrum_w"],
        members=members_of(spec.extras),
    )
    sk.info = _measure(sk)
    return sk


def _measure(sk: Skeleton) -> dict:
    """Inlet width/height and subpubic angle from the posed outlines (mm, degrees)."""
    bl, br = sk.sides["image_left"].brim, sk.sides["image_right"].brim
    inlet_w = float(br[:, 0].max() - bl[:, 0].min())
    inlet_h = float(sk.symphysis[0, 1] - sk.promontory[1])
    # the subpubic angle: between the medial edges of the inferior pubic rami below the symphysis
    angles = [arch_half_angle(sk.sides[side].hip, float(sk.symphysis[1, 1])) for side in SIDES]
    angles = [a for a in angles if math.isfinite(a)]
    return {
        "inlet_width_mm": inlet_w,
        "inlet_height_mm": inlet_h,
        "inlet_ratio": inlet_w / max(inlet_h, 1e-3),
        "subpubic_angle_deg": float(sum(angles)) if len(angles) == 2 else float("nan"),
    }
