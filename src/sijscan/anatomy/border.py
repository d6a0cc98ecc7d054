"""The collimated border of a radiograph: find the exposed field, and fill what lies outside it.

Where the collimator kept the beam off the detector, a radiograph shows a flat border: unexposed (flat
white with faint noise) or masked black by the vendor's software. A segmenter sees that flat band beside
the bone it cuts; sijscan's CT-route renders showed the demo's segmenter stopping a median 12 mm short of
a white border that cut the iliac bone (docs/performance.md, "Sim-to-real"). Filling the border with the
field's own edge pixels (``fill_border``, as OpenCV's BORDER_REPLICATE pads) before segmenting removes
that band; what the network paints there is then cut back to the field
(:func:`sijscan.anatomy.metrics.visible_labels`, the cut the training labels get). A black border
is filled too: flat air beside a thin patient is then taken for border as well, which costs nothing (its
fill is the body's outermost column, and no bone lies there); measured in session 19 (white only, then
both: docs/performance.md).

``exposed_field`` finds the border from the image alone (no DICOM shutter attribute is trusted, few files
carry one): from each image edge inwards, the rows (then columns) that are flat, i.e. at least
``FLAT_SHARE`` of their pixels within ``FLAT_TOL`` of the edge line's median, make the border. A row that
crosses anatomy is never flat; burned-in text in a corner of the border leaves the rest of its row flat.
Written here rather than taken from a library: neither MONAI nor scikit-image has a shutter detector.
"""
from __future__ import annotations

import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (x1, y1 exclusive)

FLAT_TOL = 0.03
"""A border pixel lies within this of its line's median (display units 0-1; the phantom's unexposed border
has noise sd 0.004, the CT route's ~0.008)."""
FLAT_SHARE = 0.9
"""Share of a line's pixels within ``FLAT_TOL`` for the line to be border (text or a marker may cover the rest)."""
MAX_BORDER_FRAC = 0.4
"""A border wider than this share of the image on one side is not believed (e.g. a blank image)."""


def _border_width(lines: np.ndarray, *, bright_only: bool, min_bright: float) -> int:
    """How many of ``lines`` (one line per row, outermost first) are flat at the first line's level."""
    level = float(np.median(lines[0]))
    if bright_only and level < min_bright:
        return 0
    flat = (np.abs(lines - np.float32(level)) <= FLAT_TOL).mean(axis=1) >= FLAT_SHARE
    width = int(np.argmin(flat)) if not flat.all() else len(flat)
    return width if width <= MAX_BORDER_FRAC * len(lines) else 0


def exposed_field(pixels: np.ndarray, *, bright_only: bool = False, min_bright: float = 0.8) -> Box | None:
    """The exposed field's box (x0, y0, x1, y1) of display ``pixels`` (H, W, 0-1, bone bright), or None when
    no side has a flat border. ``bright_only``: only an unexposed (white, >= ``min_bright``) border counts,
    not a black mask or flat air (the QC's surround of the bone, :mod:`sijscan.predict.qc`)."""
    p = np.asarray(pixels, dtype=np.float32)
    h, w = p.shape
    kw = {"bright_only": bright_only, "min_bright": min_bright}
    top = _border_width(p, **kw)
    bottom = _border_width(p[::-1], **kw)
    if top + bottom >= h:
        return None
    rows = p[top:h - bottom]
    left = _border_width(rows.T, **kw)
    right = _border_width(rows.T[::-1], **kw)
    if left + right >= w or not (top or bottom or left or right):
        return None
    return left, top, w - right, h - bottom


def fill_border(pixels: np.ndarray, box: Box | None) -> np.ndarray:
    """``pixels`` with everything outside ``box`` replaced by the field's nearest edge pixel (a copy;
    ``box`` None: ``pixels`` itself)."""
    if box is None:
        return pixels
    import cv2  # lazy: OpenCV is heavy to import

    x0, y0, x1, y1 = box
    h, w = pixels.shape
    inner = np.ascontiguousarray(pixels[y0:y1, x0:x1])
    return cv2.copyMakeBorder(inner, y0, h - y1, x0, w - x1, cv2.BORDER_REPLICATE)

