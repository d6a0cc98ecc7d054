"""Input QC: is this an AP pelvis radiograph sijscan can judge? If not, say why and withhold.

Two layers, both cheap (run on a copy at most ``QC_SIZE`` pixels on its longest side):

Intensity sanity (pixels only)
    ``blank``        near-constant image (robust range or standard deviation tiny).
    ``noise_like``   no spatial correlation: neighbouring pixels are nearly independent (lag-1
                     autocorrelation along rows and columns below ``min_autocorr``), which no
                     radiograph shows at this scale.
    ``inverted``     the segmented bone is darker than the soft tissue around it (a radiograph
                     shown bone-bright has bone brighter than its surroundings); an unexposed
                     collimated border (:func:`sijscan.anatomy.border.exposed_field`) is not
                     "around it": bone cut by the collimator borders flat white, not soft tissue.

Segmentation plausibility (label map; see /work/shared/docs/radiographic-anatomy.md "What this
means for QC": one sacrum in the middle third of the width, two hip bones roughly mirror-symmetric
about it, both SIJs where sacrum and ilia meet). On top of :func:`sijscan.anatomy.localize.locate_sij`'s
flags (``no_sacrum``, ``no_hip_bones``, ``one_hip_bone``, ``implausible_geometry``, ...) this adds:
    ``rotated_90``        the hip bones lie above/below each other rather than side by side.
    ``upside_down``       the sacrum's centre lies below the hip bones' centres, or the segmenter is
                          surer of the image turned upside down (``orientation``, see
                          :mod:`sijscan.anatomy.orientation`: a 180-degree rotation or vertical flip
                          whose label map looks upright), or DICOM ``PatientOrientation`` says so.
    ``implausible_areas`` sacrum or hip-bone area outside the range an AP pelvis shows (another
                          body part, a wrong view or a failed segmentation).
    ``asymmetric_hips``   hip-bone areas differ more than ``max_hip_ratio``-fold or their centres
                          sit at clearly different heights.
    ``no_sij_box``        no sacroiliac-joint box (needed by the SIJ-crop classifier).

DICOM header (technical tags in ``Radiograph.metadata``; :func:`header_flags`)
    ``view_not_ap``          ``ViewPosition`` is present and not AP or PA (a lateral ``LL``/``RL``,
                             an oblique, a decubitus view): the reason names the tag and its value.
    ``body_part_not_pelvis`` ``BodyPartExamined`` is present and not a pelvic part (``PELVIS``,
                             ``HIP``, ``SACRUM``, ``SIJOINT``...): the reason names the tag and its value.
    ``mirrored``             ``PatientOrientation`` rows run toward the patient's right (``R\\F``): a
                             mirror image, whose per-side grades would name the wrong sides. (A mirror
                             image without that tag cannot be told from the near-symmetric anatomy.)
    (A ``Modality`` other than a radiograph's is refused when the file is read: ``sijscan.io.dicom``.)

Flags in :data:`WITHHOLD` fail QC (the decision is withheld); the others are warnings.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
from scipy import ndimage

from sijscan.anatomy.border import exposed_field

if TYPE_CHECKING:
    from sijscan.anatomy.localize import SIJLocation
    from sijscan.anatomy.orientation import OrientationCheck

log = logging.getLogger(__name__)

QC_SIZE = 256
SACRUM, HIP_A, HIP_B = 1, 2, 3

#: Flags that withhold the decision; every other flag is a warning.
WITHHOLD = frozenset({
    "blank", "noise_like", "inverted", "rotated_90", "upside_down", "implausible_areas", "asymmetric_hips",
    "no_sij_box", "no_sacrum", "no_hip_bones", "one_hip_bone", "implausible_geometry", "tiny_structure",
    "view_not_ap", "body_part_not_pelvis", "mirrored",
})

FRONTAL_VIEWS = frozenset({"AP", "PA"})
PELVIC_PARTS = frozenset({"PELVIS", "HIP", "HIPS", "SACRUM", "SIJOINT", "SI JOINT", "SACROILIAC", "SIJ",
                          "PELVIS HIPS", "COCCYX"})

REASONS = {
    "blank": "image is blank or nearly constant",
    "noise_like": "image looks like noise (no spatial correlation), not a radiograph",
    "inverted": "bone appears darker than soft tissue (inverted grey scale?)",
    "rotated_90": "hip bones lie above/below each other (image rotated by 90 degrees?)",
    "upside_down": "sacrum lies below the hip bones (image upside down?)",
    "implausible_areas": "segmented bone areas do not fit an AP pelvis (another body part or view?)",
    "asymmetric_hips": "hip bones are grossly asymmetric (rotated pelvis, other view or failed segmentation)",
    "no_sij_box": "sacroiliac joints could not be located",
    "no_sacrum": "no sacrum found (not an AP pelvis, or sacrum outside the image)",
    "no_hip_bones": "no hip bones found (not an AP pelvis?)",
    "one_hip_bone": "only one hip bone found (cropped or not an AP pelvis?)",
    "implausible_geometry": "pelvic anatomy in implausible positions",
    "tiny_structure": "sacrum too small to judge",
    "fragmented_mask": "segmentation is fragmented",
    "no_joint_contact": "a joint was not found directly; its box was estimated",
    "low_confidence": "low confidence in the joint localisation",
    "no_segmenter": "no segmenter given: anatomy not checked",
    "view_not_ap": "DICOM ViewPosition is not AP (a lateral or other view)",
    "body_part_not_pelvis": "DICOM BodyPartExamined is not the pelvis",
    "mirrored": "DICOM PatientOrientation says the image is mirrored (patient's right on the image's right)",
}


@dataclass(frozen=True)
class QCConfig:
    """Thresholds. Intensities are of display pixels in [0, 1]; areas are fractions of the label map."""

    min_range: float = 0.03
    min_std: float = 0.01
    min_autocorr: float = 0.35
    inverted_margin: float = 0.02
    sacrum_area: tuple[float, float] = (0.008, 0.20)
    hip_area: tuple[float, float] = (0.02, 0.40)
    max_hip_ratio: float = 1.8
    max_hip_dy: float = 0.2
    """Largest height difference of the two hip-bone centres, as a fraction of the image height."""
    check_orientation: bool = True
    """Run the segmenter once more on the image turned upside down (see ``upside_down_margin``)."""
    upside_down_margin: float = 0.02
    """``upside_down`` when the segmenter's foreground confidence on the image turned over exceeds that
    on the image as given by more than this (:mod:`sijscan.anatomy.orientation`; measured gaps >= 0.054)."""


@dataclass
class QCResult:
    """Outcome of the QC: ``passed`` False withholds the decision; ``reasons`` says why."""

    passed: bool
    flags: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    measures: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _small(img: np.ndarray, *, nearest: bool = False) -> np.ndarray:
    import cv2

    h, w = img.shape
    scale = QC_SIZE / max(h, w)
    if scale >= 1:
        return img
    size = (max(2, int(round(w * scale))), max(2, int(round(h * scale))))
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return cv2.resize(img, size, interpolation=interp)


def _autocorr(x: np.ndarray) -> float:
    """Smaller of the lag-1 correlations along rows and along columns."""
    def corr(a: np.ndarray, b: np.ndarray) -> float:
        a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
        den = float(np.sqrt((a * a).sum() * (b * b).sum()))
        return float((a * b).sum() / den) if den > 0 else 1.0

    return min(corr(x[:, :-1], x[:, 1:]), corr(x[:-1], x[1:]))


def intensity_flags(pixels: np.ndarray, *, config: QCConfig = QCConfig(),
                    small: np.ndarray | None = None) -> tuple[list[str], dict[str, float]]:
    """``blank`` / ``noise_like`` from the pixels alone (float image, any range).

    ``small``: the QC-size copy of ``pixels`` when the caller already has it.
    """
    x = small if small is not None else _small(np.asarray(pixels, dtype=np.float32))
    lo, hi = np.percentile(x, [0.5, 99.5])
    measures = {"robust_range": float(hi - lo), "std": float(x.std())}
    flags: list[str] = []
    if float(hi - lo) < config.min_range or float(x.std()) < config.min_std or x.max() == x.min():
        flags.append("blank")
        return flags, measures
    measures["autocorr"] = _autocorr(x)
    if measures["autocorr"] < config.min_autocorr:
        flags.append("noise_like")
    return flags, measures


def anatomy_flags(pixels: np.ndarray, labels: np.ndarray, *, config: QCConfig = QCConfig(),
                  small: np.ndarray | None = None) -> tuple[list[str], dict[str, float]]:
    """Plausibility of a label map (0 background, 1 sacrum, 2/3 hip bones) and bone brightness."""
    lab = _small(np.asarray(labels, dtype=np.uint8), nearest=True)
    img = None
    if pixels.shape == labels.shape:
        img = small if small is not None else _small(np.asarray(pixels, dtype=np.float32))
    if img is None or img.shape != lab.shape:
        import cv2

        img = cv2.resize(np.asarray(pixels, np.float32), (lab.shape[1], lab.shape[0]), interpolation=cv2.INTER_AREA)
    h, w = lab.shape
    flags: list[str] = []
    measures: dict[str, float] = {}
    sacrum = lab == SACRUM
    hips = [lab == c for c in (HIP_A, HIP_B) if (lab == c).any()]
    measures["sacrum_area"] = float(sacrum.mean())
    for i, hip in enumerate(hips):
        measures[f"hip{i + 1}_area"] = float(hip.mean())
    bone = lab > 0
    if bone.any():
        ring = ndimage.binary_dilation(bone, iterations=max(2, int(round(0.03 * max(h, w))))) & ~bone
        ring &= _exposed(pixels, lab.shape)
        if ring.any():
            measures["bone_minus_surround"] = float(img[bone].mean() - img[ring].mean())
            if measures["bone_minus_surround"] < -config.inverted_margin:
                flags.append("inverted")
    if sacrum.any() and not config.sacrum_area[0] <= measures["sacrum_area"] <= config.sacrum_area[1]:
        flags.append("implausible_areas")
    if any(not config.hip_area[0] <= float(hp.mean()) <= config.hip_area[1] for hp in hips):
        if "implausible_areas" not in flags:
            flags.append("implausible_areas")
    if len(hips) == 2:
        (ay, ax), (by, bx) = (ndimage.center_of_mass(hp) for hp in hips)
        if abs(ax - bx) < abs(ay - by):
            flags.append("rotated_90")
        else:
            a, b = float(hips[0].sum()), float(hips[1].sum())
            measures["hip_area_ratio"] = max(a, b) / min(a, b)
            if measures["hip_area_ratio"] > config.max_hip_ratio or abs(ay - by) > config.max_hip_dy * h:
                flags.append("asymmetric_hips")
            if sacrum.any():
                sy = ndimage.center_of_mass(sacrum)[0]
                if sy > (ay + by) / 2 + 0.05 * h:
                    flags.append("upside_down")
    return flags, measures


def _exposed(pixels: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Boolean ``shape`` map of the exposed field of ``pixels`` (all True without an unexposed border); cells the
    border's edge only partly covers count as border (inward rounding)."""
    out = np.ones(shape, bool)
    box = exposed_field(pixels, bright_only=True)  # a black border or air around bone is what "inverted" compares
    if box is not None:
        sy, sx = shape[0] / pixels.shape[0], shape[1] / pixels.shape[1]
        x0, y0, x1, y1 = box
        inner = np.zeros(shape, bool)
        inner[int(np.ceil(y0 * sy)):int(np.floor(y1 * sy)), int(np.ceil(x0 * sx)):int(np.floor(x1 * sx))] = True
        out = inner
    return out


