"""The sacroiliac joint: its two projected joint lines, the mNY lesions and the SIJ mimics.

The oblique joint projects as two lines (see :mod:`sijscan.phantom.body_model.landmarks`): the anterior line is the
sacral margin (the joint gap lies just lateral of it), the posterior line is the iliac margin (the
gap lies just medial of it). Along each line the beam runs tangentially through the cartilage, so
bone is missing over the joint width (a lucent band); the subchondral plates are tangential
cortex (bright lines, thicker on the iliac side).

Lesions are continuous, monotone functions of the latent severity ``sev``; their SITES (where
erosions and bridges sit along the joint, the sclerosis patches) come from the anatomy seed only,
so a follow-up visit shows the same lesions grown. All changes stay inside a window of the joint
lines widened by :data:`REACH_MM`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sijscan.phantom.body_model.frame import Frame, Window, add_into, smoothstep
from sijscan.phantom.body_model.landmarks import SIGN, SideSkeleton

REACH_MM = 22.0  # how far (mm) any joint change reaches from the joint lines
POST_REACH_MM = 10.0  # the posterior line's gap and plates reach less far
GAP_DEPTH = 0.38  # bone line integral the cartilage replaces where the beam runs along the joint
BOX_MARGIN_MM = 6.0  # true-box margin (mm) beyond the joint lines and their gaps
NS = 400
S_GRID = np.linspace(-0.25, 1.25, NS)


@dataclass(frozen=True)
class JointLayout:
    """Seeded per-joint lesion layout (independent of severity)."""

    ero_s: np.ndarray
    ero_w: np.ndarray
    ero_depth: np.ndarray
    ero_thr: np.ndarray
    bri_s: np.ndarray
    bri_thr: np.ndarray
    ser_phase: np.ndarray
    ser_freq: np.ndarray
    irr_phase: np.ndarray
    patch_s: np.ndarray
    patch_w: np.ndarray
    oci_share: float
    natural_irr: float


def make_layout(seed: int, side: str) -> JointLayout:
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 41 if side == "image_left" else 42])
    n_e, n_b = 14, 5
    return JointLayout(
        ero_s=rng.uniform(0.15, 0.97, n_e),
        ero_w=rng.uniform(0.03, 0.07, n_e),
        ero_depth=rng.uniform(1.0, 2.6, n_e),
        ero_thr=np.sort(rng.uniform(1.3, 3.3, n_e))[rng.permutation(n_e)],
        bri_s=rng.uniform(0.25, 0.95, n_b),
        bri_thr=np.sort(rng.uniform(2.7, 3.9, n_b)),
        ser_phase=rng.uniform(0, 2 * np.pi, 4),
        ser_freq=rng.uniform(11.0, 19.0, 4),
        irr_phase=rng.uniform(0, 2 * np.pi, 3),
        patch_s=rng.uniform(0.3, 0.95, 3),
        patch_w=rng.uniform(0.06, 0.12, 3),
        oci_share=float(rng.uniform(0.55, 1.0)),
        natural_irr=float(rng.uniform(0.05, 0.2)),
    )


def _bump(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x)


def _profiles(sev: float, lay: JointLayout, *, deg: float) -> dict[str, np.ndarray]:
    """1-D functions of the joint coordinate s (0 top ... 1 bottom) for this severity."""
    s = S_GRID
    sev = float(max(sev, 0.0))
    ero = np.zeros(NS)
    for k in range(len(lay.ero_s)):  # rounded pits on the iliac side, deeper and wider with severity
        a = lay.ero_depth[k] * smoothstep((sev - lay.ero_thr[k]) / 1.0)
        wk = lay.ero_w[k] * (0.6 + 0.4 * smoothstep((sev - 2.0) / 1.5))
        ero = np.maximum(ero, a * np.sqrt(np.clip(1.0 - ((s - lay.ero_s[k]) / wk) ** 2, 0.0, 1.0)))
    # postage-stamp margin: a row of small semicircular bites, irregular in depth along the joint
    ph = np.mod(lay.ser_freq[0] * 1.4 * s + lay.ser_phase[0] / (2 * np.pi), 1.0)
    bites = np.sqrt(np.clip(1.0 - (2.0 * ph - 1.0) ** 2, 0.0, 1.0))
    env_ser = 0.55 + 0.45 * np.sin(2 * np.pi * lay.ser_freq[1] / 6.0 * s + lay.ser_phase[1])
    serr = 1.0 * smoothstep((sev - 2.2) / 1.4) * bites * env_ser
    irr_n = sum(np.sin(2 * np.pi * (3.0 + 2.5 * i) * s + p) for i, p in enumerate(lay.irr_phase)) / 2.0
    irr = (lay.natural_irr + 0.55 * smoothstep(sev / 1.6)) * irr_n
    bridges = np.zeros(NS)
    for k in range(len(lay.bri_s)):
        g = smoothstep((sev - lay.bri_thr[k]) / 0.7)
        hw = 0.02 + 0.06 * g
        bridges = np.maximum(bridges, g * np.exp(-(((s - lay.bri_s[k]) / hw) ** 4)))
    fill = np.maximum(bridges, 0.92 * smoothstep((sev - 3.1) / 1.4))
    fill = np.maximum(fill, deg * smoothstep((s - 0.86) / 0.1))  # degenerative bridging at the lower margin
    patchy = np.zeros(NS)
    for ps, pw in zip(lay.patch_s, lay.patch_w):
        patchy = np.maximum(patchy, np.exp(-(((s - ps) / pw) ** 2)))
    spread = smoothstep((sev - 2.3) / 1.2)
    syn = smoothstep((s - 0.15) / 0.2)
    scl = 0.7 * smoothstep((sev - 1.4) / 2.0) * ((1 - spread) * patchy + spread) * syn
    env = smoothstep((s + 0.03) / 0.08) * smoothstep((1.03 - s) / 0.08)
    narrow = 1.0 - 0.55 * smoothstep((sev - 3.0) / 1.5) - 0.25 * deg
    return {"ero": ero, "serr": serr, "irr": irr, "fill": fill, "scl": scl, "env": env, "narrow": np.full(NS, narrow)}


def _lookup(s: np.ndarray, profiles: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Linear interpolation of the 1-D profiles (sampled on the uniform S_GRID) at s."""
    pos = np.clip((s - S_GRID[0]) / (S_GRID[1] - S_GRID[0]), 0.0, NS - 1.001)
    i0 = pos.astype(np.int32)
    w = (pos - i0).astype(np.float32)
    out = {}
    for k, v in profiles.items():
        v32 = v.astype(np.float32)
        a = v32[i0]
        out[k] = a + (v32[i0 + 1] - a) * w
    return out


