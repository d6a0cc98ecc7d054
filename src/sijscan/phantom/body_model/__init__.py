"""The phantom's anatomy renderer: ``CaseSpec`` + ``Geometry`` -> noise-free :class:`Projection`.

Hip bones and sacrum carry the projected line integrals of real CT bones (warped onto each
patient's CT-derived outline); femora and vertebrae are solids with a cortical shell; overlaps
add up (alae over ilia at the SIJs, femoral heads in the acetabula, L5 over the sacral base); soft tissue
is a body envelope with fat planes and bowel gas. The label map and the true SIJ boxes come from
the same outlines. Deterministic for a spec; the same anatomy at any detector geometry.
"""
from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from sijscan.phantom.body_model.bones import render_femur, render_hip, render_ribs, render_sacrum, render_vertebrae
from sijscan.phantom.body_model.findings import render_enthesitis, render_syndesmophytes
from sijscan.phantom.body_model.frame import AnatomyInputError, Frame
from sijscan.phantom.body_model.landmarks import SIDES, Skeleton, build_skeleton, patient_side
from sijscan.phantom.body_model.profile import MU_SOFT
from sijscan.phantom.body_model.sij import make_layout, render_joint, true_box
from sijscan.phantom.body_model.softtissue import render_soft
from sijscan.phantom.body_model.texture import make_tile
from sijscan.phantom.spec import CaseSpec, Geometry, Projection

logger = logging.getLogger(__name__)

__all__ = ["render_projection", "AnatomyInputError"]

WORK_SPACING_MM = 0.4  # bone is rendered at about this spacing (finer geometries are upsampled)
PV_FLOOR = np.float32(0.01)
MU_BONE_MEAN = 0.05  # per mm: a cortex/cancellous blend, to turn a bone integral into a path length
_UNIT_KNOBS = ("osteitis_condensans", "degenerative", "hip_narrowing", "syndesmophytes", "enthesitis", "bowel_gas")


def _check(spec: CaseSpec) -> None:
    for name in _UNIT_KNOBS:
        v = float(getattr(spec, name))
        if not (0.0 <= v <= 1.0):
            raise AnatomyInputError(f"{name} must be within 0..1, got {v}")
    for name in ("severity_left", "severity_right"):
        v = float(getattr(spec, name))
        if not (math.isfinite(v) and -0.5 <= v <= 5.0):
            raise AnatomyInputError(f"{name} must be within -0.5..5 (0 normal ... 4.5 ankylosed), got {v}")
    if spec.sex not in ("M", "F"):
        raise AnatomyInputError(f"sex must be 'M' or 'F', got {spec.sex!r}")
    if not (0.6 <= float(spec.body_scale) <= 1.5):
        raise AnatomyInputError(f"body_scale must be within 0.6..1.5, got {spec.body_scale}")
    if not (0.4 <= float(spec.habitus) <= 2.5):
        raise AnatomyInputError(f"habitus must be within 0.4..2.5, got {spec.habitus}")
    if abs(float(spec.axial_rotation_deg)) > 25 or abs(float(spec.pelvic_tilt_deg)) > 30:
        raise AnatomyInputError("axial_rotation_deg must be within +-25 and pelvic_tilt_deg within +-30")


def _labels(frame: Frame, sk: Skeleton) -> np.ndarray:
    lab = np.zeros((frame.height, frame.width), np.uint8)
    shift = 4

    def fp(p: np.ndarray) -> list[np.ndarray]:
        return [np.round(frame.to_px(p) * (1 << shift)).astype(np.int32).reshape(-1, 1, 2)]

    for side, value in (("image_left", 2), ("image_right", 3)):
        sd = sk.sides[side]
        cv2.fillPoly(lab, fp(sd.hip), value, lineType=cv2.LINE_8, shift=shift)
        cv2.fillPoly(lab, fp(sd.obturator), 0, lineType=cv2.LINE_8, shift=shift)
    cv2.fillPoly(lab, fp(sk.sacrum), 1, lineType=cv2.LINE_8, shift=shift)
    return lab


def _px(frame: Frame, p: np.ndarray) -> list:
    return [round(float(v), 2) for v in frame.to_px(np.asarray(p)[None, :])[0]]


