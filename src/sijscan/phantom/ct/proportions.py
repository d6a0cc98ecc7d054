"""Anatomy variants of one CT: the same bones with other proportions (issue 22).

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

How. The voxels stay; the spacing changes (``dataclasses.replace``), so the variant is exact,
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


def variant_of(case: CTCase, index: int, *, seed: int) -> tuple[CTCase, tuple[float, float, float]]:
    """Variant ``index`` of ``case`` for ``seed``: index 0 is the CT as scanned (factors 1), the others
    draw their factors from a generator of (seed, case name, index), whatever else is rendered."""
    import zlib

    if index == 0:
        return case, (1.0, 1.0, 1.0)
    scales = sample_scales(np.random.default_rng([int(seed), zlib.crc32(case.name.encode()), int(index), SEED_TAG]))
    return rescaled(case, scales), scales
