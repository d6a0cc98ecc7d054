"""Projected bone thickness of a solid bone from its outline.

A bone seen along the beam is modelled, locally, as a rod whose cross-section is rounded at the
outline: at distance ``d`` inside the projected outline the beam crosses a chord of a circle of
radius ``L`` (the edge roundness), scaled so that the full thickness is ``D`` (both in mm). The
cortex is a shell of thickness ``tc`` around a cancellous core; the shell's projected path is the
outer chord minus the inner chord, so it peaks where the beam runs tangentially along the
outline: that is the bright cortical rim of a radiograph.

Attenuation coefficients (per mm at ~60 keV): cortical bone 0.09, cancellous bone 0.035, soft
tissue 0.02 (see ``spec.Projection``).
"""
from __future__ import annotations

import cv2
import numpy as np

MU_CORT = 0.09
MU_CANC = 0.035
MU_SOFT = 0.02
MU_FAT = 0.017


def inside_distance_mm(mask: np.ndarray, spacing: float) -> np.ndarray:
    """Distance (mm) from each inside pixel to the outline (about half a pixel at the edge), 0 outside."""
    if not mask.any():
        return np.zeros(mask.shape, np.float32)
    # the 5x5 chamfer mask: deterministic (the "precise" variant varies in the last bit from run to run)
    d = cv2.distanceTransform(mask, cv2.DIST_L2, cv2.DIST_MASK_5)
    d = np.maximum(d - 0.5, 0.25) * np.float32(spacing)
    d[mask == 0] = 0.0
    return d


def chord(d: np.ndarray, L: np.ndarray | float, D: np.ndarray | float) -> np.ndarray:
    """Path length (mm) at distance ``d`` inside a rounded edge of roundness ``L``, full thickness ``D``."""
    Lf = np.maximum(L, 1e-3)
    u = np.minimum(d / Lf, 1.0)
    return (D * np.sqrt(np.clip(u * (2.0 - u), 0.0, 1.0))).astype(np.float32)


def solid_bone(
    d: np.ndarray,
    *,
    L: np.ndarray | float,
    D: np.ndarray | float,
    tc: np.ndarray | float,
    texture: np.ndarray | None = None,
    canc_scale: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Bone line integral of a cortical shell + cancellous core given the inside distance ``d`` (mm).

    ``texture`` (zero-mean, about unit spread) modulates the cancellous density; ``canc_scale``
    scales it (sclerosis > 1, osteopenia < 1).
    """
    Lf = np.maximum(np.asarray(L, dtype=np.float32), np.float32(1e-3))
    u = np.minimum(d / Lf, np.float32(1.0))
    outer = u * (2.0 - u)
    np.sqrt(outer, out=outer)
    outer *= D
    tcf = np.float32(tc) if np.isscalar(tc) else tc
    ui = np.maximum(d - tcf, 0.0)
    ui /= np.maximum(Lf - tcf, np.float32(0.5))
    np.minimum(ui, 1.0, out=ui)
    inner = ui * (2.0 - ui)
    np.sqrt(inner, out=inner)
    inner *= np.maximum(D - 2.0 * tcf, 0.0)
    out = outer - inner
    out *= np.float32(MU_CORT)
    canc = inner * np.float32(MU_CANC)
    if not (np.isscalar(canc_scale) and canc_scale == 1.0):
        canc *= canc_scale
    if texture is not None:
        canc *= 1.0 + texture
    out += canc
    return out.astype(np.float32, copy=False)


def line_field(
    shape: tuple[int, int], polylines_px: list[np.ndarray], *, width_px: float, offset: tuple[int, int]
) -> np.ndarray:
    """A soft line (peak 1) along polylines: drawn thin then blurred to ``width_px`` (FWHM-ish)."""
    h, w = shape
    m = np.zeros((h, w), np.float32)
    shift = 4
    off = np.array(offset, dtype=np.float64)
    pts = [np.round((p - off) * (1 << shift)).astype(np.int32).reshape(-1, 1, 2) for p in polylines_px]
    cv2.polylines(m, pts, False, 1.0, thickness=1, lineType=cv2.LINE_AA, shift=shift)
    sigma = max(width_px / 2.355, 0.5)
    k = int(2 * round(3 * sigma) + 1)
    m = cv2.GaussianBlur(m, (k, k), sigma)
    peak = 1.0 / (sigma * np.sqrt(2 * np.pi)) if sigma > 0.7 else 0.6
    return m / np.float32(peak)
