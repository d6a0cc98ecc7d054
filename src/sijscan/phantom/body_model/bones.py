"""Bone line integrals of the pelvis, lower lumbar spine and proximal femora.

Each bone is a solid with a cortical shell (see :mod:`sijscan.phantom.body_model.profile`) on its own window; smooth
thickness maps are evaluated coarsely and upsampled; tangential cortical plates (pelvic brim,
ilioischial line, teardrop, acetabular roof, endplates, arcuate lines) are soft lines added on top.
Overlaps simply add up.
"""
from __future__ import annotations

import cv2
import numpy as np

from sijscan.phantom.body_model.ctshape import bone_set, warp_template
from sijscan.phantom.body_model.frame import Frame, Window, add_into, closed_spline, ellipse_pts, fill_mask, lowres, open_spline
from sijscan.phantom.body_model.landmarks import SideSkeleton, Skeleton
from sijscan.phantom.body_model.profile import inside_distance_mm, line_field, solid_bone
from sijscan.phantom.body_model.texture import TextureTile, texture_in

PAD_MM = 4.0
EDGE_MARGIN_MM = 16.0  # beyond the image, bones are evaluated this far (more than any edge roundness)
COARSE = 4  # coarse factor for smooth thickness maps
# bone line integral where the CT template is at its median (the hip bones' median stays at its
# old display calibration, 0.45; the sacrum's is 0.8 of it, as in the CTs); see docs/phantom.md
HIP_MEDIAN = 0.446
SAC_MEDIAN = 0.43
TEXTURE = 0.12  # trabecular grain (relative spread of the line integral)
CORTEX_RIM = 0.10  # extra line integral of the tangential cortex just inside an outline


def ct_bone(d: np.ndarray, rel: np.ndarray, *, median: float, texture: np.ndarray, edge_mm: np.ndarray | float) -> np.ndarray:
    """Bone line integral from a warped CT template ``rel`` (median 1): the template times a rounded
    edge (chord profile over ``edge_mm`` from the outline), a thin cortical rim at the outline (the
    2 mm template blurs it), and multiplicative trabecular grain."""
    u = np.minimum(d / np.maximum(np.float32(edge_mm), np.float32(0.5)), np.float32(1.0))
    edge = np.sqrt(u * (2.0 - u))
    rim = np.exp(-(((d - np.float32(0.9)) / np.float32(0.7)) ** 2)) * (d > 0)
    out = rel * edge * np.float32(median) * (1.0 + texture) + np.float32(CORTEX_RIM) * rim
    return out.astype(np.float32, copy=False)


def _gauss(X: np.ndarray, Y: np.ndarray, c: np.ndarray, sx: float, sy: float | None = None) -> np.ndarray:
    sy = sx if sy is None else sy
    return np.exp(-0.5 * (((X - c[0]) / sx) ** 2 + ((Y - c[1]) / sy) ** 2))


def add_lines(canvas: np.ndarray, frame: Frame, lines_mm: list[np.ndarray], *, amp: float, width_mm: float) -> None:
    """Tangential cortical plates: soft lines of peak ``amp`` (bone line integral)."""
    pts = [frame.to_px(p) for p in lines_mm]
    allp = np.concatenate(pts)
    win = Window.around(allp, pad=3 * width_mm / frame.spacing + 3)
    if win.clip(frame) is None:
        return
    f = line_field((win.h, win.w), pts, width_px=width_mm / frame.spacing, offset=(win.x0, win.y0))
    add_into(canvas, win, f * np.float32(amp), frame)


def _calm_near(win: Window, frame: Frame, lines_mm: list[np.ndarray], reach_mm: float = 5.0) -> np.ndarray:
    """1 - 0.7 exp(-(d / reach)^2), d = distance (mm) to the lines: subchondral bone along a joint is
    a dense, even plate, not open trabeculae, so the trabecular texture fades there. Evaluated only
    in the block within 3 x reach of the lines (1 elsewhere)."""
    out = np.ones((win.h, win.w), np.float32)
    pts = [frame.to_px(p) for p in lines_mm]
    near = Window.around(np.concatenate(pts), pad=3 * reach_mm / frame.spacing)
    x0, y0 = max(near.x0, win.x0), max(near.y0, win.y0)
    x1, y1 = min(near.x1, win.x1), min(near.y1, win.y1)
    if x1 <= x0 or y1 <= y0:
        return out
    m = np.full((y1 - y0, x1 - x0), 255, np.uint8)
    cv2.polylines(m, [np.round((p - [x0, y0]) * 16).astype(np.int32).reshape(-1, 1, 2) for p in pts], False, 0,
                  thickness=1, lineType=cv2.LINE_8, shift=4)
    d = cv2.distanceTransform(m, cv2.DIST_L2, 3) * np.float32(frame.spacing / reach_mm)
    out[y0 - win.y0 : y1 - win.y0, x0 - win.x0 : x1 - win.x0] = 1.0 - np.float32(0.7) * np.exp(-d * d)
    return out


