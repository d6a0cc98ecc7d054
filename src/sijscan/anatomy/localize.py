"""Sacroiliac-joint localisation on a label map: the paper's method plus QC and fallbacks.

Label convention (sijscan segmenters): 0 background, 1 sacrum, 2 and 3 the two hip bones. Which
hip-bone class lies on which image side is NOT trusted: sides are decided from the geometry
(centroid left or right of the sacrum), so maps from the published, transposed model work too.

Method (Dorfner et al.): dilate the sacrum by ``r = round(dilation_frac * w)`` pixels with a
square kernel (``w`` = sacrum bounding-box width), intersect with each hip bone, keep the largest
connected component of each intersection; the SIJ box is the bounding box of both joints.

What the paper lacks, added here; this function never raises on a 2-D integer map:

QC flags (``SIJLocation.qc_flags``)
    ``no_sacrum``            no sacrum pixels.
    ``no_hip_bones``         neither hip bone present.
    ``one_hip_bone``         only one hip bone present.
    ``no_joint_contact``     the dilated sacrum touches a hip bone on fewer than two sides.
    ``implausible_geometry`` sacrum outside the middle third of the width, hip bones not on both
                             sides of it, hip-bone areas differ by more than ``max_area_ratio``,
                             or a joint lies below the sacrum's upper ``joint_max_rel_y`` part
                             (typical of inverted or rotated images); ``notes`` says which.
    ``fragmented_mask``      a structure's largest component holds < ``min_component_frac`` of it.
    ``tiny_structure``       sacrum smaller than ``min_sacrum_frac`` of the image.
    ``low_confidence``       ``confidence`` < ``low_confidence_below``.

Fallbacks (``fallback_used`` True, each named in ``notes``)
    ``mirror``          contact on one side only: the found joint's box is mirrored about the
                        sacrum's vertical midline (the pelvis is near-symmetric on an AP view).
    ``sacrum_margin``   sacrum present, no contact on either side (e.g. hip bones under-segmented):
                        the joints lie at the sacrum's lateral borders, so each side's box is a
                        strip of width ``2r+1`` centred on the sacrum's outermost column, over the
                        sacrum's upper two thirds (the synovial joint part).
    ``hip_gap``         no sacrum, both hip bones on either side of a gap: the sacrum sits between
                        the ilia, so each side's box is the medial strip (width = 10% of the gap
                        span) of that hip bone over its upper half.
No box (``box`` None) is given when none of these can be justified.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from sijscan.errors import InputError

log = logging.getLogger(__name__)

SIDES = ("image_left", "image_right")
SACRUM, HIP_A, HIP_B = 1, 2, 3
Box = list[int]  # [x0, y0, x1, y1], x1/y1 exclusive, in label-map pixels


@dataclass
class SIJLocation:
    """Where the sacroiliac joints are, in label-map pixels (``x1``/``y1`` exclusive)."""

    box: Box | None
    boxes: dict[str, Box | None]
    qc_flags: list[str]
    fallback_used: bool
    confidence: float
    label_shape: tuple[int, int]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when a box exists and no flag asks to withhold a classification."""
        return self.box is not None and not self.qc_flags

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["label_shape"] = list(self.label_shape)
        return d


def _largest_component(mask: np.ndarray) -> tuple[np.ndarray, float]:
    """Largest 8-connected component of ``mask`` and the fraction of ``mask`` it holds."""
    total = int(mask.sum())
    if total == 0:
        return mask.copy(), 1.0
    lab, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 1:
        return mask.copy(), 1.0
    sizes = np.bincount(lab.ravel())[1:]
    best = int(np.argmax(sizes)) + 1
    return lab == best, float(sizes[best - 1]) / total


def _bbox(mask: np.ndarray) -> Box | None:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def _union(a: Box | None, b: Box | None) -> Box | None:
    if a is None or b is None:
        return a or b
    return [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]


def _expand(box: Box, *, frac: float, shape: tuple[int, int]) -> Box:
    h, w = shape
    dx = int(round(frac * (box[2] - box[0])))
    dy = int(round(frac * (box[3] - box[1])))
    return [max(0, box[0] - dx), max(0, box[1] - dy), min(w, box[2] + dx), min(h, box[3] + dy)]


def _clip(box: Box, shape: tuple[int, int]) -> Box | None:
    h, w = shape
    out = [max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])]
    return out if out[2] > out[0] and out[3] > out[1] else None


def _mirror(box: Box, *, axis_x: float, shape: tuple[int, int]) -> Box | None:
    """Mirror ``box`` about the vertical line ``x = axis_x`` (pixel-edge coordinates)."""
    return _clip([int(round(2 * axis_x - box[2])), box[1], int(round(2 * axis_x - box[0])), box[3]], shape)


