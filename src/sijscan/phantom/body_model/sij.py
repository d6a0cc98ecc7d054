"""The sacroiliac joint: its two projected joint lines, the mNY lesions and the SIJ mimics.

The oblique joint projects as two lines (see :mod:`sijscan.phantom.body_model.landmarks`): the anterior line is the
sacral margin (the joint gap lies just lateral of it), the posterior line is the iliac margin (the
gap lies just medial of it); between them the posterior ilium overlaps the sacrum. Along each line
the beam runs tangentially through the cartilage, so bone is missing over the joint width (a lucent
band); the subchondral plates are tangential cortex (bright lines, thicker on the iliac side). How
clearly a joint's lines show, how sharp and how irregular they are varies from joint to joint (normal
joints are not smooth: ``JointLayout.line_vis``, ``natural_blur``, ``natural_irr``).

Lesions follow the radiographic definition of each grade that the CT route uses too
(:mod:`sijscan.phantom.lesions`): a joint's :class:`~sijscan.phantom.lesions.LesionParams` at its
latent severity give the erosions (count, radius), the sclerosis (width, density in HU), the
joint-space change and the bridged share of the joint. They are projected with the attenuation of
bone (``K_HU``: 0.045/mm per 1000 HU, as the CT route) over the path a beam takes through them
(``SCL_PATH``: measured on the CT route's projections of the shared CTs, see docs/phantom.md):

* sclerosis covers the overlap between the lines and a band lateral of the anterior line, denser
  where the beam runs along the joint, patchy at grade 2 and whole from grade 3, in the joint's
  lower (synovial) part; a share of it, half as wide, lies on the sacral side;
* erosions are rounded lucencies of the subchondral bone spread over the joint; those at the
  anterior line bite into its margin, and many of them serrate it ("postage stamp");
* the joint space widens (pseudo-widening) or narrows; ankylosis fills whole segments of the joint.

A joint's SITES (where erosions and bridges sit, the sclerotic patches) come from the anatomy seed
only, so a follow-up visit shows the same lesions grown. All changes stay inside a window of the
joint lines widened by :data:`REACH_MM`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sijscan.phantom import lesions as les
from sijscan.phantom.body_model.frame import Frame, Window, add_into, smoothstep
from sijscan.phantom.body_model.landmarks import SIGN, SideSkeleton

REACH_MM = 26.0  # how far (mm) any joint change reaches from the joint lines (osteitis condensans: 25 mm)
POST_REACH_MM = 10.0  # the posterior line's gap and plates reach less far
GAP_DEPTH = 0.38  # bone line integral the cartilage replaces where the beam runs along the joint
BOX_MARGIN_MM = 6.0  # true-box margin (mm) beyond the joint lines and their gaps
K_HU = 0.045e-3
"""Bone line integral per mm of path per HU (the CT route's attenuation of bone above water)."""
SCL_PATH = 0.85
"""Beam path through a sclerotic band per mm of its width, away from the joint lines. On the CT route's
projections of the three shared CTs (+100 HU within 8 mm of the sacrum, AP, no tilt) the 90th
percentile of the added line integral was 0.021-0.041, i.e. a path of 4.8-9.2 mm (mean ~6.8 mm = 0.85 x 8)."""
TANGENT_GAIN = 1.0
"""Extra path next to the anterior line, where the beam runs along the band (peaks there were 2-4x)."""
ERO_HU = 400.0
"""Density of the subchondral bone an erosion removes (HU above water)."""
N_SITES = 24
N_SEGMENTS = 12
NS = 400
S_GRID = np.linspace(-0.25, 1.25, NS)


@dataclass(frozen=True)
class JointLayout:
    """Seeded per-joint layout: lesion sites and draws (independent of severity), normal variation."""

    draws: les.JointDraws
    ero_s: np.ndarray  # along the joint (0 top ... 1 bottom), lower two thirds
    ero_t: np.ndarray  # across it: 0 posterior line ... 1 anterior line (> 1: lateral of it)
    ero_u: np.ndarray  # size jitter
    segment_order: np.ndarray  # order in which the joint's height segments are bridged
    patch_s: np.ndarray  # centres of grade 2's sclerotic patches
    ser_phase: np.ndarray
    ser_freq: np.ndarray
    irr_phase: np.ndarray
    oci_share: float
    natural_irr: float  # mm: the normal joint lines' irregularity
    line_vis: float  # how clearly this joint's lines and plates show (normal variation)
    vacuum_s: float  # centre of the gas segment of a joint with a vacuum phenomenon
    natural_blur: float  # mm: how sharp this joint's margins are without disease (normal variation)


def make_layout(seed: int, side: str) -> JointLayout:
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 41 if side == "image_left" else 42])
    return JointLayout(
        draws=les.draw_joint(rng),
        ero_s=rng.uniform(0.33, 0.97, N_SITES),
        ero_t=rng.uniform(0.0, 1.15, N_SITES),
        ero_u=rng.uniform(0.7, 1.3, N_SITES),
        segment_order=rng.permutation(N_SEGMENTS),
        patch_s=rng.uniform(0.4, 0.95, 3),
        ser_phase=rng.uniform(0, 2 * np.pi, 4),
        ser_freq=rng.uniform(11.0, 19.0, 4),
        irr_phase=rng.uniform(0, 2 * np.pi, 3),
        oci_share=float(rng.uniform(0.55, 1.0)),
        natural_irr=float(rng.uniform(0.2, 0.8)),
        line_vis=float(rng.uniform(0.5, 1.1)),
        vacuum_s=float(rng.uniform(0.45, 0.8)),
        natural_blur=float(rng.uniform(0.25, 0.6)),
    )


