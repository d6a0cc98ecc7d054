"""Realism options of the CT route (issue 24): how the source CT was acquired and what else is in the beam.

``CTRealism`` is what ONE render gets (explicit values); ``RealismRanges`` is the cohort's definition
(ranges and probabilities each render's ``CTRealism`` is drawn from, by its own generator so the
render's other draws stay those of a plain render). ``REALISM_PRESETS``: ``"off"`` (none: the CT
route's output before issue 24, unchanged), ``"varied"`` (a broad spread for training) and
``"stress"`` (the hardest settings: obese body, gas over the SIJs, 3-5 mm slices, an implant,
the abdomen's field of view, a table).

Grounding of each element: docs/phantom.md, section "CT route: acquisition and body realism".
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from sijscan.errors import InputError

IMPLANTS = ("none", "hip", "screws")
METALS = ("cocr", "ti", "steel")
FOVS = ("profile", "sij", "pelvis", "abdomen")
STANDARD_SLICES_MM = (0.625, 1.0, 1.25, 2.0, 2.5, 3.0, 4.0, 5.0)
"""Reconstruction slice thicknesses CT consoles offer (the 0.6-5 mm of the issue)."""


class RealismError(InputError):
    """A realism option or preset out of range (slice thickness, implant, field of view, habitus)."""


@dataclass(frozen=True)
class CTRealism:
    """Options of one CT-route render; the defaults add nothing (a plain render).

    ``slice_mm``/``pixel_mm``: resample the CT to this slice thickness / in-plane pixel and back
    (None: the CT's own, 0.6-5 mm allowed); ``implant``: "none", "hip" (femoral stem, head and
    acetabular cup) or "screws" (iliosacral screws across the SIJ) on the patient's
    ``implant_side`` in ``metal``; ``fov``: "profile" (the profile's field), "sij" (tight, on the
    joints), "pelvis", "abdomen" (35 x 43 cm portrait, lower ribs to hips); ``table``: a curved
    carbon-fibre table top with rails under the patient; ``habitus``: overrides the profile's draw
    (0.6-2.0; > 1.4 obese: thicker fat, more scatter, more noise); ``gas_over_sij`` (0-1): bowel
    loops with gas over the joints; ``bladder_contrast_mg_ml``: iodine in the bladder (0: none);
    ``psoas``: psoas shadows in retroperitoneal fat; ``lumbar``: L1-L5 with transverse processes, T12
    and the 11th/12th ribs (instead of L5-L3); ``streaks``: the source CT held the implant, so its
    reconstruction streaks are in the HU volume and in the render (what a DRR of such a CT shows, never
    a radiograph; needs an implant); ``seed``: the generator of these elements' shapes.
    """

    slice_mm: float | None = None
    pixel_mm: float | None = None
    implant: str = "none"
    implant_side: str = "right"
    metal: str = "cocr"
    fov: str = "profile"
    table: bool = False
    habitus: float | None = None
    gas_over_sij: float = 0.0
    bladder_contrast_mg_ml: float = 0.0
    psoas: bool = False
    lumbar: bool = False
    streaks: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("slice_mm", "pixel_mm"):
            v = getattr(self, name)
            if v is not None and not 0.5 <= float(v) <= 5.0:
                raise RealismError(f"{name} must be within 0.5-5 mm or None, got {v}")
        _choice("implant", self.implant, IMPLANTS)
        _choice("implant_side", self.implant_side, ("left", "right"))
        _choice("metal", self.metal, METALS)
        _choice("fov", self.fov, FOVS)
        if self.habitus is not None and not 0.6 <= float(self.habitus) <= 2.0:
            raise RealismError(f"habitus must be within 0.6-2.0 or None, got {self.habitus}")
        if not 0.0 <= float(self.gas_over_sij) <= 1.0:
            raise RealismError(f"gas_over_sij must be within 0-1, got {self.gas_over_sij}")
        if self.streaks and self.implant == "none":
            raise RealismError("streaks need metal: set implant to 'hip' or 'screws'")
        if not 0.0 <= float(self.bladder_contrast_mg_ml) <= 100.0:
            raise RealismError(f"bladder_contrast_mg_ml must be within 0-100, got {self.bladder_contrast_mg_ml}")

    @property
    def thick(self) -> bool:
        return self.slice_mm is not None or self.pixel_mm is not None

    def to_json(self) -> dict:
        return asdict(self)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise RealismError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


@dataclass(frozen=True)
class RealismRanges:
    """A cohort's definition: what each render's :class:`CTRealism` is drawn from.

    ``slices_mm``/``pixels_mm``: candidate slice thicknesses / in-plane pixels (uniform choice; ()
    keeps the CT's own; few values, since each one the CT is resampled to costs seconds); ``p_hip``/``p_screws``: implant probabilities; ``fovs``:
    {fov: probability}; ``habitus``: (low, high) or None (the profile's draw); other fields as in
    :class:`CTRealism`, as (low, high) ranges or probabilities.
    """

    name: str
    slices_mm: tuple[float, ...] = ()
    pixels_mm: tuple[float, ...] = ()
    p_hip: float = 0.0
    p_screws: float = 0.0
    metals: tuple[str, ...] = ("cocr", "ti", "steel")
    fovs: dict[str, float] = field(default_factory=lambda: {"profile": 1.0})
    p_table: float = 0.0
    habitus: tuple[float, float] | None = None
    gas_over_sij: tuple[float, float] = (0.0, 0.0)
    p_contrast: float = 0.0
    contrast_mg_ml: tuple[float, float] = (5.0, 30.0)
    p_psoas: float = 0.0
    p_lumbar: float = 0.0
    p_streaks: float = 0.0
    """Of the renders with an implant, the share whose source CT carries the metal's streaks."""

    def sample(self, rng: np.random.Generator) -> CTRealism:
        """One render's options; every field is drawn whatever the ranges (stable draw order)."""
        u = rng.random(8)
        kinds = list(self.fovs)
        probs = np.asarray([self.fovs[k] for k in kinds], float)
        fov = kinds[int(rng.choice(len(kinds), p=probs / probs.sum()))]
        slice_mm = float(rng.choice(self.slices_mm)) if self.slices_mm else None
        pixel = float(rng.choice(self.pixels_mm)) if self.pixels_mm else None
        implant = "hip" if u[0] < self.p_hip else "screws" if u[0] < self.p_hip + self.p_screws else "none"
        metal = str(rng.choice(self.metals))
        if implant == "screws" and metal == "cocr":
            metal = "steel"  # screws are steel or titanium
        habitus = float(rng.uniform(*self.habitus)) if self.habitus else None
        gas = float(rng.uniform(*self.gas_over_sij))
        contrast = float(rng.uniform(*self.contrast_mg_ml)) if u[3] < self.p_contrast else 0.0
        return CTRealism(slice_mm=slice_mm, pixel_mm=pixel, implant=implant,
                         implant_side="left" if u[1] < 0.5 else "right", metal=metal, fov=fov,
                         table=bool(u[2] < self.p_table), habitus=habitus, gas_over_sij=gas,
                         bladder_contrast_mg_ml=contrast, psoas=bool(u[4] < self.p_psoas),
                         lumbar=bool(u[5] < self.p_lumbar), streaks=bool(implant != "none" and u[6] < self.p_streaks),
                         seed=int(rng.integers(0, 2**31 - 1)))


REALISM_PRESETS: dict[str, RealismRanges | None] = {
    "off": None,
    "varied": RealismRanges(
        name="varied", slices_mm=STANDARD_SLICES_MM, pixels_mm=(0.6, 0.8, 1.0), p_hip=0.1, p_screws=0.1,
        fovs={"profile": 0.4, "sij": 0.15, "pelvis": 0.25, "abdomen": 0.2}, p_table=0.7, habitus=(0.75, 1.8),
        gas_over_sij=(0.0, 0.8), p_contrast=0.15, p_psoas=0.8, p_lumbar=0.8, p_streaks=0.5),
    "stress": RealismRanges(
        name="stress", slices_mm=(3.0, 4.0, 5.0), pixels_mm=(1.0,), p_hip=0.7, p_screws=0.3,
        fovs={"abdomen": 1.0}, p_table=1.0, habitus=(1.5, 1.8), gas_over_sij=(0.7, 1.0), p_contrast=0.5,
        p_psoas=1.0, p_lumbar=1.0),
}


def get_realism(name: str | RealismRanges | None) -> RealismRanges | None:
    """A preset by name ("off", "varied", "stress"), a ranges object as is, or None."""
    if name is None or isinstance(name, RealismRanges):
        return name
    if name not in REALISM_PRESETS:
        raise RealismError(f"realism must be one of {', '.join(REALISM_PRESETS)}, got {name!r}")
    return REALISM_PRESETS[name]