@dataclass
class _Findings:
    """What the localisation steps noticed: QC flags, notes and the running confidence."""

    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    confidence: float = 1.0
    fallback: bool = False

    def flag(self, name: str, note: str | None = None) -> None:
        if name not in self.flags:
            self.flags.append(name)
        if note:
            self.notes.append(note)


def _structures(arr: np.ndarray, *, min_component_frac: float, found: _Findings) -> dict[int, np.ndarray]:
    """Largest component of each class present (sacrum, hip bones); flags fragmented masks."""
    parts: dict[int, np.ndarray] = {}
    for cls in (SACRUM, HIP_A, HIP_B):
        raw = arr == cls
        if raw.any():
            comp, frac = _largest_component(raw)
            if frac < min_component_frac:
                found.flag("fragmented_mask", f"class {cls}: largest component holds {frac:.0%} of its pixels")
                found.confidence *= 0.8
            parts[cls] = comp
    return parts


def _assign_sides(sacrum: np.ndarray | None, hips: list[np.ndarray], *, width: int,
                  found: _Findings) -> dict[str, np.ndarray]:
    """Hip bones by image side, from their centroid x relative to the sacrum (or the image centre)."""
    centre_x = ndimage.center_of_mass(sacrum)[1] if sacrum is not None else (width - 1) / 2
    side_of: dict[str, np.ndarray] = {}
    for hip in hips:
        side = "image_left" if ndimage.center_of_mass(hip)[1] < centre_x else "image_right"
        if side in side_of:
            found.flag("implausible_geometry", "both hip bones lie on the same side of the sacrum")
            if hip.sum() > side_of[side].sum():
                side_of[side] = hip
        else:
            side_of[side] = hip
    return side_of


def _joints_at_sacrum(sacrum: np.ndarray, side_of: dict[str, np.ndarray], *, dilation_frac: float,
                      shape: tuple[int, int], found: _Findings) -> tuple[dict[str, Box | None], dict[str, np.ndarray], Box]:
    """The paper's method (dilated sacrum x hip bone), with the mirror and sacrum-margin fallbacks."""
    import cv2  # square-kernel dilation: OpenCV's separable version is ~50x faster than scipy's

    boxes: dict[str, Box | None] = {s: None for s in SIDES}
    sbox = _bbox(sacrum) or [0, 0, 1, 1]  # the sacrum is non-empty here
    sw, sh = sbox[2] - sbox[0], sbox[3] - sbox[1]
    r = max(1, int(round(dilation_frac * sw)))
    dilated = cv2.dilate(sacrum.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)).astype(bool)
    joints: dict[str, np.ndarray] = {}
    for side, hip in side_of.items():
        contact, _ = _largest_component(dilated & hip)
        if contact.any():
            joints[side] = contact
            boxes[side] = _bbox(contact)
    if len(joints) == 1:
        found.flag("no_joint_contact")
        have = next(iter(joints))
        other = "image_right" if have == "image_left" else "image_left"
        boxes[other] = _mirror(boxes[have], axis_x=(sbox[0] + sbox[2]) / 2, shape=shape)  # type: ignore[arg-type]
        found.notes.append(f"mirror: {other} box mirrored from {have} about the sacrum midline")
        found.fallback, found.confidence = True, found.confidence * 0.5
    elif not joints:
        found.flag("no_joint_contact")
        y0, y1 = sbox[1], sbox[1] + max(1, int(round(2 * sh / 3)))
        boxes["image_left"] = _clip([sbox[0] - r, y0, sbox[0] + r + 1, y1], shape)
        boxes["image_right"] = _clip([sbox[2] - 1 - r, y0, sbox[2] + r, y1], shape)
        found.notes.append("sacrum_margin: no contact with a hip bone; strips at the sacrum's lateral borders")
        found.fallback, found.confidence = True, found.confidence * 0.3
    return boxes, joints, sbox


def _check_geometry(sacrum: np.ndarray, sbox: Box, side_of: dict[str, np.ndarray], joints: dict[str, np.ndarray],
                    *, width: int, max_area_ratio: float, joint_max_rel_y: float, found: _Findings) -> None:
    """Plausibility of an AP pelvis: sacrum in the middle, hip bones alike and side by side, joints high."""
    scx = ndimage.center_of_mass(sacrum)[1]
    if not width / 3 <= scx <= 2 * width / 3:
        found.flag("implausible_geometry", f"sacrum centre at {scx / width:.0%} of the width (expected middle third)")
    if len(side_of) == 2:
        a, b = (float(side_of[s].sum()) for s in SIDES)
        if max(a, b) > max_area_ratio * min(a, b):
            found.flag("implausible_geometry", f"hip-bone areas differ {max(a, b) / min(a, b):.1f}-fold")
        ly, lx = ndimage.center_of_mass(side_of["image_left"])
        ry, rx = ndimage.center_of_mass(side_of["image_right"])
        if abs(rx - lx) < abs(ry - ly):
            found.flag("implausible_geometry", "hip bones lie above/below each other, not side by side")
    sh = sbox[3] - sbox[1]
    for side, joint in joints.items():
        if ndimage.center_of_mass(joint)[0] > sbox[1] + joint_max_rel_y * sh:
            found.flag("implausible_geometry", f"{side} joint lies in the sacrum's lower part (inverted image?)")


