"""Anatomy variants of one CT: the same bones with other proportions and bone density (issue 22).

The CT route has three real adult pelves. A classifier trained on renders of two of them meets the
third as a stranger: its normal joints look half diseased (docs/performance.md, "Classifier
transfer", diagnostic 1: mean probability ~0.4 at max grade 0 on the training anatomies, ~0.6 on the
held-out one). An anatomy variant stretches a CT along its three axes, so that one scan stands for
pelves of other sizes and shapes: a taller or shorter sacrum and auricular surface, a wider or
narrower pelvis, a deeper or shallower one (which changes how the anterior and posterior joint lines
overlap on the AP view, the feature of a normal joint that most resembles disease).

How large. Adult pelvic dimensions vary between people with a coefficient of variation of about
5-8% (interiliac breadth, pelvic depth), sacral height somewhat more (about 10%), and the sexes differ
in the same direction (the female sacrum shorter and broader). The three shared CTs' joints are
50-78 mm high (the CT route's joint report). Each axis's factor is drawn log-uniformly within about
two of those SDs: craniocaudal 0.82-1.22, lateral and anteroposterior 0.88-1.14. Fixed from these
anatomical figures before any benchmark run; not tuned to a result.

Bone density. The shared CTs' cancellous bone differs by a factor of about two (median HU inside
the hip bones about 200 for CTs 001 and 003, 310 for 002), and between adults trabecular bone
mineral density varies by about 20% (CV) and falls by about 40% from the third to the eighth
decade. Sacroiliitis adds density (sclerosis) on top of whatever the bone has, so a classifier that
has seen two densities can take a denser pelvis for a sclerotic one. A density variant multiplies
the bone's HU (above water, inside the bone labels) by a factor drawn log-uniformly within
0.7-1.4 (:data:`DENSITY_RANGE`), before the lesions are added (their sclerosis is HU added to the
bone, as in a real joint).

How (proportions). The voxels stay; the spacing changes (``dataclasses.replace``), so the variant is exact,
costs no resampling, and everything the CT route derives in millimetres (joint surfaces, lesion sizes,
the synthetic body, the femora) follows. Cortical thickness and joint-space width scale with their
axis; at these factors a normal joint space stays within the adult range (2-5 mm).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from sijscan.phantom.ct.case import CTCase

SCALE_RANGE_ZYX: tuple[tuple[float, float], ...] = ((0.82, 1.22), (0.88, 1.14), (0.88, 1.14))
"""Per-axis factor ranges (z craniocaudal, y anteroposterior, x lateral), drawn log-uniformly."""
DENSITY_RANGE: tuple[float, float] = (0.7, 1.4)
"""Bone HU factor range, drawn log-uniformly (see the module docstring)."""
VARY = ("proportions", "density")
"""What a variant can vary; ``vary`` picks a subset (the draws are made for both either way)."""
SEED_TAG = 25
"""The last entry of a variant's generator seed (the realism draws use 24), so variants never share draws."""


def sample_scales(rng: np.random.Generator) -> tuple[float, float, float]:
    """One variant's (z, y, x) factors, each log-uniform within :data:`SCALE_RANGE_ZYX`."""
    return tuple(round(float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), 4) for lo, hi in SCALE_RANGE_ZYX)


def rescaled(case: CTCase, scales_zyx: tuple[float, float, float]) -> CTCase:
    """``case`` with its spacing multiplied by ``scales_zyx``: the same voxels (shared, not copied), a
    fresh cache, the same name (a variant is the same patient)."""
    spacing = tuple(float(s) * float(f) for s, f in zip(case.spacing, scales_zyx))
    return dataclasses.replace(case, spacing=spacing, cache={})


def denser(case: CTCase, factor: float) -> CTCase:
    """``case`` with its bone's HU above water (inside the bone labels) multiplied by ``factor``: a new
    HU volume, the labels shared, a fresh cache, the same name."""
    hu = case.hu.copy()
    bone = (case.labels > 0) & (hu > 0)
    hu[bone] = np.clip(np.rint(hu[bone].astype(np.float32) * float(factor)), 0, 3071).astype(hu.dtype)
    return dataclasses.replace(case, hu=hu, cache={})


def variant_of(case: CTCase, index: int, *, seed: int,
               vary: tuple[str, ...] = VARY) -> tuple[CTCase, dict[str, float]]:
    """Variant ``index`` of ``case`` for ``seed`` and what it is ({scale_z, scale_y, scale_x, density}).
    Index 0 is the CT as scanned (all 1); the others draw their factors from a generator of (seed,
    case name, index), whatever else is rendered, and apply those ``vary`` names (a subset of :data:`VARY`)."""
    import zlib

    unknown = set(vary) - set(VARY)
    if unknown or not vary:
        raise ValueError(f"vary must name some of {', '.join(VARY)}, got {tuple(vary)}")
    what = {"scale_z": 1.0, "scale_y": 1.0, "scale_x": 1.0, "density": 1.0}
    if index == 0:
        return case, what
    rng = np.random.default_rng([int(seed), zlib.crc32(case.name.encode()), int(index), SEED_TAG])
    scales = sample_scales(rng)
    lo, hi = DENSITY_RANGE
    density = round(float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), 4)
    out = case
    if "proportions" in vary:
        out = rescaled(out, scales)
        what.update(scale_z=scales[0], scale_y=scales[1], scale_x=scales[2])
    if "density" in vary:
        out = denser(out, density)
        what["density"] = density
    return out, what