def _bump(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x)


def _segments(order: np.ndarray, fraction: float) -> np.ndarray:
    """1 on S_GRID inside the first ``fraction`` of the joint's N_SEGMENTS height segments (soft edges)."""
    out = np.zeros(NS)
    k = int(round(float(fraction) * N_SEGMENTS))
    for seg in order[:k]:
        out[(S_GRID >= seg / N_SEGMENTS) & (S_GRID < (seg + 1) / N_SEGMENTS)] = 1.0
    if k >= N_SEGMENTS:  # the whole joint: beyond its ends too
        out[(S_GRID < 0) | (S_GRID >= 1)] = 1.0
    step = S_GRID[1] - S_GRID[0]
    x = np.arange(-12, 13) * step
    kern = np.exp(-0.5 * (x / 0.012) ** 2)
    return np.convolve(out, kern / kern.sum(), mode="same")


def _profiles(prm: les.LesionParams, lay: JointLayout, *, deg: float, length_mm: float, w0: float) -> dict[str, np.ndarray]:
    """1-D functions of the joint coordinate s (0 top ... 1 bottom) for these lesions."""
    s = S_GRID
    sev = prm.severity
    ero = np.zeros(NS)
    for k in range(prm.erosion_count):  # erosions at the anterior line bite into its margin
        if lay.ero_t[k] < 0.75:
            continue
        r = prm.erosion_radius_mm * lay.ero_u[k]
        wk = max(r / length_mm, 1e-3)
        ero = np.maximum(ero, r * np.sqrt(np.clip(1.0 - ((s - lay.ero_s[k]) / wk) ** 2, 0.0, 1.0)))
    # postage-stamp margin: a row of small semicircular bites once erosions crowd the joint
    ph = np.mod(lay.ser_freq[0] * 1.4 * s + lay.ser_phase[0] / (2 * np.pi), 1.0)
    bites = np.sqrt(np.clip(1.0 - (2.0 * ph - 1.0) ** 2, 0.0, 1.0))
    env_ser = 0.55 + 0.45 * np.sin(2 * np.pi * lay.ser_freq[1] / 6.0 * s + lay.ser_phase[1])
    crowd = smoothstep((prm.erosion_count - 6) / 10.0)
    serr = 0.6 * prm.erosion_radius_mm * crowd * bites * env_ser * smoothstep((s - 0.25) / 0.15)
    irr_n = sum(np.sin(2 * np.pi * (3.0 + 2.5 * i) * s + p) for i, p in enumerate(lay.irr_phase)) / 2.0
    irr = (lay.natural_irr + 0.45 * prm.plate_loss) * irr_n  # a worn plate's margin is more irregular
    # bridged segments; the new bone matures (the joint line's ghost fades) from latent 4 to 4.5
    fill = _segments(lay.segment_order, prm.ankylosis_fraction) * (0.85 + 0.15 * smoothstep((sev - 4.0) / 0.5))
    # an anterior osteophyte bridging the lower margin overlaps the joint line there without erasing it
    fill = np.maximum(fill, 0.6 * deg * smoothstep((s - 0.9) / 0.08))
    patchy = np.zeros(NS)
    for ps in lay.patch_s:
        patchy = np.maximum(patchy, np.exp(-(((s - ps) / 0.12) ** 2)))
    spread = float(np.clip(sev - 2.0, 0.0, 1.0))
    lower = smoothstep((s - 0.15) / 0.25)
    scl_hu = prm.sclerosis_hu * lower * (spread + (1.0 - spread) * patchy)
    env = smoothstep((s + 0.03) / 0.08) * smoothstep((1.03 - s) / 0.08)
    width = max(w0 - les.DEGENERATIVE_NARROWING_MM * deg + prm.space_change_mm, 0.3)
    return {"ero": ero, "serr": serr, "irr": irr, "fill": fill, "scl_hu": scl_hu, "env": env,
            "width": np.full(NS, width)}


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