def _joints_at_hip_gap(side_of: dict[str, np.ndarray], *, shape: tuple[int, int],
                       found: _Findings) -> dict[str, Box | None]:
    """No sacrum: the medial strips of both hip bones over their upper half, when a gap separates them."""
    boxes: dict[str, Box | None] = {s: None for s in SIDES}
    if len(side_of) != 2:
        return boxes
    lb = _bbox(side_of["image_left"]) or [0, 0, 1, 1]  # both non-empty here
    rb = _bbox(side_of["image_right"]) or [0, 0, 1, 1]
    gap_l, gap_r = lb[2], rb[0]  # medial edges of the two hip bones
    if gap_r <= gap_l:
        found.flag("implausible_geometry", "no sacrum and no gap between the hip bones")
        return boxes
    strip = max(2, int(round(0.1 * (rb[2] - lb[0]))))
    boxes["image_left"] = _clip([gap_l - strip, lb[1], gap_l, lb[1] + max(1, (lb[3] - lb[1]) // 2)], shape)
    boxes["image_right"] = _clip([gap_r, rb[1], gap_r + strip, rb[1] + max(1, (rb[3] - rb[1]) // 2)], shape)
    found.notes.append("hip_gap: no sacrum; medial strips of both hip bones over their upper half")
    found.fallback, found.confidence = True, found.confidence * 0.25
    return boxes


def locate_sij(
    labels: np.ndarray,
    *,
    dilation_frac: float = 0.05,
    margin_frac: float = 0.15,
    min_component_frac: float = 0.9,
    min_sacrum_frac: float = 0.002,
    max_area_ratio: float = 2.0,
    joint_max_rel_y: float = 0.75,
    low_confidence_below: float = 0.5,
) -> SIJLocation:
    """Locate both sacroiliac joints on a 2-D label map; see the module docstring.

    ``margin_frac`` widens the final box by that fraction of its width/height on each side
    (clipped to the map). Raises ``InputError`` only when ``labels`` is not a 2-D array.
    """
    arr = np.asarray(labels)
    if arr.ndim != 2 or arr.size == 0:
        raise InputError(f"label map must be a non-empty 2-D array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise InputError(f"label map must be numeric, got dtype {arr.dtype}")
    arr = np.nan_to_num(arr.astype(np.float64), nan=0.0)
    shape = (int(arr.shape[0]), int(arr.shape[1]))
    h, w = shape
    found = _Findings()

    parts = _structures(arr, min_component_frac=min_component_frac, found=found)
    sacrum = parts.get(SACRUM)
    hips = [parts[c] for c in (HIP_A, HIP_B) if c in parts]
    if sacrum is None:
        found.flag("no_sacrum")
    elif sacrum.sum() < min_sacrum_frac * h * w:
        found.flag("tiny_structure", f"sacrum covers {sacrum.sum() / (h * w):.2%} of the image")
        found.confidence *= 0.7
    if not hips:
        found.flag("no_hip_bones")
    elif len(hips) == 1:
        found.flag("one_hip_bone")

    side_of = _assign_sides(sacrum, hips, width=w, found=found)
    if sacrum is not None:
        boxes, joints, sbox = _joints_at_sacrum(sacrum, side_of, dilation_frac=dilation_frac, shape=shape, found=found)
        _check_geometry(sacrum, sbox, side_of, joints, width=w, max_area_ratio=max_area_ratio,
                        joint_max_rel_y=joint_max_rel_y, found=found)
    else:
        boxes = _joints_at_hip_gap(side_of, shape=shape, found=found)

    confidence = found.confidence * (0.0 if not side_of else 0.5 if len(side_of) == 1 else 1.0)
    if "implausible_geometry" in found.flags:
        confidence *= 0.4
    if sacrum is None and not found.fallback:
        confidence = 0.0
    box = _union(boxes["image_left"], boxes["image_right"])
    if box is not None:
        box = _expand(box, frac=margin_frac, shape=shape)
    else:
        confidence = 0.0
    if confidence < low_confidence_below:
        found.flag("low_confidence")
    return SIJLocation(
        box=box, boxes=boxes, qc_flags=found.flags, fallback_used=found.fallback,
        confidence=round(float(confidence), 4), label_shape=shape, notes=found.notes,
    )
