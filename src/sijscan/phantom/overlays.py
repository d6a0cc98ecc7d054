"""Things in the beam that are not the patient: lead side markers, gonad shields, collimation.

Each helper returns attenuation (line integrals, same units as ``Projection.bone``) or a mask;
``acquisition`` adds them before Beer-Lambert so they get the same blur, scatter and noise as the
anatomy. Burned-in text is different: it is drawn on the processed image (the vendor writes it).
"""
from __future__ import annotations

import cv2
import numpy as np

LEAD_MU = 6.0
"""Line integral of a 1-2 mm lead marker or shield at diagnostic energies (transmission ~ 0.25%)."""


def _clip_box(shape: tuple[int, int], box: list[int]) -> tuple[int, int, int, int]:
    h, w = shape
    x0, y0, x1, y1 = box
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def collimation_box(
    *, height: int, width: int, rng: np.random.Generator, prob: float, margin: tuple[float, float]
) -> tuple[int, int, int, int]:
    """Return the exposed field [x0, y0, x1, y1]; each side is coned in with probability ``prob``."""
    lo, hi = margin
    sides = []
    for extent in (width, height, width, height):
        cut = rng.uniform(lo, hi) if rng.random() < prob else 0.0
        sides.append(int(round(cut * extent)))
    x0, y0 = sides[0], sides[1]
    x1, y1 = width - sides[2], height - sides[3]
    return x0, y0, x1, y1


