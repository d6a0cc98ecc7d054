"""Hip bones and sacrum of one phantom patient from the CT shape set (see :mod:`sijscan.phantom.body_model.ctshape`).

Each patient mixes the real bones with seeded weights (both sides close to one patient-level mix,
so the pelvis stays nearly symmetric), then: the symphysis gets its 4-6 mm gap, the points are
scaled by the case's size and sex proportions (``Pose``: a woman's pelvis wider and lower; the CT
set has no sex labels, so no other sex difference is modelled), and posed with a rigid pelvic tilt
about the femoral-head axis (every point has its real depth) and axial rotation.
The sacrum's joint margins are the hip bones' anterior joint lines, so the two labels meet exactly
along the joints.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from sijscan.phantom.body_model import ctshape as cts
from sijscan.phantom.body_model.frame import open_spline, smoothstep
from sijscan.phantom.body_model.outlines import Pose

SYM_HALF_GAP_MM = 2.5
# the CT patients lie with the coccyx tip level with the top of the symphysis (0 +- 4 mm over seeds
# 1-8); on a standard AP film it sits 1-2 cm above it: tilt 0 of a case means the CT set turned by this
NEUTRAL_TILT_DEG = 8.0
SACRUM_CLEARANCE_MM = 10.0
SIDE_SPREAD = 0.15  # share of a side's mix drawn on its own (left/right asymmetry)


def members_of(extras: dict) -> tuple[str, ...] | None:
    """``CaseSpec.extras["ct_members"]``: restrict the shape set to these CT cases (leave-one-out)."""
    m = extras.get("ct_members") if extras else None
    return tuple(str(v) for v in m) if m else None


def arch_half_angle(outline: np.ndarray, y_bottom: float) -> float:
    """Half the subpubic angle (degrees): the slope of the inferior pubic ramus' medial edge (the most
    medial outline point, |x|, in 2 mm rows from 3 to 27 mm below the symphysis bottom ``y_bottom``)."""
    ys, xs = [], []
    ax = np.abs(outline[:, 0])
    for y in np.arange(y_bottom + 3.0, y_bottom + 27.0, 2.0):
        sel = np.abs(outline[:, 1] - y) < 1.5
        if sel.any():
            ys.append(y - y_bottom)
            xs.append(float(ax[sel].min()))
    if len(ys) < 4:
        return float("nan")
    slope = np.polyfit(np.array(ys), np.array(xs), 1)[0]
    return math.degrees(math.atan(max(slope, 0.0)))


def _symphysis(parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The symphyseal half-gap on image-right points (mm): the pubis is moved sideways (smoothly,
    nothing beyond about 40 mm moves) so that its medial face sits SYM_HALF_GAP_MM from the midline;
    adds the face's top and bottom as ``parts["symphysis"]``."""
    out = {k: v.copy() for k, v in parts.items()}
    ol = out["outline"]
    k_sym = sum(cts.N_HIP[:4])
    x_min = float(ol[k_sym - 6 : k_sym + 6, 0].min())
    for k in ("outline", "obturator"):
        p = out[k]
        g = np.exp(-np.clip(p[:, 0] - x_min, 0, None) / 20.0) * smoothstep((p[:, 1] - 10.0) / 20.0)
        p[:, 0] += (SYM_HALF_GAP_MM - x_min) * g
    pub = ol[ol[:, 1] > 20.0]
    face = pub[pub[:, 0] < pub[:, 0].min() + 3.0]
    c = np.array([SYM_HALF_GAP_MM, float(face[:, 1].max()) if len(face) else float(ol[k_sym, 1])])
    out["symphysis"] = np.array([[SYM_HALF_GAP_MM, float(face[:, 1].min()) if len(face) else c[1] - 25.0],
                                 [SYM_HALF_GAP_MM, c[1]]])
    return out


def pose_points(pose: Pose, pts: np.ndarray, z: np.ndarray, sign: float) -> np.ndarray:
    """Image-right (x, y) + depth -> posed (N, 2) mm on side ``sign``: size, rigid tilt about the
    femoral-head axis (y = 20 mm, z = 0; positive = anterior tilt: the pubis goes down; 0 = the
    standard film, NEUTRAL_TILT_DEG from the CT posture), axial rotation."""
    p = pose.scale(np.column_stack([pts, z]))
    t = math.radians(pose.tilt + NEUTRAL_TILT_DEG)
    y0 = 20.0 * pose.s * pose.tall
    y = y0 + (p[:, 1] - y0) * math.cos(t) + p[:, 2] * math.sin(t)
    zz = p[:, 2] * math.cos(t) - (p[:, 1] - y0) * math.sin(t)
    r = math.radians(pose.rot)
    return np.stack([sign * p[:, 0] * math.cos(r) + zz * math.sin(r), y], axis=1)


