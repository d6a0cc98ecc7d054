"""The published app's SIJ region, reproduced exactly (facts: /work/shared/docs/published-pipeline.md).

The authors work on the mask in MONAI ``LoadImage``'s transposed frame (axis 0 = image columns)
and at the INPUT size (after the mask was resized back). Facts this module follows, each pinned
by a test in tests/anatomy/test_localize_authors.py:

* sacrum "width" ``w`` = last - first index of the columns of the TRANSPOSED mask that hold
  sacrum (i.e. the sacrum's vertical extent in the display frame, without the +1);
* ``r = int(np.round(0.05 * w))`` (numpy rounds half to even; ``r = 0`` is allowed);
* OpenCV dilation of the sacrum with a SQUARE ``(2r+1) x (2r+1)`` kernel of ones;
* per hip-bone class (2, then 3): dilated sacrum AND that class; when empty, the fallback
  strip: for every column of the transposed class mask, its run height (last - first + 1) and
  start; ``median = round(np.median(heights))``; for each column whose height equals it, rows
  ``start:start+median`` and columns ``col-5:col+5`` (clipped) are set;
* largest connected component of each region with ``scipy.ndimage.label``'s DEFAULT structure
  (4-connectivity in 2-D), ties to the lowest label in the transposed frame's raster order,
  unchanged when it has at most one component;
* the box = bounding box of both regions together (inclusive ends in their code).

Where their code would crash (no sacrum; a hip-bone class absent so the fallback returns None)
this returns no box for that side; the caller's QC then withholds the decision.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SACRUM = 1
HIP_CLASSES = (2, 3)
FALLBACK_HALF_WIDTH = 5


@dataclass
class AuthorsRegion:
    """SIJ regions in DISPLAY coordinates: ``box`` [x0, y0, x1, y1] (exclusive ends) or None."""

    box: list[int] | None
    boxes: dict[int, list[int] | None]
    """Per hip-bone class (2, 3): the bounding box of that side's region."""
    fallback: dict[int, bool]
    """Per hip-bone class: True when the median-height strip replaced an empty intersection."""
    radius: int | None


def _bbox_t(mask_t: np.ndarray) -> list[int] | None:
    """Bounding box of a transposed-frame mask, returned in display coordinates (exclusive ends)."""
    rows = np.nonzero(np.any(mask_t, axis=1))[0]  # transposed rows = display columns
    cols = np.nonzero(np.any(mask_t, axis=0))[0]  # transposed columns = display rows
    if rows.size == 0:
        return None
    return [int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1]


def median_height_strip(mask_t: np.ndarray) -> np.ndarray | None:
    """The authors' fallback region on a transposed-frame class mask (None when the class is absent)."""
    n_rows, n_cols = mask_t.shape
    present = np.any(mask_t, axis=0)
    cols = np.nonzero(present)[0]
    if cols.size == 0:
        return None
    first = np.argmax(mask_t[:, cols], axis=0)
    last = n_rows - 1 - np.argmax(mask_t[::-1, cols], axis=0)
    heights = last - first + 1
    median = round(float(np.median(heights)))  # Python round on a float: half to even, like theirs
    out = np.zeros(mask_t.shape, dtype=np.int64)
    for col, start in zip(cols[heights == median], first[heights == median]):
        out[start:start + median, max(0, col - FALLBACK_HALF_WIDTH):min(n_cols, col + FALLBACK_HALF_WIDTH)] = 1
    return out


def largest_component_4(mask: np.ndarray) -> np.ndarray:
    """Largest component under scipy's default (4-connected) structure; the mask itself if <= 1 component."""
    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask
    best = int(np.argmax(np.bincount(lab.ravel())[1:])) + 1
    return (lab == best).astype(mask.dtype)


def authors_sij_region(labels: np.ndarray, *, dilation_frac: float = 0.05) -> AuthorsRegion:
    """The published SIJ regions of a DISPLAY-frame label map at the input size (see the module docstring)."""
    import cv2

    lab_t = np.ascontiguousarray(np.asarray(labels).T)  # the authors' frame
    sacrum = lab_t == SACRUM
    cols = np.nonzero(np.any(sacrum, axis=0))[0]
    empty = {c: None for c in HIP_CLASSES}
    if cols.size == 0:
        return AuthorsRegion(box=None, boxes=dict(empty), fallback={c: False for c in HIP_CLASSES}, radius=None)
    r = int(np.round(dilation_frac * (int(cols[-1]) - int(cols[0]))))
    dilated = cv2.dilate(sacrum.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8), iterations=1)
    regions: dict[int, np.ndarray | None] = {}
    fallback: dict[int, bool] = {}
    for cls in HIP_CLASSES:
        region: np.ndarray | None = dilated & (lab_t == cls)
        fallback[cls] = not np.any(region)
        if fallback[cls]:
            region = median_height_strip(lab_t == cls)
        regions[cls] = None if region is None else largest_component_4(region)
    boxes = {c: (None if m is None else _bbox_t(m != 0)) for c, m in regions.items()}
    box = None
    if all(b is not None for b in boxes.values()):  # bounding box of the two regions together
        corners = np.array(list(boxes.values()))
        box = [int(v) for v in (*corners[:, :2].min(axis=0), *corners[:, 2:].max(axis=0))]
    return AuthorsRegion(box=box, boxes=boxes, fallback=fallback, radius=r)
