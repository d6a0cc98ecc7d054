"""Latent severity -> reader grade -> mNY label, and the 2-year progression of latent severity.

Each sacroiliac joint has a continuous latent severity (about 0 normal ... 4.5 ankylosed). A reader's
mNY grade is that latent plus small reader noise, cut at 0.5 / 1.5 / 2.5 / 3.5, so a joint near a
cut is genuinely ambiguous. The label is the mNY rule on the two grades (``sijscan.mny``).
"""
from __future__ import annotations

import numpy as np

from sijscan.errors import SijscanError
from sijscan.mny import mny_positive

GRADE_CUTS = (0.5, 1.5, 2.5, 3.5)
MAX_SEVERITY = 4.5


class SamplingError(SijscanError):
    """Rejection sampling did not find latents matching the requested label."""


def read_grade(latent: float, *, rng: np.random.Generator, reader_sd: float) -> int:
    """One reader's grade 0-4 for a joint with ``latent`` severity."""
    return int(np.digitize(latent + rng.normal(0.0, reader_sd), GRADE_CUTS))


def push_to_upper_edge(latent: float, risk: float, *, strength: float = 0.85) -> float:
    """Move ``latent`` towards the upper edge of its true grade in proportion to progression ``risk``.

    This is the baseline's sub-threshold change: a high-risk joint sits just below the next grade.
    """
    grade = int(np.digitize(latent, GRADE_CUTS))
    lower = 0.0 if grade == 0 else GRADE_CUTS[grade - 1]
    upper = GRADE_CUTS[grade] if grade < 4 else MAX_SEVERITY
    frac = (latent - lower) / (upper - lower)
    frac = frac + strength * risk * (0.97 - frac) if frac < 0.97 else frac
    return float(lower + frac * (upper - lower))


def sample_side_latents(
    label: int, *, rng: np.random.Generator, risk: float, reader_sd: float, max_tries: int = 2000
) -> tuple[float, float, float, int, int]:
    """Sample (disease level, latent left, latent right, grade left, grade right) with mNY == label.

    Negatives: mostly normal joints, some suspicious/minimal (non-radiographic disease);
    positives: a disease level of 1.7-4.2. Sides differ by a per-side deviation (unilateral disease
    happens). Rejection sampling guarantees ``mny_positive(grades) == label``.
    """
    for _ in range(max_tries):
        if label:
            level, asym = rng.uniform(1.7, 4.2), 0.6
        elif rng.random() < 0.55:
            level, asym = rng.uniform(0.0, 0.7), 0.3
        else:
            level, asym = rng.uniform(0.5, 2.2), 0.45
        sides = []
        for _side in range(2):
            latent = float(np.clip(level + rng.normal(0.0, asym), 0.0, MAX_SEVERITY))
            sides.append(push_to_upper_edge(latent, risk))
        grades = [read_grade(s, rng=rng, reader_sd=reader_sd) for s in sides]
        if mny_positive(grades[0], grades[1]) == label:
            return float(level), sides[0], sides[1], grades[0], grades[1]
    raise SamplingError(f"no latent severities found for label {label} in {max_tries} tries")


def progress(
    latent: float, grade: int, *, risk: float, rng: np.random.Generator, reader_sd: float, scale: float
) -> tuple[float, int]:
    """Two years of progression of one joint: (follow-up latent, follow-up grade >= ``grade``)."""
    delta = scale * risk * rng.uniform(0.5, 1.5) + abs(rng.normal(0.0, 0.08))
    new_latent = float(min(MAX_SEVERITY, latent + delta))
    new_grade = max(int(grade), read_grade(new_latent, rng=rng, reader_sd=reader_sd))
    return new_latent, new_grade