def header_flags(metadata: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """``(flag, reason)`` for DICOM view and body-part tags that do not fit an AP pelvis (see the module docstring)."""
    meta = metadata if isinstance(metadata, dict) else dict(metadata or {})
    found: list[tuple[str, str]] = []
    view = str(meta.get("ViewPosition") or "").strip().upper()
    if view and view not in FRONTAL_VIEWS:
        kind = " (lateral)" if view in ("LL", "RL", "LAT", "LATERAL") else ""
        found.append(("view_not_ap", f"DICOM ViewPosition is {view!r}{kind}, not an AP view"))
    found += _patient_orientation_flags(meta.get("PatientOrientation"))
    part = " ".join(str(meta.get("BodyPartExamined") or "").replace("_", " ").split()).upper()
    if part and part not in PELVIC_PARTS:
        found.append(("body_part_not_pelvis", f"DICOM BodyPartExamined is {part!r}, not the pelvis"))
    return found


def _patient_orientation_flags(value: Any) -> list[tuple[str, str]]:
    """DICOM ``PatientOrientation`` (0020,0020): the patient directions of the image's rows (left to
    right) and columns (top to bottom). sijscan's display convention (patient's right on the image's
    left, head up) is rows toward the patient's Left and columns toward the Feet (``L\\F``); a row
    direction toward the patient's Right is a mirror image (the sides would be named wrong), a
    column direction toward the Head an upside-down one. Absent or oblique values say nothing."""
    parts = [str(v).strip().upper() for v in value] if isinstance(value, (list, tuple)) else \
        str(value or "").upper().split("\\")
    if len(parts) != 2:
        return []
    shown = "\\".join(parts)
    found = []
    if parts[0][:1] == "R":
        found.append(("mirrored", f"DICOM PatientOrientation is {shown!r}: the image's rows run toward the patient's "
                                  "right, a mirror image of the standard AP display (the sides would be named wrong)"))
    if parts[1][:1] == "H":
        found.append(("upside_down", f"DICOM PatientOrientation is {shown!r}: the image's columns run toward the "
                                     "patient's head (upside down)"))
    return found


def assess(pixels: np.ndarray, *, labels: np.ndarray | None = None, location: SIJLocation | None = None,
           needs_box: bool = True, config: QCConfig = QCConfig(),
           metadata: Mapping[str, Any] | None = None, orientation: OrientationCheck | None = None) -> QCResult:
    """Run the QC. ``labels``/``location`` come from the segmenter (None when there is none);
    ``metadata`` (``Radiograph.metadata``) adds the DICOM header flags; ``orientation`` (the segmenter's
    confidence on the image and on it turned over, :func:`sijscan.anatomy.orientation.check_orientation`)
    flags an image that is upside down however plausible its label map looks."""
    small = _small(np.asarray(pixels, dtype=np.float32))  # one QC-size copy for both checks
    flags, measures = intensity_flags(pixels, config=config, small=small)
    special: dict[str, str] = {}
    if orientation is not None:
        measures.update(segmenter_confidence=orientation.confidence,
                        segmenter_confidence_upside_down=orientation.confidence_flipped)
        if orientation.confidence_turned is not None:
            measures["segmenter_confidence_turned_90"] = orientation.confidence_turned
        if orientation.gap_turned > config.upside_down_margin:
            flags.append("rotated_90")
            special["rotated_90"] = (
                f"the segmenter is surer of this image turned by 90 degrees (foreground confidence "
                f"{orientation.confidence_turned:.3f} against {orientation.confidence:.3f}): lying on its side?")
        if orientation.gap > config.upside_down_margin:
            flags.append("upside_down")
            special["upside_down"] = (
                f"the segmenter is surer of this image turned upside down (foreground confidence "
                f"{orientation.confidence_flipped:.3f} against {orientation.confidence:.3f}): rotated by 180 "
                "degrees or flipped vertically? (the sides would be named wrong)")
    if labels is None:
        flags.append("no_segmenter")
    elif "blank" not in flags:
        more, m2 = anatomy_flags(pixels, labels, config=config, small=small)
        flags += [f for f in more if f not in flags]
        measures.update(m2)
    if location is not None:
        flags += [f for f in location.qc_flags if f not in flags]
        if needs_box and location.box is None and "no_sij_box" not in flags:
            flags.append("no_sij_box")
    header = dict(header_flags(metadata)) if metadata is not None else {}
    flags += [f for f in header if f not in flags]
    special.update(header)
    failing = [f for f in flags if f in WITHHOLD]
    return QCResult(
        passed=not failing, flags=flags,
        reasons=[special.get(f) or REASONS.get(f, f) for f in failing],
        warnings=[REASONS.get(f, f) for f in flags if f not in WITHHOLD],
        measures={k: round(v, 4) for k, v in measures.items()},
    )
