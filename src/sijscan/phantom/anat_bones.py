"""Bone line integrals of the pelvis, lower lumbar spine and proximal femora.

Each bone is a solid with a cortical shell (see :mod:`anat_profile`) on its own window; smooth
thickness maps are evaluated coarsely and upsampled; tangential cortical plates (pelvic brim,
ilioischial line, teardrop, acetabular roof, endplates, arcuate lines) are soft lines added on top.
Overlaps simply add up.
"""
from __future__ import annotations

import numpy as np

from sijscan.phantom.anat_frame import Frame, Window, add_into, closed_spline, ellipse_pts, fill_mask, lowres
from sijscan.phantom.anat_landmarks import SideSkeleton, Skeleton
from sijscan.phantom.anat_profile import inside_distance_mm, line_field, solid_bone
from sijscan.phantom.anat_texture import TextureTile, texture_in

PAD_MM = 4.0
EDGE_MARGIN_MM = 16.0  # beyond the image, bones are evaluated this far (more than any edge roundness)
COARSE = 4  # coarse factor for smooth thickness maps


def _gauss(X: np.ndarray, Y: np.ndarray, c: np.ndarray, sx: float, sy: float | None = None) -> np.ndarray:
    sy = sx if sy is None else sy
    return np.exp(-0.5 * (((X - c[0]) / sx) ** 2 + ((Y - c[1]) / sy) ** 2))