def _line_coords(X: np.ndarray, Y: np.ndarray, line: np.ndarray, sg: float) -> tuple[np.ndarray, np.ndarray]:
    """(s along the joint, signed distance in mm, positive toward the ilium = lateral)."""
    ly, lx = line[:, 1], line[:, 0]
    y0, y1 = float(ly[0]), float(ly[-1])
    yq = Y[:, :1] if _rows_constant(Y) else Y
    xl = np.interp(yq, ly, lx).astype(np.float32)
    slope = np.interp(yq, ly, np.gradient(lx, ly)).astype(np.float32)
    d = sg * (X - xl) / np.sqrt(1.0 + slope * slope)
    s = (Y - y0) / (y1 - y0)
    return s.astype(np.float32), d.astype(np.float32)


def _rows_constant(Y: np.ndarray) -> bool:
    """True when every row of Y holds one value (no in-plane rotation): interpolate once per row."""
    return bool(Y.shape[1] < 2 or abs(float(Y[0, -1] - Y[0, 0])) < 1e-6)


def _sub_window(outer: Window, inner: Window) -> Window | None:
    x0, y0 = max(outer.x0, inner.x0), max(outer.y0, inner.y0)
    x1, y1 = min(outer.x1, inner.x1), min(outer.y1, inner.y1)
    return Window(x0, y0, x1, y1) if (x1 > x0 and y1 > y0) else None


def joint_window(frame: Frame, side: SideSkeleton, reach_mm: float) -> Window:
    pts = np.concatenate([side.ant_line, side.post_line])
    lo, hi = pts.min(axis=0) - reach_mm, pts.max(axis=0) + reach_mm
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    return Window.around(frame.to_px(corners), pad=1)


def true_box(frame: Frame, side: SideSkeleton) -> list[int]:
    """[x0, y0, x1, y1] pixel box holding both joint lines and their gaps, plus a margin."""
    w = side.joint_w
    pts = np.concatenate([side.ant_line, side.post_line])
    lo = pts.min(axis=0) - (w + BOX_MARGIN_MM)
    hi = pts.max(axis=0) + (w + BOX_MARGIN_MM)
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    px = frame.to_px(corners)
    x0, y0 = np.floor(px.min(axis=0) + 0.5).astype(int)
    x1, y1 = np.ceil(px.max(axis=0) + 0.5).astype(int)
    x0, x1 = (min(max(int(v), 0), frame.width) for v in (x0, x1))
    y0, y1 = (min(max(int(v), 0), frame.height) for v in (y0, y1))
    return [x0, y0, max(x1, x0), max(y1, y0)]  # empty (x0 == x1 or y0 == y1) when off the image


