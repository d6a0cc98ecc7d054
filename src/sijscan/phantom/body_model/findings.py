"""Findings outside the SIJ that travel with axial spondyloarthritis (the shortcut features).

* syndesmophytes: thin vertical bony bridges at the lateral corners of L4-L5 and L5-S1;
* enthesitis: erosions and whiskering at the iliac crests, ischial tuberosities and greater
  trochanters, erosions and sclerosis at the symphysis.

(Hip narrowing lives with the acetabular roof in :mod:`sijscan.phantom.body_model.bones`.) Sites come from the anatomy
seed; every term is proportional to the knob's strength, so 0 renders nothing.
"""
from __future__ import annotations

import numpy as np

from sijscan.phantom.body_model.bones import add_lines
from sijscan.phantom.body_model.frame import Frame, Window, add_into
from sijscan.phantom.body_model.landmarks import SIDES, Skeleton


def render_syndesmophytes(canvas: np.ndarray, frame: Frame, sk: Skeleton, strength: float, seed: int) -> None:
    if strength <= 0:
        return
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 51])
    l5 = next(v for v in sk.vertebrae if v["name"] == "L5")
    l4 = next(v for v in sk.vertebrae if v["name"] == "L4")
    prom = sk.promontory
    pairs = [
        (l4["c"][0], l4["c"][1] + l4["hh"], l4["hw"], l5["c"][0], l5["c"][1] - l5["hh"], l5["hw"]),
        (l5["c"][0], l5["c"][1] + l5["hh"], l5["hw"], prom[0], prom[1], 0.9 * l5["hw"]),
    ]
    lines = []
    for ux, uy, uw, lx, ly, lw in pairs:
        for sg in (-1.0, 1.0):
            bow = rng.uniform(1.0, 2.5)
            x_up, x_lo = ux + sg * (uw - 1.0), lx + sg * (lw - 1.0)
            mid = 0.5 * (x_up + x_lo) + sg * bow
            lines.append(np.array([[x_up, uy - 3.0], [mid, 0.5 * (uy + ly)], [x_lo, ly + 3.0]]))
    add_lines(canvas, frame, lines, amp=0.45 * float(strength), width_mm=1.6)


def _outline_sites(line: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n seeded points along a polyline and the unit normals there (sign not fixed)."""
    seg = np.cumsum(np.r_[0.0, np.hypot(*np.diff(line, axis=0).T)])
    t = rng.uniform(0.1 * seg[-1], 0.9 * seg[-1], n)
    px = np.interp(t, seg, line[:, 0])
    py = np.interp(t, seg, line[:, 1])
    tx = np.interp(t + 1.0, seg, line[:, 0]) - np.interp(t - 1.0, seg, line[:, 0])
    ty = np.interp(t + 1.0, seg, line[:, 1]) - np.interp(t - 1.0, seg, line[:, 1])
    nrm = np.stack([ty, -tx], axis=1)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + 1e-9
    return np.stack([px, py], axis=1), nrm


def _entheses(
    canvas: np.ndarray,
    frame: Frame,
    line: np.ndarray,
    inward_ref: np.ndarray,
    strength: float,
    rng: np.random.Generator,
    n: int,
) -> None:
    """n seeded pits just inside an outline, each with a whisker of new bone growing outward."""
    pts, nrm = _outline_sites(line, n, rng)
    flip = np.sign(np.sum((inward_ref - pts) * nrm, axis=1))
    nrm = nrm * flip[:, None]  # now pointing into the bone
    depth = rng.uniform(1.0, 2.6, n)
    size = rng.uniform(1.2, 2.8, n)
    whisk_len = rng.uniform(2.0, 6.0, n)
    whisk_ang = rng.normal(0.0, 0.35, n)
    sp = frame.spacing
    for k in range(n):
        c = pts[k] + nrm[k] * depth[k] * 0.6
        cp = frame.to_px(c[None, :])[0]
        r = (size[k] * 3.0) / sp + 2
        win = Window(int(cp[0] - r), int(cp[1] - r), int(cp[0] + r) + 1, int(cp[1] + r) + 1)
        if win.clip(frame) is None:
            continue
        X, Y = frame.mm_grid(win)
        pit = np.exp(-0.5 * (((X - c[0]) ** 2 + (Y - c[1]) ** 2) / size[k] ** 2))
        add_into(canvas, win, (-0.35 * strength * pit).astype(np.float32), frame)
        # whisker: a fine spicule growing out of the cortex next to the pit
        base = pts[k] + np.array([-nrm[k][1], nrm[k][0]]) * (size[k] + 1.0)
        ca, sa = np.cos(whisk_ang[k]), np.sin(whisk_ang[k])
        out = -np.array([ca * nrm[k][0] - sa * nrm[k][1], sa * nrm[k][0] + ca * nrm[k][1]])
        add_lines(canvas, frame, [np.stack([base, base + out * whisk_len[k]])], amp=0.22 * strength, width_mm=0.9)


def render_enthesitis(canvas: np.ndarray, frame: Frame, sk: Skeleton, strength: float, seed: int) -> None:
    if strength <= 0:
        return
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 52])
    for side in SIDES:
        sd = sk.sides[side]
        hip_c = sd.hip.mean(axis=0)
        _entheses(canvas, frame, sd.crest, hip_c, strength, rng, 7)
        above = np.array([sd.tuberosity[:, 0].mean(), sd.tuberosity[:, 1].mean() - 20.0])
        _entheses(canvas, frame, sd.tuberosity, above, strength, rng, 4)
        gt = sd.gt_tip
        gt_line = np.array([[gt[0], gt[1] - 14.0], [gt[0] + np.sign(gt[0]) * 1.0, gt[1]], [gt[0], gt[1] + 14.0]])
        _entheses(canvas, frame, gt_line, sd.head_c, strength, rng, 3)
    # symphysitis: subchondral sclerosis on both pubic bones and marginal erosions
    top, bot = sk.symphysis
    c = 0.5 * (top + bot)
    half_h = 0.5 * float(bot[1] - top[1])
    corners = np.array([[c[0] - 16, top[1] - 5], [c[0] + 16, bot[1] + 5]])
    win = Window.around(frame.to_px(corners), pad=2)
    if win.clip(frame) is None:
        return
    X, Y = frame.mm_grid(win)
    ax = np.abs(X - c[0])
    vert = np.exp(-(((Y - c[1]) / (half_h + 2.0)) ** 6))
    scl = 0.5 * np.exp(-np.clip(ax - 2.5, 0, None) / 5.0) * (ax > 2.5) * vert
    ero = np.zeros_like(X)
    n_e = 7
    ys_e = rng.uniform(top[1] + 4, bot[1] - 4, n_e)
    sides_e = rng.choice([-1.0, 1.0], n_e)
    rs_e = rng.uniform(1.5, 3.0, n_e)
    for yk, sk_side, rk in zip(ys_e, sides_e, rs_e):
        ero += np.exp(-0.5 * (((X - (c[0] + sk_side * 3.5)) ** 2 + (Y - yk) ** 2) / rk**2))
    add_into(canvas, win, (strength * (scl - 0.6 * ero)).astype(np.float32), frame)
    cc = win.clip(frame)
    if cc is not None:
        sub = canvas[cc.y0 : cc.y1, cc.x0 : cc.x1]
        np.maximum(sub, 0.0, out=sub)
