"""The contract between the phantom's two halves.

* ``sijscan.phantom.body_model`` (and its helpers) turns a :class:`CaseSpec` into a noise-free
  :class:`Projection`: attenuation line integrals of bone and soft tissue, an exact label map and
  the true SIJ boxes. Deterministic for a spec (all randomness comes from ``CaseSpec.anatomy_seed``).
* ``sijscan.phantom.acquisition`` turns a ``Projection`` into a detector image with one hospital's
  acquisition profile (Beer-Lambert, scatter, blur, noise, LUT, markers, bit depth...).
* ``sijscan.phantom.cohorts`` samples ``CaseSpec`` s for a named cohort (grades, prevalence,
  shortcuts, progression) and ``sijscan.phantom.simulate`` writes files.

Sides: ``*_left`` / ``*_right`` fields always mean the PATIENT's side. In standard display
orientation the patient's right is on the image's left. Label maps use image sides:
0 background, 1 sacrum, 2 hip bone on the image's left (patient's right),
3 hip bone on the image's right (patient's left).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

LABELS: dict[int, str] = {0: "background", 1: "sacrum", 2: "hip_image_left", 3: "hip_image_right"}


@dataclass(frozen=True)
class CaseSpec:
    """Everything that makes one patient's pelvis (at one visit). Plain data; JSON-serialisable."""

    anatomy_seed: int
    """Seeds shape noise, trabecular texture, bowel gas and lesion layout. A follow-up visit of the
    same patient uses the same seed, so the same anatomy and the same lesion sites reappear."""
    sex: Literal["M", "F"] = "M"
    body_scale: float = 1.0
    """Overall pelvis size factor (1.0 = textbook adult of that sex; typical spread 0.92-1.08)."""
    habitus: float = 1.0
    """Soft-tissue thickness factor (0.7 thin ... 1.6 obese)."""
    age: float = 35.0
    # --- positioning (patient geometry relative to the beam) ---
    pelvic_tilt_deg: float = 0.0
    """Sagittal tilt; changes the apparent height of the inlet and sacrum (foreshortening)."""
    axial_rotation_deg: float = 0.0
    """Rotation about the body's long axis; makes obturator foramina and iliac wings asymmetric."""
    inplane_rotation_deg: float = 0.0
    """Rotation within the image plane (patient not straight on the table)."""
    center_offset: tuple[float, float] = (0.0, 0.0)
    """(dx, dy) offset of the pelvis centre from the image centre, as a fraction of width/height."""
    # --- sacroiliac joints: continuous latent severity per side, about 0 (normal) ... 4.5 (ankylosed) ---
    severity_left: float = 0.0
    severity_right: float = 0.0
    # --- mimics (negatives for the criterion), strength 0..1 ---
    osteitis_condensans: float = 0.0
    """Triangular iliac-side sclerosis, joint space and margins preserved (both sides, may be unequal)."""
    degenerative: float = 0.0
    """Anterior/inferior osteophytes and mild narrowing without erosions (older patients)."""
    vacuum: bool = False
    """Gas in a segment of degenerative joints (the vacuum phenomenon); only with ``degenerative`` > 0."""
    # --- findings outside the SIJ (the shortcuts a full-image model can learn), strength 0..1 ---
    hip_narrowing: float = 0.0
    """Concentric hip joint-space narrowing (coxitis), both hips."""
    syndesmophytes: float = 0.0
    """Bridging syndesmophytes at L4-L5 (and L5-S1) vertebral corners."""
    enthesitis: float = 0.0
    """Erosions/whiskering at iliac crests, ischial tuberosities, greater trochanters; symphysitis."""
    bowel_gas: float = 0.5
    """Amount of rectal/sigmoid/colonic gas projected over the sacrum and SIJs (0 none ... 1 much)."""
    extras: dict = field(default_factory=dict)
    """Free-form extra knobs; recorded, never required. ``"ct_members"``: CT case ids (e.g.
    ``["001", "002"]``) whose bones the hip/sacrum shapes are mixed from (default: all packaged)."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Geometry:
    """The detector grid the projection is rendered onto."""

    height: int
    width: int
    pixel_spacing_mm: float
    """Square pixels, at the detector plane (magnification already included)."""


@dataclass
class Projection:
    """Noise-free output of the anatomy renderer.

    ``bone`` and ``soft`` are dimensionless line integrals (sum of mu * t at a reference effective
    energy of ~60 keV: a 1 cm path of cortical bone ~ 0.9, of cancellous bone ~ 0.35, of soft
    tissue ~ 0.2; air/gas 0). The acquisition model weights them by kV-dependent factors.
    ``labels`` uses :data:`LABELS`; ``sij_boxes`` maps ``"image_left"`` / ``"image_right"`` to the
    true box [x0, y0, x1, y1] (pixels, inclusive-exclusive) of that joint: both projected joint
    lines, the whole joint length.
    """

    bone: np.ndarray  # float32 (H, W)
    soft: np.ndarray  # float32 (H, W)
    labels: np.ndarray  # uint8 (H, W)
    sij_boxes: dict[str, list[int]]
    geometry: Geometry
    info: dict = field(default_factory=dict)
    """Anything worth recording (landmarks in pixels, derived lesion parameters)."""
