"""One radiographic definition of each modified New York grade, shared by both phantom routes.

The procedural phantom (:mod:`sijscan.phantom.body_model.sij`, 2-D) and the CT route
(:mod:`sijscan.phantom.ct.joint`, 3-D) draw a joint's lesions from the SAME per-grade distributions,
stated in radiological terms (van der Linden et al., Arthritis Rheum 1984;27:361-8: the modified New
York grades as a reader applies them to an AP pelvis radiograph):

=====  ==============================  ===================================================================
grade  reader's definition             what is drawn here (per joint, iliac side unless said)
=====  ==============================  ===================================================================
0      normal                          no lesion; the joint's own irregularity, overlapping anterior and
                                       posterior joint lines and the mimics below still occur
1      suspicious changes              blurred margins (10-30% of the subchondral plate's density lost),
                                       at most 2 tiny subchondral erosions (0.6-1.0 mm radius), at most
                                       +80 HU of sclerosis within 2 mm
2      minimal abnormality             small localised erosions (2-6, 1.0-1.8 mm radius) and thin, patchy
                                       sclerosis (2-5 mm, +120-250 HU), plate 25-50% lost; joint width
                                       unchanged
3      unequivocal abnormality         many erosions (8-20, 1.4-2.6 mm, "postage stamp" where they meet the
                                       joint line), sclerosis 5-12 mm wide (+250-450 HU, a third to a half
                                       as much on the sacral side), and a joint-space change: pseudo-widening
                                       (1-3 mm), narrowing (1-2 mm) or partial ankylosis (bony bridges over
                                       up to 40% of the joint); plate 40-70% lost
4      total ankylosis                 the joint bridged over 85-100% of its length (the gap and the
                                       erosions filled with bone); the sclerosis of grade 3 remains
=====  ==============================  ===================================================================

A joint's lesion parameters are a function of its continuous latent severity (0 ... 4.5; a reader
grades ``g`` for latent ``g - 0.5 ... g + 0.5``) and of per-joint quantiles ``u`` (one uniform draw
per parameter, fixed for the joint): at latent ``g`` exactly, each parameter is
``lo_g + u (hi_g - lo_g)`` (so it is distributed uniformly over grade ``g``'s range across joints);
between integer latents it is interpolated linearly (from 4 to 4.5 the bridged share rises to 1: a
fully fused joint). Every range is non-decreasing in the grade, so a
joint's lesions only grow with its latent (a follow-up visit shows the baseline's lesions grown), and a
joint near the upper edge of its grade already shows part of the next grade's change: the sub-threshold
signal that carries progression risk (docs/phantom.md, "Progression").

The CT route draws a latent ``g + U(-0.5, 0.5)`` (clipped to 0-4.5) for a radiograph of grade
``g``, exactly the band a procedural joint of reader grade ``g`` comes from.

Mimics (radiologically NOT sacroiliitis; both routes, same rates and forms; the label ignores them):

* osteitis condensans ilii (young women, often after childbirth): a triangular band of dense iliac
  bone along the lower, anterior joint (up to 10-25 mm wide, +300-650 HU x strength), with a
  NORMAL joint space and no erosions;
* degenerative change (age): an anterior-inferior osteophyte bridging the joint margin outside the
  joint, mild subchondral sclerosis (+60-140 HU within 3 mm), slight narrowing (<= 1 mm) and, in half
  of such joints, a vacuum phenomenon (gas in a segment of the joint space).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import erfinv

MAX_SEVERITY = 4.5
SPACE_TYPES = ("widening", "narrowing", "bridges")
SPACE_P = (0.45, 0.2, 0.35)
"""Which joint-space change a joint shows from grade 3 on (pseudo-widening is the commonest)."""

GRADE_TABLE: dict[str, tuple[tuple[float, float], ...]] = {
    # per grade 0, 1, 2, 3, 4: (low, high) of the parameter across joints of that grade
    "erosion_count": ((0, 0), (0, 2.99), (2, 6.99), (8, 20.99), (8, 20.99)),
    "erosion_radius_mm": ((0.6, 1.0), (0.6, 1.0), (1.0, 1.8), (1.4, 2.6), (1.4, 2.6)),
    "sclerosis_width_mm": ((0, 0), (0, 2), (2, 5), (5, 12), (5, 12)),
    "sclerosis_hu": ((0, 0), (0, 80), (120, 250), (250, 450), (250, 450)),
    "sacral_sclerosis_share": ((0, 0), (0, 0.2), (0.2, 0.35), (0.33, 0.5), (0.33, 0.5)),
    "space_change_mm": ((0, 0), (0, 0), (0, 0), (1.0, 3.0), (1.0, 3.0)),
    "ankylosis_fraction": ((0, 0), (0, 0), (0, 0), (0, 0.4), (0.85, 1.0)),
    "plate_loss": ((0, 0), (0.1, 0.3), (0.25, 0.5), (0.4, 0.7), (0.4, 0.7)),
}
"""Ranges per grade, all non-decreasing in the grade (see the module's table)."""
PARAMS = tuple(GRADE_TABLE)


@dataclass(frozen=True)
class JointDraws:
    """One joint's fixed draws: a quantile per parameter and its joint-space type."""

    u: dict[str, float]
    space: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LesionParams:
    """The lesions of one joint at one latent severity (physical units; see the module's table)."""

    severity: float
    erosion_count: int
    erosion_radius_mm: float
    sclerosis_width_mm: float
    sclerosis_hu: float
    sacral_sclerosis_share: float
    space: str
    """"widening", "narrowing" or "bridges": which joint-space change the joint shows from grade 3."""
    space_change_mm: float
    """Pseudo-widening (+) or narrowing (-) of the joint space in mm; 0 below grade 3 or for 'bridges'."""
    ankylosis_fraction: float
    """Share of the joint's length bridged by bone (partial from grade 3 for 'bridges', total at 4)."""
    plate_loss: float
    """Share of the subchondral bone plate's density lost (the margins blur: grade 1's "suspicious")."""

    def to_json(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def draw_joint(rng: np.random.Generator) -> JointDraws:
    """The per-joint quantiles and joint-space type (independent of severity)."""
    u = {name: float(rng.uniform()) for name in PARAMS}
    space = str(SPACE_TYPES[int(rng.choice(len(SPACE_TYPES), p=SPACE_P))])
    return JointDraws(u=u, space=space)


def _value(name: str, severity: float, u: float) -> float:
    """Interpolated between the grades' draws at latents 0-4; from 4 to 4.5 only the fusion completes."""
    table = GRADE_TABLE[name]
    anchors = [lo + u * (hi - lo) for lo, hi in table]
    anchors.append(table[-1][1] if name == "ankylosis_fraction" else anchors[-1])
    s = float(np.clip(severity, 0.0, MAX_SEVERITY))
    return float(np.interp(s, [0.0, 1.0, 2.0, 3.0, 4.0, MAX_SEVERITY], anchors))


def lesion_params(severity: float, draws: JointDraws) -> LesionParams:
    """The joint's lesions at latent ``severity`` (0-4.5), monotone in it for fixed ``draws``."""
    v = {name: _value(name, severity, draws.u[name]) for name in PARAMS}
    space_mm = v["space_change_mm"]
    ankylosis = v["ankylosis_fraction"]
    if draws.space != "bridges":
        # partial ankylosis is the 'bridges' joints' change; the others fuse only on the way to grade 4
        t = float(np.clip(severity - 3.0, 0.0, 1.0))
        ankylosis *= t * t * (3.0 - 2.0 * t)
    # a fused joint has no space left to widen or narrow
    change = {"widening": space_mm, "narrowing": -0.6 * space_mm, "bridges": 0.0}[draws.space] * (1.0 - ankylosis)
    return LesionParams(severity=float(severity), erosion_count=int(v["erosion_count"]),
                        erosion_radius_mm=v["erosion_radius_mm"], sclerosis_width_mm=v["sclerosis_width_mm"],
                        sclerosis_hu=v["sclerosis_hu"], sacral_sclerosis_share=v["sacral_sclerosis_share"],
                        space=draws.space, space_change_mm=float(change), ankylosis_fraction=float(ankylosis),
                        plate_loss=v["plate_loss"])


def latent_for_grade(grade: int, rng: np.random.Generator) -> float:
    """A latent severity from grade ``grade``'s band (what a reader would grade ``grade``)."""
    g = int(grade)
    if not 0 <= g <= 4:
        raise ValueError(f"grade must be 0-4, got {grade}")
    return float(np.clip(g + rng.uniform(-0.5, 0.5), 0.0, MAX_SEVERITY))


# --- mimics -----------------------------------------------------------------------------------------

OCI_RATE = {"F": 0.06, "M": 0.01}
"""Osteitis condensans ilii per sex (the procedural cohorts' ``oci_rate_female``/``_male`` defaults)."""
DEGENERATIVE_RATE_60 = 0.20
"""Degenerative SIJ change at age 60 (none below 40, linear in age; the cohorts' default)."""
MIMIC_RATE_IN_POSITIVES = 0.5


@dataclass(frozen=True)
class Mimics:
    """Strengths 0 (absent) ... 1 of the two mimics, and whether a degenerative joint holds gas."""

    osteitis_condensans: float = 0.0
    degenerative: float = 0.0
    vacuum: bool = False

    def to_json(self) -> dict:
        return asdict(self)


def sample_mimics(*, label: int, sex: str, age: float, rng: np.random.Generator,
                  oci_rate: dict[str, float] | None = None, degenerative_rate_60: float = DEGENERATIVE_RATE_60,
                  rate_in_positives: float = MIMIC_RATE_IN_POSITIVES) -> Mimics:
    """Mimics of one patient (both joints), with the procedural cohorts' rates and forms."""
    factor = rate_in_positives if label else 1.0
    rates = oci_rate or OCI_RATE
    oci_p = rates["F" if sex == "F" else "M"] * factor
    deg_p = degenerative_rate_60 * float(np.clip((age - 40.0) / 20.0, 0.0, 2.0)) * factor
    u = rng.random(5)  # always five draws, so what follows in ``rng`` does not depend on the rates
    oci = float(0.4 + 0.6 * u[1]) if u[0] < oci_p else 0.0
    deg = float(np.clip((age - 30.0) / 40.0 + 0.1 * np.sqrt(2.0) * erfinv(2.0 * u[3] - 1.0), 0.2, 1.0)) if u[2] < deg_p else 0.0
    return Mimics(osteitis_condensans=oci, degenerative=deg, vacuum=bool(deg > 0 and u[4] < 0.5))


DEGENERATIVE_NARROWING_MM = 0.7
"""Joint-space narrowing of degenerative change of strength 1 (mm)."""
DEGENERATIVE_SCLEROSIS_MM = 3.0
"""Width of degenerative change's mild subchondral sclerosis, both joint faces (mm)."""


def degenerative_hu(strength: float) -> float:
    """Density increase (HU) of degenerative change's subchondral sclerosis at ``strength`` (0-1)."""
    return 60.0 + 80.0 * float(strength) if strength > 0 else 0.0


def oci_hu(strength: float) -> float:
    """Peak density increase (HU) of osteitis condensans ilii of ``strength`` (0-1)."""
    return 650.0 * float(strength)


def oci_width_mm(strength: float) -> float:
    """Greatest width (mm) of the triangular iliac band of osteitis condensans of ``strength``."""
    return 10.0 + 15.0 * float(strength)