def render_joint(
    canvas: np.ndarray,
    frame: Frame,
    side_name: str,
    side: SideSkeleton,
    *,
    sev: float,
    layout: JointLayout,
    oci: float,
    deg: float,
) -> dict:
    """Add the joint lines, lesions and mimics of one joint to ``canvas``; returns derived parameters."""
    sg = SIGN[side_name]
    win = joint_window(frame, side, REACH_MM)
    if win.clip(frame) is None:
        return {}
    pr = _profiles(sev, layout, deg=float(deg))
    w0 = side.joint_w
    blur = 0.25 + 0.45 * smoothstep(sev / 2.0)
    field = np.zeros((win.h, win.w), np.float32)
    plate_fade = 1.0 - 0.5 * smoothstep((sev - 0.6) / 2.0)
    for which, line in (("ant", side.ant_line), ("post", side.post_line)):
        # the posterior line carries only its gap and plates: a narrower strip of the window
        strip = Window.around(frame.to_px(line), pad=POST_REACH_MM / frame.spacing + 2)
        sub = win if which == "ant" else _sub_window(win, strip)
        if sub is None:
            continue
        X, Y = frame.mm_grid(sub)
        s, d = _line_coords(X, Y, line, sg)
        acc = field[sub.y0 - win.y0 : sub.y1 - win.y0, sub.x0 - win.x0 : sub.x1 - win.x0]
        P = _lookup(s, pr)
        w = w0 * P["narrow"]
        e = d - (w / 2.0 if which == "ant" else -w / 2.0)  # distance from the gap centre, + toward ilium
        m_sac = -w / 2.0 + 0.5 * P["irr"]
        m_il = w / 2.0 + P["ero"] + P["serr"] + P["irr"]
        b = np.float32(blur)
        gap = 0.25 * (1.0 + np.tanh((e - m_sac) / b * 0.85)) * (1.0 + np.tanh((m_il - e) / b * 0.85))
        weight = (0.55 + 0.45 * s) if which == "ant" else (0.8 - 0.4 * np.clip(s, 0, 1))
        vis = P["env"] * (1.0 - P["fill"]) * weight
        acc -= (GAP_DEPTH * gap * vis).astype(np.float32)
        # ankylosis: new bone fills the joint (and the step at the former margins) where it is bridged
        fused = 0.5 * (1.0 - np.tanh((np.abs(e) - (w / 2.0 + 2.0)) / 1.5))
        acc += (0.28 * P["fill"] * P["env"] * fused * weight).astype(np.float32)
        live = P["env"] * (1.0 - 0.85 * P["fill"]) * np.float32(plate_fade)
        t_il, t_sac = 1.1 + 0.4 * smoothstep(sev / 3.0), 0.6
        acc += (0.22 * live * _bump((e - m_il - t_il / 2) / (t_il / 2 + b)) * weight).astype(np.float32)
        acc += (0.12 * live * _bump((e - m_sac + t_sac / 2) / (t_sac / 2 + b)) * weight).astype(np.float32)
        if which == "ant":
            beyond = np.clip(e - m_il, 0.0, None)
            taper = np.clip(1.0 - (beyond / 18.0) ** 2, 0.0, 1.0) ** 2
            lam = 3.0 + 3.5 * smoothstep((sev - 2.0) / 2.0)
            side_il = 0.5 * (1.0 + np.tanh((e - m_il) / 1.6))
            acc += (P["scl"] * np.exp(-beyond / lam) * taper * side_il * P["env"]).astype(np.float32)
            # sacral-side sclerosis, milder, late
            inside = np.clip(m_sac - e, 0.0, None)
            late = 0.35 * smoothstep((sev - 2.5) / 1.5)
            acc += (late * P["scl"] * np.exp(-inside / 3.0) * (e < m_sac) * P["env"]).astype(np.float32)
            if oci > 0:
                share = layout.oci_share
                tri = np.clip(1.0 - np.abs(s - 0.78) / 0.33, 0.0, 1.0)
                W = 16.0 * tri
                fade = np.clip(1.0 - 0.55 * beyond / np.maximum(W, 1.0), 0.0, 1.0)  # densest along the joint
                oci_f = 0.9 * oci * share * smoothstep((W - beyond) / 6.0) * side_il * smoothstep(W / 4.0) * fade
                acc += oci_f.astype(np.float32)
            if deg > 0:
                # anterior osteophyte: a bony beak bridging the lower margin, reaching below the joint
                beak = np.exp(-(((s - 1.0) / 0.07) ** 2) - ((e / 5.0) ** 2))
                acc += (0.45 * deg * beak).astype(np.float32)
                lower = 0.12 * deg * smoothstep((s - 0.6) / 0.3) * P["env"]
                acc += (lower * np.exp(-np.clip(e - m_il, 0, None) / 2.5) * side_il).astype(np.float32)
    add_into(canvas, win, field, frame)
    c = win.clip(frame)
    if c is not None:  # nowhere below zero (the cartilage can only remove bone that is there)
        sub = canvas[c.y0 : c.y1, c.x0 : c.x1]
        np.maximum(sub, 0.0, out=sub)
    return {
        "severity": float(sev),
        "joint_width_mm": float(w0 * pr["narrow"][0]),
        "erosion_mm_max": float(pr["ero"].max() + pr["serr"].max()),
        "bridged_fraction": float(np.mean(pr["fill"][(S_GRID >= 0) & (S_GRID <= 1)])),
        "sclerosis_max": float(pr["scl"].max()),
        "effect_box": [win.x0, win.y0, win.x1, win.y1],
    }