def _line_length_mm(line: np.ndarray) -> float:
    return float(np.sum(np.hypot(*np.diff(line, axis=0).T)))


def _point_on(line: np.ndarray, s_val: float) -> np.ndarray:
    """The point at joint coordinate ``s_val`` (0 top ... 1 bottom, by y) of a joint line."""
    y = line[0, 1] + s_val * (line[-1, 1] - line[0, 1])
    return np.array([np.interp(y, line[:, 1], line[:, 0]), y])


def _erosion_dots(field: np.ndarray, win: Window, frame: Frame, side: SideSkeleton, prm: les.LesionParams,
                  lay: JointLayout, sg: float, blur: float) -> None:
    """Each active erosion as a rounded lucency (a void sphere's chord) where it sits in the joint."""
    for k in range(prm.erosion_count):
        r = prm.erosion_radius_mm * lay.ero_u[k]
        post, ant = _point_on(side.post_line, lay.ero_s[k]), _point_on(side.ant_line, lay.ero_s[k])
        c = post + lay.ero_t[k] * (ant - post)
        c[0] += sg * max(lay.ero_t[k] - 1.0, 0.0) * 4.0
        cp = frame.to_px(c[None, :])[0]
        rad = (r + 2 * blur) / frame.spacing + 2
        sub = Window(int(cp[0] - rad), int(cp[1] - rad), int(cp[0] + rad) + 1, int(cp[1] + rad) + 1)
        sub = _sub_window(win, sub)
        if sub is None:
            continue
        X, Y = frame.mm_grid(sub)
        d = np.sqrt((X - c[0]) ** 2 + (Y - c[1]) ** 2)
        chord = 2.0 * np.sqrt(np.clip(r * r - d * d, 0.0, None))
        soft = 0.5 * (1.0 - np.tanh((d - r) / max(blur, 0.2)))  # the edge blurred like the joint lines
        dot = K_HU * ERO_HU * np.maximum(chord, soft * 0.6 * r)
        field[sub.y0 - win.y0 : sub.y1 - win.y0, sub.x0 - win.x0 : sub.x1 - win.x0] -= dot.astype(np.float32)


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
    vacuum: bool = False,
) -> dict:
    """Add the joint lines, lesions and mimics of one joint to ``canvas``; returns derived parameters."""
    sg = SIGN[side_name]
    win = joint_window(frame, side, REACH_MM)
    if win.clip(frame) is None:
        return {}
    prm = les.lesion_params(float(sev), layout.draws)
    w0 = side.joint_w
    pr = _profiles(prm, layout, deg=float(deg), length_mm=_line_length_mm(side.ant_line), w0=w0)
    # the margins blur as the subchondral plate is lost; normal joints differ in sharpness too (the real
    # joint is curved and oblique, so its tangential margin is smeared by more or less)
    blur = layout.natural_blur + 0.6 * prm.plate_loss
    field = np.zeros((win.h, win.w), np.float32)
    plate_fade = 1.0 - prm.plate_loss
    vis = np.float32(layout.line_vis)
    width = float(prm.sclerosis_width_mm)
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
        w = P["width"]
        e = d - (w / 2.0 if which == "ant" else -w / 2.0)  # distance from the gap centre, + toward ilium
        m_sac = -w / 2.0 + 0.5 * P["irr"]
        m_il = w / 2.0 + P["ero"] + P["serr"] + P["irr"]
        b = np.float32(blur)
        gap = 0.25 * (1.0 + np.tanh((e - m_sac) / b * 0.85)) * (1.0 + np.tanh((m_il - e) / b * 0.85))
        weight = (0.55 + 0.45 * s) if which == "ant" else (0.8 - 0.4 * np.clip(s, 0, 1))
        seen = P["env"] * (1.0 - P["fill"]) * weight * vis
        acc -= (GAP_DEPTH * gap * seen).astype(np.float32)
        if vacuum:  # gas in a segment of the joint: darker than cartilage
            seg = np.exp(-(((s - layout.vacuum_s) / 0.12) ** 2))
            acc -= (0.15 * gap * seg * P["env"] * (1.0 - P["fill"]) * weight).astype(np.float32)
        # ankylosis: new bone fills the joint (and the step at the former margins) where it is bridged
        fused = 0.5 * (1.0 - np.tanh((np.abs(e) - (w / 2.0 + 2.0)) / 1.5))
        acc += (0.28 * P["fill"] * P["env"] * fused * weight).astype(np.float32)
        live = P["env"] * (1.0 - 0.85 * P["fill"]) * np.float32(plate_fade) * vis
        t_il, t_sac = 1.1 + 0.4 * min(width / 5.0, 1.0), 0.6  # the iliac plate thickens with its sclerosis
        acc += (0.22 * live * _bump((e - m_il - t_il / 2) / (t_il / 2 + b)) * weight).astype(np.float32)
        acc += (0.12 * live * _bump((e - m_sac + t_sac / 2) / (t_sac / 2 + b)) * weight).astype(np.float32)
        if which != "ant":
            continue
        beyond = np.clip(e - m_il, 0.0, None)
        side_il = 0.5 * (1.0 + np.tanh((e - m_il) / 1.6))
        smooth_il = w / 2.0 + P["irr"]  # the margin without its erosions: the band's reference
        beyond_s = np.clip(e - smooth_il, 0.0, None)
        side_s = 0.5 * (1.0 + np.tanh((e - smooth_il) / 1.6))
        if width > 0:
            # sclerosis: lateral band (denser next to the line) plus the overlap medial of it
            _, d_post = _line_coords(X, Y, side.post_line, sg)
            between = smoothstep((d_post + 1.0) / 2.0) * (1.0 - side_s)
            band = (1.0 + TANGENT_GAIN * np.exp(-beyond_s / 1.5)) * smoothstep((width - beyond_s) / max(0.3 * width, 0.5))
            amount = K_HU * P["scl_hu"] * SCL_PATH * width
            acc += (amount * (band * side_s + between) * P["env"]).astype(np.float32)
            # sacral side: a share of it, half as wide, medial of the posterior line
            medial = np.clip(-d_post, 0.0, None)
            sac_band = np.clip(1.0 - medial / (0.5 * width), 0.0, 1.0) * (d_post < 0)
            acc += (prm.sacral_sclerosis_share * amount * 0.5 * sac_band * P["env"]).astype(np.float32)
        if oci > 0:
            tri = np.clip(1.0 - np.abs(s - 0.78) / 0.33, 0.0, 1.0)
            W = les.oci_width_mm(oci) * tri
            fade = np.clip(1.0 - 0.55 * beyond / np.maximum(W, 1.0), 0.0, 1.0)  # densest along the joint
            dense = K_HU * les.oci_hu(oci) * layout.oci_share * SCL_PATH * W
            oci_f = dense * smoothstep((W - beyond) / 6.0) * side_il * smoothstep(W / 4.0) * fade
            acc += oci_f.astype(np.float32)
        if deg > 0:
            # anterior osteophyte: a bony beak bridging the lower margin, reaching below the joint
            beak = np.exp(-(((s - 1.0) / 0.07) ** 2) - ((e / 5.0) ** 2))
            acc += (0.45 * deg * beak).astype(np.float32)
            # mild subchondral sclerosis of the lower joint (the CT route's density and width, projected)
            band = les.DEGENERATIVE_SCLEROSIS_MM
            lower = K_HU * les.degenerative_hu(deg) * SCL_PATH * band * smoothstep((s - 0.6) / 0.3) * P["env"]
            acc += (lower * np.exp(-np.clip(e - m_il, 0, None) / band) * side_il).astype(np.float32)
    _erosion_dots(field, win, frame, side, prm, layout, sg, float(blur))
    add_into(canvas, win, field, frame)
    c = win.clip(frame)
    if c is not None:  # nowhere below zero (the cartilage can only remove bone that is there)
        sub = canvas[c.y0 : c.y1, c.x0 : c.x1]
        np.maximum(sub, 0.0, out=sub)
    return {
        "severity": float(sev),
        "lesions": prm.to_json(),
        "joint_width_mm": float(pr["width"][0]),
        "erosion_mm_max": float(pr["ero"].max() + pr["serr"].max()),
        "bridged_fraction": float(np.mean(pr["fill"][(S_GRID >= 0) & (S_GRID <= 1)])),
        "sclerosis_max": float(K_HU * pr["scl_hu"].max() * SCL_PATH * width * (1.0 + TANGENT_GAIN)),
        "effect_box": [win.x0, win.y0, win.x1, win.y1],
    }
