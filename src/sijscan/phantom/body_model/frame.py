"""Coordinates and rasterising helpers for the anatomy renderer.

Anatomy lives in patient millimetres: x to the image's right (the patient's left), y down
(caudal), origin at the pelvis centre. :class:`Frame` maps those millimetres onto the detector
grid (pixel spacing, centre offset, in-plane rotation). :class:`Window` is a rectangular block of
pixels (it may reach beyond the image) on which one structure is evaluated, so each structure
costs only its own bounding box.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from sijscan.errors import InputError
from sijscan.phantom.spec import CaseSpec, Geometry


class AnatomyInputError(InputError):
    """A CaseSpec or Geometry the anatomy renderer cannot use."""


@dataclass(frozen=True)
class Frame:
    """Patient millimetres <-> pixels for one geometry and one case's in-plane pose."""

    height: int
    width: int
    spacing: float
    cx: float
    cy: float
    angle_rad: float

    @classmethod
    def build(cls, *, spec: CaseSpec, geometry: Geometry) -> "Frame":
        if geometry.height < 16 or geometry.width < 16:
            raise AnatomyInputError(
                f"geometry must be at least 16 x 16 pixels, got {geometry.height} x {geometry.width}"
            )
        if not (geometry.pixel_spacing_mm > 0 and math.isfinite(geometry.pixel_spacing_mm)):
            raise AnatomyInputError(f"pixel_spacing_mm must be a positive number, got {geometry.pixel_spacing_mm!r}")
        dx, dy = spec.center_offset
        return cls(
            height=int(geometry.height),
            width=int(geometry.width),
            spacing=float(geometry.pixel_spacing_mm),
            cx=geometry.width / 2.0 + float(dx) * geometry.width,
            cy=geometry.height / 2.0 + float(dy) * geometry.height,
            angle_rad=math.radians(float(spec.inplane_rotation_deg)),
        )

    def coarsened(self, k: int) -> "Frame":
        """The same pose on a grid ``k`` times coarser (pixel k*j+(k-1)/2 of this grid = pixel j there),
        laid out so that ``cv2.resize`` by ``k`` maps it back exactly."""
        if k <= 1:
            return self
        return Frame(
            height=-(-self.height // k),
            width=-(-self.width // k),
            spacing=self.spacing * k,
            cx=self.cx / k,
            cy=self.cy / k,
            angle_rad=self.angle_rad,
        )

    def to_px(self, pts_mm: np.ndarray) -> np.ndarray:
        """(N, 2) millimetre points -> (N, 2) pixel points (x = column, y = row; pixel centres at integers)."""
        p = np.asarray(pts_mm, dtype=np.float64).reshape(-1, 2)
        c, s = math.cos(self.angle_rad), math.sin(self.angle_rad)
        u = self.cx - 0.5 + (c * p[:, 0] - s * p[:, 1]) / self.spacing
        v = self.cy - 0.5 + (s * p[:, 0] + c * p[:, 1]) / self.spacing
        return np.stack([u, v], axis=1)

    def mm_affine(self, win: "Window") -> np.ndarray:
        """2x3 matrix taking window pixel (col, row) to patient millimetres (x, y)."""
        c, s = math.cos(self.angle_rad), math.sin(self.angle_rad)
        sp = self.spacing
        ou, ov = win.x0 - (self.cx - 0.5), win.y0 - (self.cy - 0.5)
        return np.array(
            [[c * sp, s * sp, (c * ou + s * ov) * sp], [-s * sp, c * sp, (-s * ou + c * ov) * sp]], dtype=np.float64
        )

    def mm_grid(self, win: "Window", step: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Millimetre coordinates (X, Y) of a window's pixel centres, or of the centres of its
        ``step`` x ``step`` cells (the layout ``cv2.resize`` expects when upsampling by ``step``)."""
        a = self.mm_affine(win)
        off = (step - 1) / 2.0
        cols = np.arange(0, -(-win.w // step), dtype=np.float32) * step + off
        rows = np.arange(0, -(-win.h // step), dtype=np.float32) * step + off
        X = (a[0, 0] * cols[None, :] + a[0, 1] * rows[:, None] + a[0, 2]).astype(np.float32)
        Y = (a[1, 0] * cols[None, :] + a[1, 1] * rows[:, None] + a[1, 2]).astype(np.float32)
        return X, Y


@dataclass(frozen=True)
class Window:
    """Pixel block [x0, x1) x [y0, y1); may extend beyond the image."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    @classmethod
    def around(cls, pts_px: np.ndarray, pad: float) -> "Window":
        p = np.asarray(pts_px).reshape(-1, 2)
        return cls(
            int(math.floor(p[:, 0].min() - pad)),
            int(math.floor(p[:, 1].min() - pad)),
            int(math.ceil(p[:, 0].max() + pad)) + 1,
            int(math.ceil(p[:, 1].max() + pad)) + 1,
        )

    def limit(self, frame: Frame, margin_px: int) -> "Window":
        """This window cut to the image plus a margin (distance maps do not treat the window's edge
        as an outline, so a margin wider than any edge roundness keeps them exact inside the image)."""
        return Window(
            max(self.x0, -margin_px),
            max(self.y0, -margin_px),
            min(self.x1, frame.width + margin_px),
            min(self.y1, frame.height + margin_px),
        )

    def clip(self, frame: Frame) -> "Window | None":
        x0, y0 = max(self.x0, 0), max(self.y0, 0)
        x1, y1 = min(self.x1, frame.width), min(self.y1, frame.height)
        if x1 <= x0 or y1 <= y0:
            return None
        return Window(x0, y0, x1, y1)


def add_into(canvas: np.ndarray, win: Window, field: np.ndarray, frame: Frame) -> None:
    """canvas[image part of win] += the matching part of ``field`` (shaped like win)."""
    c = win.clip(frame)
    if c is None:
        return
    canvas[c.y0 : c.y1, c.x0 : c.x1] += field[c.y0 - win.y0 : c.y1 - win.y0, c.x0 - win.x0 : c.x1 - win.x0]


def _catmull_rom(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray, n_per_seg: int) -> np.ndarray:
    """Uniform Catmull-Rom segments p1 -> p2 (rows are segments), n_per_seg samples each, in order."""
    t = np.linspace(0.0, 1.0, n_per_seg, endpoint=False)[None, :, None]
    t2, t3 = t * t, t * t * t
    a, b, c, d = (q[:, None, :] for q in (p0, p1, p2, p3))
    out = 0.5 * ((2 * b) + (-a + c) * t + (2 * a - 5 * b + 4 * c - d) * t2 + (-a + 3 * b - 3 * c + d) * t3)
    return out.reshape(-1, p1.shape[1])


def closed_spline(pts: np.ndarray, n_per_seg: int = 12) -> np.ndarray:
    """Closed centripetal-free (uniform) Catmull-Rom curve through the points, (M, 2)."""
    p = np.asarray(pts, dtype=np.float64)
    return _catmull_rom(np.roll(p, 1, axis=0), p, np.roll(p, -1, axis=0), np.roll(p, -2, axis=0), n_per_seg)


def open_spline(pts: np.ndarray, n_per_seg: int = 12) -> np.ndarray:
    """Open Catmull-Rom curve through the points (end points duplicated), (M, 2)."""
    p = np.asarray(pts, dtype=np.float64)
    p = np.concatenate([p[:1] * 2 - p[1:2], p, p[-1:] * 2 - p[-2:-1]], axis=0)
    body = _catmull_rom(p[:-3], p[1:-2], p[2:-1], p[3:], n_per_seg)
    return np.concatenate([body, p[-2:-1]], axis=0)


def ellipse_pts(cx: float, cy: float, ax: float, ay: float, rot_deg: float = 0.0, n: int = 48) -> np.ndarray:
    """Points of an ellipse outline in mm."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c, s = math.cos(math.radians(rot_deg)), math.sin(math.radians(rot_deg))
    x, y = ax * np.cos(t), ay * np.sin(t)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def fill_mask(win: Window, polys_px: list[np.ndarray], holes_px: list[np.ndarray] | None = None) -> np.ndarray:
    """uint8 mask (1 inside) of polygons (pixel coords) in a window, holes cleared. Sub-pixel via shift."""
    m = np.zeros((win.h, win.w), np.uint8)
    shift = 4
    off = np.array([win.x0, win.y0], dtype=np.float64)

    def prep(p: np.ndarray) -> np.ndarray:
        return np.round((p - off) * (1 << shift)).astype(np.int32).reshape(-1, 1, 2)

    for p in polys_px:  # one call per polygon: a single call would XOR overlapping polygons
        cv2.fillPoly(m, [prep(p)], 1, lineType=cv2.LINE_8, shift=shift)
    for p in holes_px or []:
        cv2.fillPoly(m, [prep(p)], 0, lineType=cv2.LINE_8, shift=shift)
    return m


def smoothstep(x: np.ndarray | float) -> np.ndarray | float:
    """0 below 0, 1 above 1, C1-smooth in between."""
    t = np.clip(x, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def lowres(win: Window, factor: int, fn, frame: Frame) -> np.ndarray:
    """Evaluate a smooth field ``fn(X_mm, Y_mm)`` every ``factor`` pixels and upsample to the window."""
    if factor <= 1 or min(win.w, win.h) < 4 * factor:
        X, Y = frame.mm_grid(win)
        return np.asarray(fn(X, Y), dtype=np.float32)
    X, Y = frame.mm_grid(win, step=factor)
    small = np.asarray(fn(X, Y), dtype=np.float32)
    big = cv2.resize(small, (small.shape[1] * factor, small.shape[0] * factor), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(big[: win.h, : win.w])
