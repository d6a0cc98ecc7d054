"""A multi-centre cohort's spread of imaging chains: each radiograph's own detector and vendor processing.

A site profile (:mod:`sijscan.phantom.profiles`) is one imaging chain. A cohort recruited at many
centres (PROOF: dozens of hospitals in 29 countries) holds radiographs from many chains: flat-panel
and CR detectors of several vendors, each with its own display curve, edge enhancement and dynamic
range compression, at doses set by each department's exposure chart. With ``vendor_spread`` s > 0 a
cohort draws, per patient, a random chain from the ranges below and moves each field of its site's
profile a fraction s of the way to it (in log terms for the dose); the display curve's family
(sigmoid or gamma) switches to the drawn one with probability s. s = 0 is the site's profile exactly.

The ranges describe what vendors' chains do, from the physics of the acquisition model
(:mod:`sijscan.phantom.acquisition`) and the sense of docs/phantom.md's profiles; they were written
before any classifier was trained on them and are not fitted to any cohort:

* dose behind the body 8,000-32,000 quanta/mm^2 (log-uniform): a factor of four between a low-dose
  CR exposure and a generous DR one;
* detector blur 0.06-0.25 mm (needle CsI flat panels to powder-phosphor CR plates), electronic
  noise 0.002-0.012 of the body signal, tube voltage 70-100 kVp (AP pelvis exposure charts);
* display curve: sigmoid slope 3-6.5 or gamma 1.6-2.8 (half each), centre 0.65-0.82, window
  percentiles 0.3-2 / 99-99.9;
* edge enhancement (unsharp masking) amount 0-0.9 at 1.5-4 mm (none on some CR readers, strong on
  modern DR presets), dynamic range compression 0-0.5 at 20-45 mm;
* stationary grid lines in 30% of chains (amplitude 0.004-0.015, period 0.4-0.6 mm), none otherwise.

The draws come from the patient's own generator, so a patient keeps its chain (and its follow-up
visit is taken on the same chain) whatever the cohort's size.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from sijscan.phantom.profiles import AcquisitionProfile

LINEAR_FIELDS: dict[str, tuple[float, float]] = {
    "detector_blur_mm": (0.06, 0.25),
    "electronic_noise": (0.002, 0.012),
    "kvp": (70.0, 100.0),
    "lut_center": (0.65, 0.82),
    "window_low_pct": (0.3, 2.0),
    "window_high_pct": (99.0, 99.9),
    "unsharp_amount": (0.0, 0.9),
    "unsharp_sigma_mm": (1.5, 4.0),
    "drc_strength": (0.0, 0.5),
    "drc_sigma_mm": (20.0, 45.0),
}
"""Fields drawn uniformly and mixed linearly with the site's value."""
DOSE_RANGE = (8000.0, 32000.0)
"""``quanta_per_mm2``, drawn log-uniformly and mixed in log terms."""
CURVE_RANGES = {"sigmoid": (3.0, 6.5), "gamma": (1.6, 2.8)}
"""``lut_contrast`` per display-curve family."""
GRID_LINE_RATE = 0.3
GRID_LINE_AMPLITUDE = (0.004, 0.015)
GRID_LINE_PERIOD_MM = (0.4, 0.6)


def draw_chain(rng: np.random.Generator) -> dict:
    """One random imaging chain: absolute field values plus ``switch_u`` (a uniform for the curve family)."""
    chain: dict = {name: float(rng.uniform(lo, hi)) for name, (lo, hi) in LINEAR_FIELDS.items()}
    chain["quanta_per_mm2"] = float(math.exp(rng.uniform(math.log(DOSE_RANGE[0]), math.log(DOSE_RANGE[1]))))
    chain["lut"] = "sigmoid" if rng.random() < 0.5 else "gamma"
    chain["lut_contrast"] = float(rng.uniform(*CURVE_RANGES[chain["lut"]]))
    lines = rng.random() < GRID_LINE_RATE
    chain["grid_lines"] = float(rng.uniform(*GRID_LINE_AMPLITUDE)) if lines else 0.0
    chain["grid_line_period_mm"] = float(rng.uniform(*GRID_LINE_PERIOD_MM))
    chain["switch_u"] = float(rng.random())
    return chain


def chain_profile(base: AcquisitionProfile, chain: dict | None, spread: float) -> AcquisitionProfile:
    """``base`` moved a fraction ``spread`` of the way to ``chain`` (``draw_chain``); ``base`` when none."""
    if not chain or spread <= 0.0:
        return base
    s = float(spread)
    fields = {name: getattr(base, name) + s * (chain[name] - getattr(base, name)) for name in LINEAR_FIELDS}
    fields["quanta_per_mm2"] = math.exp(math.log(base.quanta_per_mm2)
                                        + s * (math.log(chain["quanta_per_mm2"]) - math.log(base.quanta_per_mm2)))
    if chain["switch_u"] < s:
        # the chain's own display curve (a slope of one family means nothing in the other) and grid
        fields.update(lut=chain["lut"], lut_contrast=chain["lut_contrast"], grid_lines=chain["grid_lines"],
                      grid_line_period_mm=chain["grid_line_period_mm"])
    return replace(base, **fields)