def render_hip(
    canvas: np.ndarray, frame: Frame, side: SideSkeleton, tex: TextureTile, *, hip_narrowing: float,
    members: tuple[str, ...] | None = None,
) -> None:
    """One hip bone (ilium, ischium, pubis): the CT set's projected thickness on this patient's outline,
    a cortical shell, and the acetabular roof."""
    sp = frame.spacing
    hip_px = frame.to_px(side.hip)
    win = Window.around(hip_px, pad=PAD_MM / sp + 2).limit(frame, int(EDGE_MARGIN_MM / sp))
    if win.clip(frame) is None or win.w <= 0 or win.h <= 0:
        return
    mask = fill_mask(win, [hip_px], [frame.to_px(side.obturator)])
    d = inside_distance_mm(mask, sp)
    hc = side.head_c
    sg = 1.0 if hc[0] > 0 else -1.0
    rel = warp_template(bone_set("hip", members), side.ct_w, side.ct_anchor, frame, win, sign=sg)
    t = texture_in(win, frame, tex, amplitude=TEXTURE) * _calm_near(win, frame, [side.ant_line, side.post_line])
    field = ct_bone(d, rel, median=HIP_MEDIAN, texture=t, edge_mm=4.0)
    add_into(canvas, win, field, frame)
    # acetabular roof (sourcil): a dense arc one joint space above the femoral head; coxitis narrows
    # the space (the roof comes down onto the head) and thickens the subchondral plate
    gap = side.acetabular_gap * (1.0 - 0.8 * float(hip_narrowing))
    r = side.head_r + gap
    a = np.radians(np.linspace(-165.0, -15.0, 40))
    arc = np.stack([hc[0] + r * np.cos(a), hc[1] + r * np.sin(a)], axis=1)
    add_lines(canvas, frame, [arc], amp=0.40 + 0.35 * float(hip_narrowing), width_mm=2.0 + 2.5 * float(hip_narrowing))


def render_sacrum(canvas: np.ndarray, frame: Frame, sk: Skeleton, tex: TextureTile) -> None:
    """Sacrum: the CT set's projected thickness (alae, body, foramina) on this patient's outline, coccyx."""
    sp = frame.spacing
    poly = frame.to_px(sk.sacrum)
    win = Window.around(poly, pad=PAD_MM / sp + 2).limit(frame, int(EDGE_MARGIN_MM / sp))
    if win.clip(frame) is None or win.w <= 0 or win.h <= 0:
        return
    mask = fill_mask(win, [poly])
    d = inside_distance_mm(mask, sp)
    prom = sk.promontory
    rel = warp_template(bone_set("sacrum", sk.members), sk.sacrum_w, sk.sacrum_anchor, frame, win)
    joints = [sk.sides[k].ant_line for k in sk.sides] + [sk.sides[k].post_line for k in sk.sides]
    t = texture_in(win, frame, tex, amplitude=TEXTURE) * _calm_near(win, frame, joints)
    # the alae end in the curved auricular surfaces: a wide rounded lateral edge
    lateral = lowres(win, COARSE, lambda X, Y: np.clip((np.abs(X - prom[0]) - 35.0) / 20.0, 0.0, 1.0), frame)
    field = ct_bone(d, rel, median=SAC_MEDIAN, texture=t, edge_mm=4.0 + 6.0 * lateral)
    add_into(canvas, win, field, frame)
    for c in sk.coccyx:
        cp = frame.to_px(c)
        w2 = Window.around(cp, pad=3)
        if w2.clip(frame) is None:
            continue
        dd = inside_distance_mm(fill_mask(w2, [cp]), sp)
        add_into(canvas, w2, solid_bone(dd, L=2.5, D=7.0, tc=0.7) * np.float32(0.15), frame)