def draw_side_marker(
    lead: np.ndarray, *, letter: str, image_side: str, corner: str, field: tuple[int, int, int, int],
    pixel_spacing_mm: float, rng: np.random.Generator, soft: np.ndarray | None = None,
) -> list[int]:
    """Draw a lead letter (with its plastic holder) into ``lead`` in place; return its box.

    Like a radiographer, prefer a spot off the body: of a few candidate positions along the field's
    edge, take the one over the least soft tissue (when ``soft`` is given).
    """
    x0, y0, x1, y1 = field
    px = 1.0 / pixel_spacing_mm
    size_px = max(8, int(18 * px))  # letters are ~ 18 mm tall
    font_scale = size_px / 22.0
    thickness = max(1, int(round(size_px / 7)))
    (tw, th), _ = cv2.getTextSize(letter, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
    best = None
    for _ in range(4):
        inset_x, inset_y = int(rng.uniform(10, 30) * px), int(rng.uniform(12, 35) * px)
        cx = x0 + inset_x if image_side == "image_left" else x1 - inset_x - tw
        cy = y0 + inset_y + th if corner == "top" else y1 - inset_y
        cost = float(soft[max(cy - th, 0):max(cy, 1), max(cx, 0):max(cx + tw, 1)].mean()) if soft is not None else 0.0
        if best is None or cost < best[0]:
            best = (cost, cx, cy)
    _, x, y = best
    pad = max(2, int(4 * px))
    hx0, hy0, hx1, hy1 = x - pad, y - th - pad, x + tw + pad, y + pad
    cx0, cy0, cx1, cy1 = _clip_box(lead.shape, [hx0, hy0, hx1, hy1])
    if cx1 <= cx0 or cy1 <= cy0:
        return [hx0, hy0, hx1, hy1]
    canvas = np.zeros((cy1 - cy0, cx1 - cx0), np.uint8)  # OpenCV draws text on 8-bit images only
    cv2.putText(canvas, letter, (x - cx0, y - cy0), cv2.FONT_HERSHEY_SIMPLEX, font_scale, 255, thickness,
                cv2.LINE_AA)
    # acrylic holder (faint) plus the lead letter
    lead[cy0:cy1, cx0:cx1] += 0.15 + canvas.astype(np.float32) * (LEAD_MU / 255.0)
    return [hx0, hy0, hx1, hy1]


def _symphysis_and_sacrum(labels: np.ndarray) -> tuple[float, float, float]:
    """Return (x_mid, y_symphysis_bottom, y_sacrum_bottom) in pixels from a label map."""
    h, w = labels.shape
    sac_rows, sac_cols = np.nonzero(labels[::4, ::4] == 1)
    hip_rows, hip_cols = np.nonzero(labels[::4, ::4] >= 2)
    x_mid = float(np.median(sac_cols) * 4) if sac_cols.size else w / 2.0
    y_sac = float(sac_rows.max() * 4) if sac_rows.size else h * 0.55
    band = np.abs(hip_cols * 4 - x_mid) < 0.06 * w
    y_sym = float(hip_rows[band].max() * 4) if band.any() else min(h - 1.0, y_sac + 0.25 * h)
    return x_mid, y_sym, y_sac


def draw_gonad_shield(
    lead: np.ndarray, *, labels: np.ndarray, sex: str, pixel_spacing_mm: float, rng: np.random.Generator
) -> list[int]:
    """Draw a lead gonad shield in place: below the symphysis (men) or over the true pelvis (women)."""
    px = 1.0 / pixel_spacing_mm
    x_mid, y_sym, y_sac = _symphysis_and_sacrum(labels)
    x = int(x_mid + rng.normal(0, 8) * px)
    if sex == "M":
        y = int(y_sym + rng.uniform(30, 50) * px)
        half_w, half_h = int(38 * px), int(30 * px)
    else:  # female ovarian shield over the true pelvis: may overlap the lower sacrum
        y = int((y_sym + y_sac) / 2 + rng.uniform(-25, 10) * px)
        half_w, half_h = int(rng.uniform(50, 65) * px), int(rng.uniform(35, 45) * px)
    box = [x - half_w, y - half_h, x + half_w + 1, y + half_h + 1]
    cx0, cy0, cx1, cy1 = _clip_box(lead.shape, box)
    if cx1 <= cx0 or cy1 <= cy0:
        return box
    shield = np.zeros((cy1 - cy0, cx1 - cx0), np.uint8)
    if sex == "M":
        pts = np.array([[x - half_w, y - half_h], [x + half_w, y - half_h], [x, y + half_h]], np.int32)
        cv2.fillConvexPoly(shield, pts - np.array([cx0, cy0], np.int32), 255, cv2.LINE_AA)
    else:
        cv2.ellipse(shield, (x - cx0, y - cy0), (half_w, half_h), 0, 0, 360, 255, -1, cv2.LINE_AA)
    lead[cy0:cy1, cx0:cx1] += shield.astype(np.float32) * (LEAD_MU / 255.0)
    return box


def draw_burned_text(image: np.ndarray, *, lines: list[str], corner: str, pixel_spacing_mm: float) -> None:
    """Write annotation text into a display image in [0, 1] (in place): white, or black on a bright border."""
    h, w = image.shape
    px = 1.0 / pixel_spacing_mm
    font_scale = max(0.25, 5.0 * px / 22.0)
    thickness = max(1, int(round(font_scale * 1.6)))
    line_h = int(cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)[0][1] * 1.7)
    margin = int(8 * px)
    for i, text in enumerate(lines):
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        x = margin if corner.endswith("left") else w - margin - tw
        if corner.startswith("top"):
            y = margin + line_h * (i + 1)
        else:
            y = h - margin - line_h * (len(lines) - 1 - i)
        cx0, cy0, cx1, cy1 = _clip_box((h, w), [x - 2, y - th - 2, x + tw + 2, y + base + thickness + 2])
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        canvas = np.zeros((cy1 - cy0, cx1 - cx0), np.uint8)
        cv2.putText(canvas, text, (x - cx0, y - cy0), cv2.FONT_HERSHEY_SIMPLEX, font_scale, 255, thickness,
                    cv2.LINE_AA)
        roi = image[cy0:cy1, cx0:cx1]
        ink = canvas.astype(np.float32) * (1.0 / 255.0)
        if float(roi.mean()) > 0.6:  # on a bright (unexposed) border the vendor writes black
            np.minimum(roi, 1.0 - ink, out=roi)
        else:
            np.maximum(roi, ink, out=roi)