def _clear_of(pts: np.ndarray, hip: np.ndarray, sg: float) -> np.ndarray:
    """Sacral margin below the joint moved medially where it lies over (or within SACRUM_CLEARANCE_MM
    of) the hip bone: below the SIJ the two bones are apart on the film (the greater sciatic notch),
    so the only sacrum-hip contact is the joint. The joint's end point stays."""
    poly = hip.astype(np.float32).reshape(-1, 1, 2)
    out = pts.copy()
    for i in range(1, len(out)):
        for _ in range(40):
            dist = cv2.pointPolygonTest(poly, (float(out[i, 0]), float(out[i, 1])), True)
            if dist < -SACRUM_CLEARANCE_MM or sg * out[i, 0] <= 3.0:
                break
            out[i, 0] -= sg * 1.0
    return out


def _ramp(n: int, start: bool) -> np.ndarray:
    u = np.linspace(0.0, 1.0, n)[:, None]
    return 1.0 - u if start else u


def build_ct_bones(pose: Pose, *, seed: int, members: tuple[str, ...] | None) -> dict:
    """Posed hip bones (per image side) and sacrum; all points in posed patient mm."""
    hips = cts.bone_set("hip", members)
    sacs = cts.bone_set("sacrum", members)
    rng = np.random.default_rng([seed, 14])
    w0 = cts.mix_weights(rng, len(hips.members))
    sides = {}
    for side, sg in (("image_left", -1.0), ("image_right", 1.0)):
        w = (1.0 - SIDE_SPREAD) * w0 + SIDE_SPREAD * cts.mix_weights(rng, len(hips.members))
        pts, z = cts.mixed(hips, w)
        parts = _symphysis(cts.hip_parts(pts))
        zp = cts.hip_parts(z[:, None])
        sym = parts.pop("symphysis")
        posed = {k: pose_points(pose, parts[k], zp[k][:, 0], sg) for k in parts}
        z_sym = float(zp["outline"][sum(cts.N_HIP[:4]), 0])
        posed["symphysis"] = pose_points(pose, sym, np.full(2, z_sym), sg)
        head = w @ hips.heads[:, :2]
        head_p = pose_points(pose, head[None, :2], np.zeros(1), sg)[0]
        # the points the template warp matches (image-right convention, same order as the set)
        anchor = np.concatenate([parts["outline"], parts["obturator"], parts["ant"], parts["post"]])
        anchor_p = pose_points(pose, anchor, np.concatenate([zp[k][:, 0] for k in ("outline", "obturator", "ant", "post")]), sg)
        sides[side] = {"w": w, "parts": posed, "head_c": head_p, "anchor": anchor_p * np.array([sg, 1.0])}
    # sacrum: the mix of the same cases where the sets match, its joint margins spliced onto the hips' lines
    ws = w0 if len(sacs.members) == len(hips.members) else cts.mix_weights(rng, len(sacs.members))
    sp, sz = cts.mixed(sacs, ws)
    sac = pose_points(pose, sp, sz, 1.0)
    a, jr, b, c, jl, d = np.split(sac, np.cumsum(cts.SAC_PIECES[:-1]))
    ant_r, ant_l = sides["image_right"]["parts"]["ant"], sides["image_left"]["parts"]["ant"]
    a = a + (ant_r[0] - a[-1]) * _ramp(len(a), start=False)
    b = b + (ant_r[-1] - b[0]) * _ramp(len(b), start=True)
    c = c + (ant_l[-1] - c[-1]) * _ramp(len(c), start=False)
    d = d + (ant_l[0] - d[0]) * _ramp(len(d), start=True)
    hip_r = np.concatenate([sides["image_right"]["parts"]["post"][::-1], sides["image_right"]["parts"]["outline"]])
    hip_l = np.concatenate([sides["image_left"]["parts"]["post"][::-1], sides["image_left"]["parts"]["outline"]])
    b, c = _clear_of(b, hip_r, 1.0), _clear_of(c, hip_l, -1.0)
    sac_anchor = np.concatenate([a, ant_r, b, c, ant_l[::-1], d])
    dense = np.concatenate([open_spline(a, 4), open_spline(ant_r, 6)[1:], open_spline(b, 4)[1:],
                            open_spline(c, 4)[1:], open_spline(ant_l[::-1], 6)[1:], open_spline(d, 4)[1:]])
    return {"sides": sides, "sacrum": dense, "sacrum_anchor": sac_anchor, "sacrum_w": ws,
            "promontory": sac_anchor[0].copy(), "apex": sac_anchor[sum(cts.SAC_PIECES[:3]) - 1].copy()}

