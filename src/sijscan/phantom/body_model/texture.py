"""Trabecular texture: band-limited, oriented noise tiles defined in millimetres.

Base tiles (orientation and grain baked into their spectra, at a fixed millimetre resolution) form
a small deterministic bank, built once per process; a case picks one base tile and a seeded offset
(and mirror), so making a case's texture costs nothing. A tile is resampled once per pixel spacing
(the same pattern in mm at any detector geometry) and laid onto each window by wrap-around indexing.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from sijscan.phantom.body_model.frame import Frame, Window

TILE_MM = 0.4  # millimetres per tile pixel
TILE_PX = 256  # 102 mm tile


BANK_SIZE = 8  # base tiles per texture kind; a case picks one and a seeded offset (cheap, still varied)


@dataclass(frozen=True)
class TextureTile:
    """A case's texture: one base tile of a shared bank, shifted (and maybe mirrored) by the seed."""

    index: int  # which base tile of the bank
    angle_deg: float  # grain direction of the base tile (0 = along x, y down)
    elong: float
    grain_mm: float
    mid_weight: float
    mm_per_px: float
    size: int
    shift_mm: tuple[float, float]
    mirror: bool = False

    def mirrored(self) -> "TextureTile":
        """The left-right mirror image about the midline (for the other side's femur)."""
        return replace(self, mirror=not self.mirror)

    @property
    def img(self) -> np.ndarray:
        """The base tile (read-only, float32, zero mean, unit spread) at its own resolution."""
        return _base_tile(self.index, self.angle_deg, self.elong, self.grain_mm, self.mid_weight, self.mm_per_px, self.size)


def make_tile(
    rng: np.random.Generator,
    *,
    angle_deg: float,
    elong: float = 2.2,
    grain_mm: float = 0.9,
    mid_weight: float = 0.3,
    mm_per_px: float = TILE_MM,
    size: int = TILE_PX,
) -> TextureTile:
    """Band-pass noise (grain ~``grain_mm``) stretched ``elong`` times along ``angle_deg``."""
    index = int(rng.integers(BANK_SIZE))
    period = size * mm_per_px
    shift = rng.uniform(0.0, period, 2)
    return TextureTile(index, float(angle_deg), float(elong), float(grain_mm), float(mid_weight), float(mm_per_px),
                       int(size), (float(shift[0]), float(shift[1])))


@functools.lru_cache(maxsize=64)
def _base_tile(
    index: int, angle_deg: float, elong: float, grain_mm: float, mid_weight: float, mm_per_px: float, size: int
) -> np.ndarray:
    key = [0x7E47, index, int(round(angle_deg * 10)), int(round(elong * 100)), int(round(grain_mm * 100)),
           int(round(mid_weight * 100)), int(round(mm_per_px * 1000)), size]
    white = np.random.default_rng(key).standard_normal((size, size)).astype(np.float32)
    s1 = grain_mm / mm_per_px / 2.0
    spec = np.fft.rfft2(white)
    fy0 = np.fft.fftfreq(size)[:, None]
    fx0 = np.fft.rfftfreq(size)[None, :]
    th = math.radians(angle_deg)
    fx = fx0 * math.cos(th) + fy0 * math.sin(th)  # frequency along the grain direction
    fy = -fx0 * math.sin(th) + fy0 * math.cos(th)

    def gauss(sx: float, sy: float) -> np.ndarray:  # periodic Gaussian blur (stretched along the grain)
        return np.exp(-2.0 * np.pi**2 * ((fx * sx) ** 2 + (fy * sy) ** 2))

    band = np.fft.irfft2(spec * (gauss(s1 * elong, s1) - gauss(3.0 * s1 * elong, 3.0 * s1)), s=white.shape)
    band /= band.std() + 1e-6
    # rods and plates: sharpen the positive part a little (trabeculae are bright strands on marrow)
    band = np.tanh(1.3 * band) + 0.15 * band
    # a faint coarse marrow variation
    blob = np.fft.irfft2(spec * gauss(12.0 / mm_per_px, 12.0 / mm_per_px), s=white.shape)
    blob /= blob.std() + 1e-6
    out = band + 0.35 * blob
    if mid_weight > 0:  # clusters of denser and sparser trabeculae (a few mm): what survives detector blur
        mid = np.fft.irfft2(spec * (gauss(3.0 / mm_per_px, 3.0 / mm_per_px) - gauss(8.0 / mm_per_px, 8.0 / mm_per_px)),
                            s=white.shape)
        out = out + mid_weight * mid / (mid.std() + 1e-6)
    out -= out.mean()
    out /= out.std() + 1e-6
    out = out.astype(np.float32)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=64)
def _resampled(tile_key: tuple, spacing: float) -> np.ndarray:
    """The base tile at a pixel spacing (same pattern size in mm)."""
    base = _base_tile(*tile_key)
    size, mm_per_px = tile_key[-1], tile_key[-2]
    n = max(8, int(round(size * mm_per_px / spacing)))
    if n == base.shape[0]:
        return base
    interp = cv2.INTER_AREA if n < base.shape[0] else cv2.INTER_LINEAR
    out = cv2.resize(np.ascontiguousarray(base), (n, n), interpolation=interp)
    out.flags.writeable = False
    return out


def texture_in(win: Window, frame: Frame, tile: TextureTile, *, amplitude: float) -> np.ndarray:
    """The tile laid onto a window's pixels, anchored at the pelvis centre, times ``amplitude``.

    The tile is resampled once per pixel spacing (so the pattern has the same size in mm at any
    geometry) and then indexed with wrap-around, which is much cheaper than warping every window.
    The pattern follows the detector axes (an in-plane rotation of a few degrees does not rotate
    the trabecular grain).
    """
    key = (tile.index, tile.angle_deg, tile.elong, tile.grain_mm, tile.mid_weight, tile.mm_per_px, tile.size)
    img = _resampled(key, round(frame.spacing, 6))
    n = img.shape[0]
    ox = int(round(tile.shift_mm[0] / frame.spacing))
    oy = int(round(tile.shift_mm[1] / frame.spacing))
    cols = np.arange(win.x0, win.x1) - int(round(frame.cx))
    ci = ((-cols if tile.mirror else cols) + ox) % n
    ri = (np.arange(win.y0, win.y1) - int(round(frame.cy)) + oy) % n
    return img[np.ix_(ri, ci)] * np.float32(amplitude)