class Lumps:
    """Smooth seeded bumps (about -1..1) of 15-45 mm wavelength: uneven bone thickness."""

    def __init__(self, rng: np.random.Generator, n: int = 7) -> None:
        lam = rng.uniform(15.0, 45.0, n)
        ang = rng.uniform(0.0, np.pi, n)
        self.kx = (2 * np.pi / lam * np.cos(ang)).astype(np.float32)
        self.ky = (2 * np.pi / lam * np.sin(ang)).astype(np.float32)
        self.ph = rng.uniform(0.0, 2 * np.pi, n).astype(np.float32)
        self.scale = np.float32(np.sqrt(2.0 / n))

    def __call__(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        out = np.zeros(X.shape, np.float32)
        for kx, ky, ph in zip(self.kx, self.ky, self.ph):
            out += np.sin(kx * X + ky * Y + ph)
        return out * self.scale


def _tube(X: np.ndarray, Y: np.ndarray, a: np.ndarray, b: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian ridge along the segment a-b (a column of thicker bone)."""
    v = b - a
    t = np.clip(((X - a[0]) * v[0] + (Y - a[1]) * v[1]) / float(v @ v), 0.0, 1.0)
    dx, dy = X - a[0] - t * v[0], Y - a[1] - t * v[1]
    return np.exp(-0.5 * (dx * dx + dy * dy) / sigma**2)


def add_lines(canvas: np.ndarray, frame: Frame, lines_mm: list[np.ndarray], *, amp: float, width_mm: float) -> None:
    """Tangential cortical plates: soft lines of peak ``amp`` (bone line integral)."""
    pts = [frame.to_px(p) for p in lines_mm]
    allp = np.concatenate(pts)
    win = Window.around(allp, pad=3 * width_mm / frame.spacing + 3)
    if win.clip(frame) is None:
        return
    f = line_field((win.h, win.w), pts, width_px=width_mm / frame.spacing, offset=(win.x0, win.y0))
    add_into(canvas, win, f * np.float32(amp), frame)


def render_hip(
    canvas: np.ndarray, frame: Frame, side: SideSkeleton, tex: TextureTile, lumpy: Lumps, *, hip_narrowing: float
) -> None:
    """One hip bone (ilium, ischium, pubis) with its tangential lines and the acetabular roof."""
    sp = frame.spacing
    hip_px = frame.to_px(side.hip)
    win = Window.around(hip_px, pad=PAD_MM / sp + 2).limit(frame, int(EDGE_MARGIN_MM / sp))
    if win.clip(frame) is None or win.w <= 0 or win.h <= 0:
        return
    mask = fill_mask(win, [hip_px], [frame.to_px(side.obturator)])
    d = inside_distance_mm(mask, sp)
    jm = side.ant_line[len(side.ant_line) // 2]
    tub = side.tuberosity.mean(axis=0)
    hc = side.head_c
    sg = 1.0 if hc[0] > 0 else -1.0
    sup = hc + np.array([-sg * 6.0, -side.head_r - 12.0])
    isch = hc + np.array([-sg * 4.0, side.head_r + 26.0])
    sym = side.hip[np.argmin(np.abs(side.hip[:, 0]) + 0.01 * np.abs(side.hip[:, 1] - 65))]

    br = side.brim[:: max(1, len(side.brim) // 5)]

    def thickness(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        # thin iliac fossa; thick along the arcuate line (pelvic brim), the acetabular roof, the
        # posterior ilium near the joint, the ischial body/tuberosity and the pubic body
        arcuate = np.zeros_like(X)
        for a, b in zip(br[:-1], br[1:]):
            np.maximum(arcuate, _tube(X, Y, a, b, 5.0), out=arcuate)
        return (
            5.0
            + 7.0 * arcuate
            + 18.0 * _gauss(X, Y, sup, 24.0, 16.0)
            + 4.0 * _gauss(X, Y, hc, 22.0)
            + 6.0 * _gauss(X, Y, jm, 14.0, 28.0)
            + 9.0 * _tube(X, Y, jm, sup, 9.0)
            + 14.0 * _gauss(X, Y, tub, 14.0)
            + 8.0 * _gauss(X, Y, sym, 10.0, 18.0)
        )

    def d_and_l(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        D = thickness(X, Y) * (1.0 + 0.18 * lumpy(X, Y))
        # the posterior ilium thins toward the joint: a wide rounded edge there (no hard overlap ribbon)
        near_joint = _gauss(X, Y, jm, 18.0, 40.0)
        L = np.minimum(0.45 * D + 2.0, 12.0) + 10.0 * near_joint
        return np.stack([D, L, near_joint], axis=-1)

    DL = lowres(win, COARSE, d_and_l, frame)
    # thick rounded margins (crest, buttresses), a thin iliac fossa: thickness falls away from the outline
    D = DL[..., 0] * np.float32(0.7) + np.float32(7.0) * np.exp(-d / np.float32(9.0)) * (1.0 - DL[..., 2])
    L = DL[..., 1]
    t = texture_in(win, frame, tex, amplitude=0.25)
    field = solid_bone(d, L=L, D=D, tc=1.6, texture=t)
    add_into(canvas, win, field, frame)
    add_lines(canvas, frame, [side.brim, side.teardrop], amp=0.30, width_mm=1.5)
    add_lines(canvas, frame, [side.ilioischial], amp=0.18, width_mm=1.4)
    # acetabular roof (sourcil): a dense arc one joint space above the femoral head; coxitis narrows
    # the space (the roof comes down onto the head) and thickens the subchondral plate
    gap = side.acetabular_gap * (1.0 - 0.8 * float(hip_narrowing))
    r = side.head_r + gap
    sg = 1.0 if side.head_c[0] > 0 else -1.0
    a = np.radians(np.linspace(-165.0, -15.0, 40)) if sg > 0 else np.radians(np.linspace(-165.0, -15.0, 40))
    arc = np.stack([hc[0] + r * np.cos(a), hc[1] + r * np.sin(a)], axis=1)
    add_lines(canvas, frame, [arc], amp=0.40 + 0.35 * float(hip_narrowing), width_mm=2.0 + 2.5 * float(hip_narrowing))


def render_sacrum(canvas: np.ndarray, frame: Frame, sk: Skeleton, tex: TextureTile, lumpy: Lumps) -> None:
    """Sacrum: wedge with alae, foramina along the arcuate lines, median crest, segment ridges."""
    sp = frame.spacing
    poly = frame.to_px(sk.sacrum)
    win = Window.around(poly, pad=PAD_MM / sp + 2).limit(frame, int(EDGE_MARGIN_MM / sp))
    if win.clip(frame) is None or win.w <= 0 or win.h <= 0:
        return
    mask = fill_mask(win, [poly])
    d = inside_distance_mm(mask, sp)
    y_top, y_apex = float(sk.sacrum[:, 1].min()), float(sk.sacrum[:, 1].max())
    prom = sk.promontory

    def thickness(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        f = np.clip((y_apex - Y) / (y_apex - y_top), 0.0, 1.0)
        ala = np.clip((np.abs(X - prom[0]) - 25.0) / 30.0, 0.0, 1.0)
        s1 = np.array([prom[0], prom[1] + 18.0])  # the S1 body
        return 9.0 + 17.0 * f * (1.0 - 0.45 * ala) + 12.0 * _gauss(X, Y, s1, 22.0, 20.0)

    D = lowres(win, COARSE, lambda X, Y: thickness(X, Y) * (1.0 + 0.12 * lumpy(X, Y)), frame)
    t = texture_in(win, frame, tex, amplitude=0.22)
    # the alae end in the curved auricular surfaces: a wide rounded lateral edge
    lateral = lowres(win, COARSE, lambda X, Y: np.clip((np.abs(X - prom[0]) - 35.0) / 20.0, 0.0, 1.0), frame)
    L = np.minimum(0.5 * D, 11.0) + 9.0 * lateral
    field = solid_bone(d, L=L, D=D, tc=1.2, texture=t)
    # anterior foramina: canals through the bone seen end-on (lucent, a thin sclerotic rim)
    X, Y = frame.mm_grid(win)
    for fx, fy, fr in sk.foramina:
        rr = np.sqrt((X - fx) ** 2 + ((Y - fy) * 1.15) ** 2)
        hole = np.clip(1.0 - (rr / fr) ** 2, 0.0, 1.0)
        rim = np.exp(-0.5 * ((rr - fr - 0.6) / 0.7) ** 2)
        field += (-0.45 * np.sqrt(hole) + 0.10 * rim).astype(np.float32) * (mask > 0)
    np.maximum(field, 0.0, out=field)
    add_into(canvas, win, field, frame)
    # median crest and fused-segment ridges; arcuate lines lateral to the foramina
    crest = np.array([[prom[0], prom[1] + 14.0], [prom[0] * 0.5, (prom[1] + y_apex) / 2], [0.0, y_apex - 14.0]])
    add_lines(canvas, frame, [crest], amp=0.22, width_mm=4.0)
    fr_arr = np.array(sk.foramina)
    arcs, ridges = [], []
    for sg in (-1.0, 1.0):
        f = fr_arr[np.sign(fr_arr[:, 0]) == sg]
        f = f[np.argsort(f[:, 1])]
        arcs.append(np.stack([f[:, 0] + sg * (f[:, 2] + 2.5), f[:, 1]], axis=1))
    for k in range(3):
        pair = fr_arr[fr_arr[:, 1].argsort()][2 * k : 2 * k + 4]
        ymid = float(pair[:, 1].mean())
        xs = np.sort(pair[:, 0])
        ridges.append(np.array([[xs[0] + 2, ymid], [0.0, ymid + 1.5], [xs[-1] - 2, ymid]]))
    add_lines(canvas, frame, arcs, amp=0.20, width_mm=1.5)
    add_lines(canvas, frame, ridges, amp=0.10, width_mm=2.0)
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