def render_femur(canvas: np.ndarray, frame: Frame, side: SideSkeleton, tex: TextureTile) -> None:
    """Proximal femur: spherical head, neck, trochanters, shaft with a thick cortex and medullary canal."""
    sp = frame.spacing
    poly = frame.to_px(side.femur)
    head = frame.to_px(ellipse_pts(side.head_c[0], side.head_c[1], side.head_r, side.head_r, 0.0, 64))
    win = Window.around(np.concatenate([poly, head]), pad=PAD_MM / sp + 2).limit(frame, int(EDGE_MARGIN_MM / sp))
    if win.clip(frame) is None or win.w <= 0 or win.h <= 0:
        return
    mask = fill_mask(win, [poly, head])
    d = inside_distance_mm(mask, sp)
    hc, R = side.head_c, side.head_r
    y_lt = float(side.lt[1])

    def shaftness(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        return np.clip((Y - y_lt + 5.0) / 30.0, 0.0, 1.0)

    sh = lowres(win, COARSE, shaftness, frame)
    X, Y = frame.mm_grid(win)
    rr2 = (X - hc[0]) ** 2 + (Y - hc[1]) ** 2
    in_head = rr2 < R * R
    D = np.where(in_head, np.maximum(2.0 * R * 0.62, 26.0 - 4.0 * sh), 26.0 - 4.0 * sh).astype(np.float32)
    L = np.where(in_head, np.float32(R), np.float32(13.0))  # the head is a sphere: a dome, not a plateau
    tc = (1.3 + 4.5 * sh).astype(np.float32)
    canc_scale = (1.0 - 0.75 * sh).astype(np.float32)
    # the greater trochanter is mostly cancellous and less dense than the neck
    gt_c = hc + 0.55 * (side.gt_tip - hc)
    canc_scale = canc_scale * lowres(win, COARSE, lambda X, Y: 1.0 - 0.35 * _gauss(X, Y, gt_c, 14.0), frame)
    t = texture_in(win, frame, tex, amplitude=0.12)
    field = solid_bone(d, L=L, D=D, tc=tc, texture=t, canc_scale=canc_scale)
    add_into(canvas, win, field, frame)
    # calcar (the dense medial cortex of the neck) and the intertrochanteric line (GT base -> LT)
    seg = len(side.femur) // 22
    calcar = side.femur[seg * 18 : seg * 21 + 1]
    a, b = side.femur[seg * 4], side.femur[seg * 17]
    mid = (a + b) / 2.0 + np.array([0.0, 4.0])
    u = np.linspace(0.0, 1.0, 6)[:, None]
    inter = np.concatenate([a + (mid - a) * u, mid + (b - mid) * u[1:]])
    add_lines(canvas, frame, [calcar], amp=0.22, width_mm=2.2)
    add_lines(canvas, frame, [inter], amp=0.10, width_mm=3.0)


def _densify(poly: np.ndarray, *, step_mm: float) -> np.ndarray:
    """A closed polygon with extra points every ``step_mm`` along long edges (so edges can be bent)."""
    out = []
    for a, b in zip(poly, np.roll(poly, -1, axis=0)):
        n = max(1, int(np.hypot(*(b - a)) / step_mm))
        out.append(a[None, :] + (b - a)[None, :] * (np.arange(n, dtype=np.float64)[:, None] / n))
    return np.concatenate(out)


def _rounded_rect(c: np.ndarray, hw: float, hh: float, r: float) -> np.ndarray:
    pts = []
    for cx, cy, a0 in ((hw - r, hh - r, 0), (-hw + r, hh - r, 90), (-hw + r, -hh + r, 180), (hw - r, -hh + r, 270)):
        a = np.radians(np.linspace(a0, a0 + 90, 8))
        pts.append(np.stack([c[0] + cx + r * np.cos(a), c[1] + cy + r * np.sin(a)], axis=1))
    return np.concatenate(pts)


def render_vertebrae(canvas: np.ndarray, frame: Frame, sk: Skeleton, tex: TextureTile) -> None:
    """L4 and L5: body (rounded rectangle, endplates), pedicles (rings), transverse and spinous processes."""
    sp = frame.spacing
    for v in sk.vertebrae:
        c, hw, hh = v["c"], v["hw"], v["hh"]
        body = _densify(_rounded_rect(c, hw, hh, 0.42 * hh), step_mm=2.0)
        # the body's lateral margins are slightly concave (waist)
        rel = np.clip((body[:, 1] - c[1]) / hh, -1, 1)
        body[:, 0] = c[0] + (body[:, 0] - c[0]) * (1.0 - 0.14 * np.cos(0.5 * np.pi * rel) ** 2)
        tps = []
        for sg in (-1.0, 1.0):
            y0 = c[1] - 0.45 * hh + v["tp_dy"]
            tps.append(
                np.array(
                    [
                        [c[0] + sg * 0.85 * hw, y0 - 5.0],
                        [c[0] + sg * v["tp"] * 0.75, y0 - 4.0 - (3.0 if v["name"] == "L4" else 0.0)],
                        [c[0] + sg * v["tp"], y0 - 2.5 - (2.0 if v["name"] == "L4" else 0.0)],
                        [c[0] + sg * v["tp"] * 0.97, y0 + 0.5],
                        [c[0] + sg * v["tp"] * 0.75, y0 + 2.0],
                        [c[0] + sg * 0.85 * hw, y0 + 6.0],
                    ]
                )
            )
        tps = [closed_spline(t, 6) for t in tps]  # rounded processes, no polygon corners
        body_px = frame.to_px(body)
        win = Window.around(np.concatenate([body_px] + [frame.to_px(t) for t in tps]), pad=PAD_MM / sp + 2)
        if win.clip(frame) is None:
            continue
        tex_w = texture_in(win, frame, tex, amplitude=0.2)
        d = inside_distance_mm(fill_mask(win, [body_px]), sp)
        # a cylinder seen side-on: a wide rounded profile (cancellous core, thin cortical walls)
        field = solid_bone(d, L=16.0, D=24.0, tc=0.9, texture=tex_w)
        for t in tps:
            dt = inside_distance_mm(fill_mask(win, [frame.to_px(t)]), sp)
            field += solid_bone(dt, L=3.0, D=9.0, tc=1.0)
        X, Y = frame.mm_grid(win)
        for sg in (-1.0, 1.0):  # pedicles: cortical tubes seen end-on -> oval rings
            px, py = c[0] + sg * 0.62 * hw + 0.3 * v["rot_shift"], c[1] - 0.3 * hh
            rr = np.sqrt(((X - px) / 5.2) ** 2 + ((Y - py) / 7.5) ** 2)
            ring = np.sqrt(np.clip(1 - rr**2, 0, 1)) - 0.65 * np.sqrt(np.clip(1 - (rr / 0.65) ** 2, 0, 1))
            field += (0.9 * ring).astype(np.float32)
        sx = c[0] + v["rot_shift"]  # spinous process: a teardrop over the lower body
        rr = np.sqrt(((X - sx) / 4.5) ** 2 + ((Y - (c[1] + 0.55 * hh)) / 9.0) ** 2)
        tear = np.sqrt(np.clip(1 - rr**2, 0, 1)) * np.clip(1.2 - 0.5 * ((Y - c[1] - 0.55 * hh) / 9.0 + 1.0), 0.3, 1.0)
        field += (0.6 * tear).astype(np.float32)  # a teardrop: wide above, tapering below
        lam = np.exp(-0.5 * ((Y - (c[1] + 0.15 * hh)) / 5.0) ** 2) * np.exp(-0.5 * ((X - sx) / (0.55 * hw)) ** 4)
        field += (0.12 * lam).astype(np.float32)
        add_into(canvas, win, field, frame)
        top = np.array(
            [[c[0] - hw * 0.92, c[1] - hh + 0.6], [c[0], c[1] - hh + 0.2], [c[0] + hw * 0.92, c[1] - hh + 0.6]]
        )
        bot = top.copy()
        bot[:, 1] = 2 * c[1] - top[:, 1]
        add_lines(canvas, frame, [top, bot], amp=0.32, width_mm=1.3)


def _band(center: np.ndarray, half_w: np.ndarray) -> np.ndarray:
    """Closed polygon of a band of half-width ``half_w`` (per point) around an open centre line."""
    t = np.gradient(center, axis=0)
    n = np.stack([-t[:, 1], t[:, 0]], axis=1) / (np.linalg.norm(t, axis=1, keepdims=True) + 1e-9)
    return np.concatenate([center + n * half_w[:, None], (center - n * half_w[:, None])[::-1]])


def render_ribs(canvas: np.ndarray, frame: Frame, sk: Skeleton, rng: np.random.Generator) -> None:
    """The 11th and 12th ribs: thin curved bones from above L1 down to tips lateral of L2-L3; on an
    AP pelvis film only their tips show, and only when the field reaches that high."""
    l3 = next(v for v in sk.vertebrae if v["name"] == "L3")
    s = float(l3["hw"]) / 24.0
    sp = frame.spacing
    for sg in (-1.0, 1.0):
        for k, (y_root, reach, drop) in enumerate(((-110.0, 95.0, 75.0), (-140.0, 125.0, 95.0))):
            r = rng.normal(1.0, 0.08)
            root = l3["c"] + np.array([sg * 28.0, y_root]) * s
            tip = root + np.array([sg * reach * r, drop * r]) * s
            mid = 0.5 * (root + tip) + np.array([sg * 14.0, -16.0]) * s
            c = open_spline(np.stack([root, mid, tip]), 10)
            hw = np.linspace(5.5, 3.0, len(c)) * s
            poly = frame.to_px(_band(c, hw))
            win = Window.around(poly, pad=3)
            if win.clip(frame) is None:
                continue
            d = inside_distance_mm(fill_mask(win, [poly]), sp)
            add_into(canvas, win, solid_bone(d, L=4.0, D=9.0, tc=1.0) * np.float32(0.8 - 0.1 * k), frame)