def _info(frame: Frame, sk: Skeleton, joints: dict, soft_info: dict) -> dict:
    """Landmarks (pixels), lesion parameters and shape measures for ``Projection.info`` (plain JSON)."""
    sac_px = frame.to_px(sk.sacrum)
    sac_lo = np.clip(np.floor(sac_px.min(axis=0) + 0.5), 0, [frame.width, frame.height]).astype(int)
    sac_hi = np.clip(np.ceil(sac_px.max(axis=0) + 0.5), 0, [frame.width, frame.height]).astype(int)
    return {
        "renderer": "sijscan.phantom.body_model v1",
        "pixel_spacing_mm": frame.spacing,
        "femoral_head_centres": {s: _px(frame, sk.sides[s].head_c) for s in SIDES},
        "femoral_head_radius_px": {s: sk.sides[s].head_r / frame.spacing for s in SIDES},
        "symphysis": [_px(frame, sk.symphysis[0]), _px(frame, sk.symphysis[1])],
        "promontory": _px(frame, sk.promontory),
        "sacrum_box": [int(sac_lo[0]), int(sac_lo[1]), int(sac_hi[0]), int(sac_hi[1])],
        "joint_lines": {
            s: {
                "anterior": np.round(frame.to_px(sk.sides[s].ant_line), 2).tolist(),
                "posterior": np.round(frame.to_px(sk.sides[s].post_line), 2).tolist(),
            }
            for s in SIDES
        },
        "vertebra_centres": {v["name"]: _px(frame, v["c"]) for v in sk.vertebrae},
        "iliac_crests": {s: np.round(frame.to_px(sk.sides[s].crest), 2).tolist() for s in SIDES},
        "ischial_tuberosities": {s: np.round(frame.to_px(sk.sides[s].tuberosity), 2).tolist() for s in SIDES},
        "greater_trochanters": {s: _px(frame, sk.sides[s].gt_tip) for s in SIDES},
        "sij": joints,
        "sij_effect_boxes": {s: joints[s].get("effect_box") for s in SIDES},
        **{key: round(val, 3) for key, val in sk.info.items()},
        **soft_info,
    }


def render_projection(spec: CaseSpec, geometry: Geometry) -> Projection:
    """Render one case's noise-free projection (bone and soft line integrals, labels, SIJ boxes).

    Raises :class:`AnatomyInputError` (an ``InputError``) for values outside the documented ranges.
    """
    _check(spec)
    frame = Frame.build(spec=spec, geometry=geometry)
    logger.debug(
        "rendering anatomy seed %d on %d x %d at %.3f mm", spec.anatomy_seed, frame.height, frame.width, frame.spacing
    )
    sk = build_skeleton(spec)
    seed = int(spec.anatomy_seed) & 0xFFFFFFFF
    trng = np.random.default_rng([seed, 21])
    tex_gen = make_tile(trng, angle_deg=75.0, elong=1.8, grain_mm=0.8)
    fem_r = make_tile(trng, angle_deg=50.0, elong=2.4, grain_mm=0.7)  # along the femoral neck
    tex_fem = {"image_right": fem_r, "image_left": fem_r.mirrored()}
    k = max(1, int(round(WORK_SPACING_MM / frame.spacing)))
    full = frame
    frame = full.coarsened(k)  # bone is rendered on a grid of about WORK_SPACING_MM, then upsampled
    bone = np.zeros((frame.height, frame.width), np.float32)
    for side in SIDES:
        render_hip(bone, frame, sk.sides[side], tex_gen, hip_narrowing=float(spec.hip_narrowing),
                   members=sk.members)
        render_femur(bone, frame, sk.sides[side], tex_fem[side])
    render_sacrum(bone, frame, sk, tex_gen)
    render_vertebrae(bone, frame, sk, tex_gen)
    render_ribs(bone, frame, sk, np.random.default_rng([seed, 22]))
    joints = {}
    for side in SIDES:
        sev = float(spec.severity_left if patient_side(side) == "left" else spec.severity_right)
        joints[side] = render_joint(
            bone,
            frame,
            side,
            sk.sides[side],
            sev=sev,
            layout=make_layout(seed, side),
            oci=float(spec.osteitis_condensans),
            deg=float(spec.degenerative),
            vacuum=bool(spec.vacuum),
        )
    render_syndesmophytes(bone, frame, sk, float(spec.syndesmophytes), seed)
    render_enthesitis(bone, frame, sk, float(spec.enthesitis), seed)
    np.maximum(bone, 0.0, out=bone)
    if k > 1:
        bone = cv2.resize(bone, (frame.width * k, frame.height * k), interpolation=cv2.INTER_LINEAR)
        bone = np.ascontiguousarray(bone[: full.height, : full.width])
    frame = full
    soft, soft_info = render_soft(spec, sk, frame)
    # bone displaces soft tissue: the body's thickness is shared, so take the bone's path out of
    # the soft-tissue integral (path ~ bone integral / a mean bone attenuation)
    soft -= bone * np.float32(MU_SOFT / MU_BONE_MEAN)
    np.maximum(soft, 0.0, out=soft)
    labels = _labels(frame, sk)
    # partial volume: a labelled edge pixel holds some bone even where the coarse grid missed it
    edge = (labels > 0) & (bone < PV_FLOOR)
    bone[edge] = PV_FLOOR
    boxes = {side: true_box(frame, sk.sides[side]) for side in SIDES}
    for side in SIDES:
        eb = joints[side].get("effect_box")
        if eb:
            # coarse window -> full pixels, one coarse pixel wider for the bilinear upsampling
            eb = [eb[0] * k - k, eb[1] * k - k, eb[2] * k + k, eb[3] * k + k]
            joints[side]["effect_box"] = [int(min(max(v, 0), lim)) for v, lim in zip(eb, (full.width, full.height) * 2)]
    info = _info(frame, sk, joints, soft_info)
    return Projection(bone=bone, soft=soft, labels=labels, sij_boxes=boxes, geometry=geometry, info=info)
