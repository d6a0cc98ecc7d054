"""Acquisition profiles: how one hospital (or one site of a hospital) takes an AP pelvis radiograph.

A profile holds the exposure (kVp, mAs-driven dose), the detector (pixel pitch, blur, noise, bit
depth, MONOCHROME1/2), the vendor's image processing (display curve, edge enhancement) and the
department's habits (collimation, side markers, burned-in text, gonad shields, positioning spread,
patient mix). Every field is plain data and is written to ``cohort.json``.

The values are plausible, not measured: they make the cohorts differ the way real hospitals differ
(see ``docs/phantom.md``), not reproduce any particular device.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Literal

from sijscan.errors import InputError


class UnknownProfileError(InputError):
    """A profile name or profile override is not known."""


@dataclass(frozen=True)
class AcquisitionProfile:
    """One site's acquisition and processing chain. Lengths in mm, doses in detector quanta."""

    name: str
    manufacturer_model: str = "sijscan phantom DR-1"
    modality: Literal["DX", "CR"] = "DX"
    # --- exposure ---
    kvp: float = 80.0
    mas: float = 25.0
    quanta_per_mm2: float = 20000.0
    """Detected quanta per mm^2 behind the body's median path (AEC target times detector efficiency)."""
    heel_effect: float = 0.08
    """Anode heel effect: primary intensity falls linearly by this fraction from the image's bottom
    (cathode side) to its top (anode side); negative values put the anode at the bottom."""
    # --- geometry / detector ---
    field_long_mm: float = 410.0
    """Detector extent along the image's long side; pixel spacing = field_long_mm / size."""
    aspect: float = 0.82
    """Image height / width (landscape AP pelvis)."""
    focal_blur_mm: float = 0.08
    detector_blur_mm: float = 0.1
    electronic_noise: float = 0.004
    """Additive (dose-independent) noise, as a fraction of the body signal at 40000 quanta/mm^2."""
    bits_stored: int = 12
    photometric: Literal["MONOCHROME1", "MONOCHROME2"] = "MONOCHROME2"
    # --- scatter ---
    grid: bool = True
    spr_no_grid: float = 3.0
    """Scatter-to-primary ratio without grid at habitus 1.0 (rises with soft-tissue thickness)."""
    grid_transmission_scatter: float = 0.18
    grid_lines: float = 0.0
    """Amplitude of faint grid lines (fraction of signal); 0 = moving grid, no lines."""
    grid_line_period_mm: float = 0.55
    scatter_blur_mm: float = 45.0
    # --- vendor processing ---
    lut: Literal["sigmoid", "gamma"] = "sigmoid"
    lut_contrast: float = 5.0
    """Sigmoid slope (lut='sigmoid') or gamma exponent (lut='gamma')."""
    window_low_pct: float = 1.0
    window_high_pct: float = 99.5
    lut_center: float = 0.7
    unsharp_amount: float = 0.6
    unsharp_sigma_mm: float = 2.5
    black_level: float = 0.06
    white_level: float = 0.92
    """Display values of the window's bottom and top (the densest anatomy stays below white)."""
    drc_strength: float = 0.3
    """Dynamic range compression: fraction of the very-low-frequency log signal removed."""
    drc_sigma_mm: float = 30.0
    black_shutter: bool = False
    """Vendor masks the collimated border black (else it shows unexposed, i.e. white)."""
    # --- department habits ---
    collimation_prob: float = 0.6
    collimation_margin: tuple[float, float] = (0.01, 0.07)
    """Range of the collimated border on each side, as a fraction of width/height."""
    marker_prob: float = 0.9
    marker_corner: Literal["top", "bottom"] = "top"
    burned_text: bool = True
    text_corner: Literal["top_left", "top_right", "bottom_left", "bottom_right"] = "top_right"
    shield_prob_male: float = 0.04
    shield_prob_female: float = 0.015
    # --- positioning spread (standard deviations) ---
    tilt_sd_deg: float = 4.0
    axial_rotation_sd_deg: float = 2.5
    inplane_rotation_sd_deg: float = 1.5
    offset_sd: float = 0.025
    # --- patient mix ---
    habitus_mean: float = 1.05
    habitus_sd: float = 0.15
    female_fraction: float = 0.35
    age_mean: float = 36.0
    age_sd: float = 10.0
    bowel_gas_mean: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, AcquisitionProfile] = {
    # PROOF (training cohort): two sites. Site A: modern DR, sigmoid LUT, strong edge enhancement.
    "proof_a": AcquisitionProfile(
        name="proof_a", manufacturer_model="sijscan phantom DR-A", kvp=80.0, mas=25.0,
        quanta_per_mm2=22000.0, field_long_mm=410.0, bits_stored=12, photometric="MONOCHROME2",
        lut="sigmoid", lut_contrast=4.5, lut_center=0.75, unsharp_amount=0.5, collimation_prob=0.5, heel_effect=0.06,
        marker_corner="top", text_corner="top_right",
    ),
    # Site B: older CR reader, MONOCHROME1, 10 bit, coarser blur, higher kV, stationary grid lines.
    "proof_b": AcquisitionProfile(
        name="proof_b", manufacturer_model="sijscan phantom CR-B", modality="CR", kvp=85.0,
        mas=32.0, quanta_per_mm2=12000.0, field_long_mm=430.0, focal_blur_mm=0.14,
        detector_blur_mm=0.2, electronic_noise=0.008, bits_stored=10, photometric="MONOCHROME1",
        grid_lines=0.012, lut="gamma", lut_contrast=2.0, unsharp_amount=0.3, heel_effect=-0.1,
        collimation_prob=0.85, collimation_margin=(0.03, 0.10), marker_corner="bottom",
        text_corner="top_left", window_low_pct=0.5, window_high_pct=99.8,
    ),
    # GESPIC: multi-centre early-axSpA cohort; mixed DR, moderately higher kV.
    "gespic": AcquisitionProfile(
        name="gespic", manufacturer_model="sijscan phantom DR-G", kvp=90.0, mas=20.0,
        quanta_per_mm2=16000.0, field_long_mm=420.0, bits_stored=14, photometric="MONOCHROME2",
        lut="sigmoid", lut_contrast=4.0, lut_center=0.76, unsharp_amount=0.45,
        collimation_prob=0.7, black_shutter=True, text_corner="bottom_left",
        tilt_sd_deg=5.5, axial_rotation_sd_deg=3.5, offset_sd=0.04,
        habitus_mean=1.12, habitus_sd=0.18, female_fraction=0.45, age_mean=34.0,
    ),
    # OptiRef: referral cohort (chronic back pain), low prevalence; 16-bit DR, low kV, MONOCHROME1.
    "optiref": AcquisitionProfile(
        name="optiref", manufacturer_model="sijscan phantom DR-O", kvp=75.0, mas=30.0,
        quanta_per_mm2=30000.0, field_long_mm=400.0, focal_blur_mm=0.06, detector_blur_mm=0.08,
        electronic_noise=0.003, bits_stored=16, photometric="MONOCHROME1", lut="sigmoid",
        lut_contrast=5.0, lut_center=0.74, unsharp_amount=0.7, unsharp_sigma_mm=1.8,
        collimation_prob=0.4, marker_corner="bottom", text_corner="bottom_right",
        habitus_mean=1.08, female_fraction=0.55, age_mean=31.0, age_sd=8.0,
    ),
    # DAMACT: older cohort, noisier, lower dose, gamma curve, no edge enhancement.
    "damact": AcquisitionProfile(
        name="damact", manufacturer_model="sijscan phantom CR-D", modality="CR", kvp=95.0,
        mas=18.0, quanta_per_mm2=8000.0, field_long_mm=430.0, detector_blur_mm=0.22,
        electronic_noise=0.01, bits_stored=12, photometric="MONOCHROME2", grid_lines=0.008,
        grid_line_period_mm=0.45, lut="gamma", lut_contrast=2.2, unsharp_amount=0.0,
        collimation_prob=0.9, collimation_margin=(0.04, 0.12), text_corner="top_left",
        tilt_sd_deg=5.0, habitus_mean=1.15, habitus_sd=0.2, female_fraction=0.3,
        age_mean=45.0, age_sd=12.0,
    ),
}


def get_profile(name: str, overrides: dict | None = None) -> AcquisitionProfile:
    """Return the named profile, with field ``overrides`` applied (unknown fields are an error)."""
    if name not in PROFILES:
        raise UnknownProfileError(f"unknown acquisition profile {name!r}; known: {', '.join(sorted(PROFILES))}")
    profile = PROFILES[name]
    if overrides:
        known = set(profile.to_dict())
        bad = sorted(set(overrides) - known)
        if bad:
            raise UnknownProfileError(f"unknown profile field(s) {bad}; known: {', '.join(sorted(known))}")
        profile = replace(profile, **overrides)
    return profile
