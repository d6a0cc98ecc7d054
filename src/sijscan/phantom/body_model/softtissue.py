"""Soft-tissue line integral: body envelope, fat planes, bladder, psoas, gluteal folds, bowel gas.

Everything here is smooth, so it is evaluated on a coarse grid (about 0.8 mm) and upsampled.
Thicknesses are in mm along the beam, turned into a line integral with muscle/water (0.02/mm)
and fat (0.017/mm) coefficients; gas removes tissue (0 attenuation).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from sijscan.phantom.body_model.frame import Frame, Window, open_spline
from sijscan.phantom.body_model.landmarks import Skeleton
from sijscan.phantom.body_model.profile import MU_FAT, MU_SOFT, line_field
from sijscan.phantom.body_model.texture import make_tile, texture_in
from sijscan.phantom.spec import CaseSpec


def _sig(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(x))


def _ellipse_chord(x: np.ndarray, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    return 2.0 * b * np.sqrt(np.clip(1.0 - (x / a) ** 2, 0.0, None))


def draw_lines(
    shape: tuple[int, int], lines_mm: list[np.ndarray], frame: Frame, step: int, *, width_mm: float
) -> np.ndarray:
    """Soft lines (peak about 1) on a coarse grid holding every ``step``-th pixel of ``frame``."""
    pts = [(frame.to_px(p) - (step - 1) / 2.0) / step for p in lines_mm]
    return line_field(shape, pts, width_px=width_mm / (frame.spacing * step), offset=(0, 0))


def _body(
    X: np.ndarray, Y: np.ndarray, frame: Frame, step: int, spec: CaseSpec, sk: Skeleton, rng: np.random.Generator
) -> np.ndarray:
    """Soft-tissue line integral of the body without gas."""
    hab = float(spec.habitus)
    s = float(spec.body_scale)
    fem = 1.0 if sk.sex == "F" else 0.0
    a0 = (172.0 + 45.0 * (hab - 1.0) + 12.0 * fem) * s * (1 + 0.03 * rng.standard_normal())
    b0 = 105.0 * s * hab ** 0.9 * (1 + 0.04 * rng.standard_normal())
    fat = (12.0 + 4.0 * fem) * hab**2
    a = a0 * (1.0 + 0.08 * np.exp(-(((Y - 40.0) / 70.0) ** 2)) - 0.04 * np.clip(-(Y + 60.0) / 100.0, 0, 1))
    xs = X - 3.0 * np.sin(Y / 90.0)
    trunk = _ellipse_chord(xs, a, b0) ** 1.0
    trunk_in = _ellipse_chord(xs, np.maximum(a - fat, 1.0), np.maximum(b0 - fat, 1.0))
    # thighs below the perineum: two rounded columns, gluteal folds where the buttocks end
    yp = (112.0 if fem < 0.5 else 100.0) * s
    w = _sig((Y - yp) / 14.0)
    xc = 0.52 * a
    at = 0.50 * a
    th = _ellipse_chord(np.abs(xs) - xc, at, 0.8 * b0)
    th_in = _ellipse_chord(np.abs(xs) - xc, np.maximum(at - fat, 1.0), np.maximum(0.8 * b0 - fat, 1.0))
    tissue = (1 - w) * trunk + w * th
    lean = (1 - w) * trunk_in + w * th_in
    # buttocks: extra posterior tissue ending in a curved fold over the upper thighs
    yf = yp + 22.0 + 0.0018 * (np.abs(xs) - 0.45 * a) ** 2 * 4.0
    butt = 35.0 * hab * _sig((yf - Y) / 2.5) * _sig((Y - 20.0) / 30.0)
    butt = butt * np.exp(-(((np.abs(xs) - 0.42 * a) / (0.32 * a)) ** 2))
    tissue = tissue + butt
    lean = lean + butt * 0.6
    soft = MU_SOFT * lean + MU_FAT * np.clip(tissue - lean, 0.0, None)
    # fat planes: psoas margins, obturator internus, perivesical fat around the bladder, gluteal planes
    planes = np.zeros_like(X)
    for sg in (-1.0, 1.0):
        pso = np.array([[sg * 30.0, -170.0], [sg * 44.0, -110.0], [sg * 60.0, -45.0], [sg * 68.0, 0.0]]) * s
        obi = np.array([[sg * 58.0, -20.0], [sg * 55.0, 20.0], [sg * 45.0, 60.0]]) * s
        glu = np.array([[sg * 158.0, -115.0], [sg * 168.0, -60.0], [sg * 160.0, 0.0]]) * s
        for line, amp, width in ((pso, 0.05, 4.7), (obi, 0.03, 5.9), (glu, 0.04 * hab, 7.0)):
            planes += amp * draw_lines(X.shape, [open_spline(line, 6)], frame, step, width_mm=width)
    bx, by = 0.0, (28.0 + 6.0 * rng.standard_normal()) * s
    ba, bb = 48.0 * s * (1 + 0.1 * rng.standard_normal()), 36.0 * s * (1 + 0.1 * rng.standard_normal())
    rr = np.sqrt(((X - bx) / ba) ** 2 + ((Y - by) / bb) ** 2)
    planes += 0.07 * hab * np.exp(-0.5 * ((rr - 1.0) / 0.07) ** 2)
    return (soft - planes).astype(np.float32)


def _colon_paths(s: float, rng: np.random.Generator) -> list[tuple[np.ndarray, float, float]]:
    """Colon segments in mm: (dense path, tube radius, gas likelihood weight)."""
    j = lambda: rng.normal(0.0, 6.0)  # noqa: E731
    rectum = np.array([[2 + j(), 40.0], [0 + j(), 10.0], [-3 + j(), -20.0]])
    sigmoid = np.array(
        [[-3.0, -20.0], [-30 + j(), -40 + j()], [-10 + j(), -70 + j()], [35 + j(), -60 + j()], [70 + j(), -40 + j()],
         [100 + j(), -70 + j()]]
    )
    descending = np.array([[100.0, -70.0], [118 + j(), -110.0], [122 + j(), -160.0], [120 + j(), -220.0]])
    caecum = np.array([[-80 + j(), -10 + j()], [-95 + j(), -50.0], [-112 + j(), -100.0], [-118 + j(), -170.0]])
    transverse = np.array(
        [[-118.0, -170.0], [-60 + j(), -150 + j()], [0 + j(), -140 + j()], [60 + j(), -155 + j()], [120.0, -190.0]]
    )
    out = []
    segments = (
        (rectum, 18.0, 0.6), (sigmoid, 14.0, 1.0), (descending, 16.0, 0.7), (caecum, 24.0, 0.9), (transverse, 22.0, 0.8)
    )
    for path, r, wgt in segments:
        out.append((open_spline(path * s, 10), r * s, wgt))
    return out


def _gas(X: np.ndarray, Y: np.ndarray, frame: Frame, step: int, spec: CaseSpec, rng: np.random.Generator) -> np.ndarray:
    """Gas path length (mm) along the beam: haustrated pockets along the colon, mottled faeces.

    ``X``, ``Y`` are the mm coordinates of a coarse grid (every ``step`` pixels of ``frame``).
    """
    amount = float(np.clip(spec.bowel_gas, 0.0, 1.0))
    gas = np.zeros_like(X)
    white = rng.standard_normal(X.shape).astype(np.float32)
    bub = cv2.GaussianBlur(white, (0, 0), max(1.7 / (frame.spacing * step), 1.0))
    # faecal mottling: a froth of small rounded bubbles of different sizes (soft threshold, no blocks)
    bub2 = cv2.GaussianBlur(white[::-1].copy(), (0, 0), max(4.5 / (frame.spacing * step), 2.0))
    bub = bub / (bub.std() + 1e-6) + 0.7 * bub2 / (bub2.std() + 1e-6)
    bubbles = np.clip((bub - 0.35) * 0.8, 0.0, 1.0)
    s = float(spec.body_scale)
    for path, r, wgt in _colon_paths(s, rng):
        seg = np.cumsum(np.r_[0.0, np.hypot(*np.diff(path, axis=0).T)])
        n = max(int(seg[-1] / 14.0), 1)
        cand_t = np.sort(rng.uniform(0, seg[-1], n))
        u = rng.uniform(0, 1, n)
        size = rng.uniform(0.45, 1.0, n)
        elong = rng.uniform(1.0, 2.2, n)
        ang = rng.uniform(0, 180, n)
        mott = rng.uniform(0, 1, n)
        for k in range(n):
            if u[k] >= amount * wgt:
                continue
            p = np.array([np.interp(cand_t[k], seg, path[:, 0]), np.interp(cand_t[k], seg, path[:, 1])])
            rad = r * size[k] * (0.6 + 0.6 * amount)
            reach = rad * elong[k] + 1.0
            corners = p[None, :] + reach * np.array([[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]])
            cpx = frame.to_px(corners) / step
            c0, r0 = np.floor(cpx.min(axis=0)).astype(int)
            c1, r1 = np.ceil(cpx.max(axis=0)).astype(int) + 1
            c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, X.shape[1]), min(r1, X.shape[0])
            if c1 <= c0 or r1 <= r0:
                continue
            x, y = X[r0:r1, c0:c1], Y[r0:r1, c0:c1]
            c, sn = math.cos(math.radians(ang[k])), math.sin(math.radians(ang[k]))
            dx, dy = x - p[0], y - p[1]
            along, across = c * dx + sn * dy, -sn * dx + c * dy
            # an irregular outline: the pocket's radius wobbles with direction (seeded, fixed in space)
            th = np.arctan2(across, along)
            wob = 1.0 + 0.18 * np.sin(2 * th + 7.0 * mott[k]) + 0.10 * np.sin(3 * th + 11.0 * size[k])
            ex, ey = along / (rad * elong[k] * wob), across / (rad * wob)
            rr = ex * ex + ey * ey
            # haustral folds: a few thin curved septa, spaced about a lumen width apart, reaching in
            # from the smooth wall (not stripes across the whole pocket)
            phase = along / (1.3 * rad) + 0.5 * mott[k] + 0.25 * (across / rad) ** 2
            septum = np.exp(-0.5 * ((np.sin(np.pi * phase) / 0.07) ** 2))
            haus = 1.0 - 0.55 * septum * np.clip(np.abs(across) / rad * 1.4, 0.0, 1.0)
            depth = 2.4 * rad * np.sqrt(np.clip(1.0 - rr, 0.0, 1.0)) * haus
            if mott[k] < 0.5:  # faecal content: bubbly mottled gas, no folds
                depth = 1.8 * rad * np.sqrt(np.clip(1.0 - rr, 0.0, 1.0)) * bubbles[r0:r1, c0:c1]
            np.maximum(gas[r0:r1, c0:c1], depth, out=gas[r0:r1, c0:c1])
    _stool(gas, X, Y, bubbles, spec, np.random.default_rng([int(spec.anatomy_seed) & 0xFFFFFFFF, 34]))
    return gas.astype(np.float32)


def _stool(gas: np.ndarray, X: np.ndarray, Y: np.ndarray, bubbles: np.ndarray, spec: CaseSpec,
           rng: np.random.Generator) -> None:
    """Faecal masses in the rectum and sigmoid over the sacrum (most films show some): irregular
    patches of mottled gas (the froth of ``bubbles``), 3-6 cm across, added into ``gas`` (mm)."""
    amount = float(np.clip(spec.bowel_gas, 0.0, 1.0))
    s = float(spec.body_scale)
    # a fixed set of candidate masses (so more gas never means less anywhere): each present when its
    # draw is below 0.3 + 0.6 x amount (none without gas)
    for _ in range(4):
        c = np.array([rng.normal(0.0, 16.0), rng.uniform(-85.0, 15.0)]) * s
        rad = rng.uniform(15.0, 30.0) * s
        elong, ang, ph = rng.uniform(1.0, 1.8), rng.uniform(0.0, np.pi), rng.uniform(0.0, 2 * np.pi)
        if amount <= 0.0 or rng.uniform() >= 0.3 + 0.6 * amount:
            continue
        reach = rad * elong * 1.35
        cols = np.nonzero(np.any(np.abs(X - c[0]) < reach, axis=0))[0]
        rows = np.nonzero(np.any(np.abs(Y - c[1]) < reach, axis=1))[0]
        if cols.size == 0 or rows.size == 0:
            continue
        sl = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        ca, sa = math.cos(ang), math.sin(ang)
        dx, dy = X[sl] - c[0], Y[sl] - c[1]
        along, across = ca * dx + sa * dy, -sa * dx + ca * dy
        th = np.arctan2(across, along)
        wob = 1.0 + 0.2 * np.sin(3 * th + ph) + 0.1 * np.sin(5 * th + 2 * ph)
        rr = (along / (rad * elong * wob)) ** 2 + (across / (rad * wob)) ** 2
        depth = 1.4 * rad * np.sqrt(np.clip(1.0 - rr, 0.0, 1.0)) * bubbles[sl]
        np.maximum(gas[sl], depth * (0.4 + 0.6 * amount), out=gas[sl])


def render_soft(spec: CaseSpec, sk: Skeleton, frame: Frame) -> tuple[np.ndarray, dict]:
    """Full-size soft-tissue line integral (float32) and a little info."""
    f = max(1, int(round(1.6 / frame.spacing)))
    win = Window(0, 0, frame.width, frame.height)
    X, Y = frame.mm_grid(win, step=f)
    rng = np.random.default_rng([int(spec.anatomy_seed) & 0xFFFFFFFF, 31])
    soft = _body(X, Y, frame, f, spec, sk, rng)
    # bowel content and loops: faint, lumpy soft-tissue density over the abdomen and true pelvis
    content = make_tile(np.random.default_rng([int(spec.anatomy_seed) & 0xFFFFFFFF, 33]), angle_deg=0.0, elong=1.0,
                        grain_mm=7.0, mid_weight=0.0, mm_per_px=1.6, size=128)
    coarse = frame.coarsened(f)
    lumps = texture_in(Window(0, 0, coarse.width, coarse.height), coarse, content, amplitude=0.04)
    soft = soft + lumps[: X.shape[0], : X.shape[1]] * _sig((95.0 - Y) / 20.0) * (soft > 1.0)
    gas = _gas(X, Y, frame, f, spec, np.random.default_rng([int(spec.anatomy_seed) & 0xFFFFFFFF, 32]))
    gas = np.minimum(gas, 0.8 * soft / MU_SOFT)
    soft = np.clip(soft - MU_SOFT * gas, 0.0, None)
    if f > 1:
        soft = cv2.resize(soft, (soft.shape[1] * f, soft.shape[0] * f), interpolation=cv2.INTER_LINEAR)
        soft = soft[: frame.height, : frame.width]
    return np.ascontiguousarray(soft, dtype=np.float32), {"gas_max_mm": float(gas.max()) if gas.size else 0.0}
