"""sijscan.phantom: a simulator of AP pelvis radiographs with exact masks, grades and cohorts.

Public API (imported lazily so ``import sijscan.phantom.spec`` stays light):

* ``simulate_cohort(cohort, *, n, seed, out_dir, size, fmt, followup, workers, overrides) -> Path``
* ``simulate_case(*, cohort, index, seed, size, ...) -> (image, labels, truth)``
* ``render_spec(spec, *, profile, size, seed) -> (image, labels, truth)``
* ``sample_cohort(name, *, n, seed, followup, overrides, profile_overrides) -> (CohortDef, list[CaseRecord])``
* ``COHORTS``, ``PROFILES``, ``CaseSpec``, ``Geometry``, ``Projection``
"""
from __future__ import annotations

from sijscan._lazy import lazy_exports

_EXPORTS = {
    "simulate_cohort": "sijscan.phantom.simulate",
    "simulate_case": "sijscan.phantom.simulate",
    "render_spec": "sijscan.phantom.simulate",
    "sample_cohort": "sijscan.phantom.cohorts",
    "COHORTS": "sijscan.phantom.cohorts",
    "PROFILES": "sijscan.phantom.profiles",
    "CaseSpec": "sijscan.phantom.spec",
    "Geometry": "sijscan.phantom.spec",
    "Projection": "sijscan.phantom.spec",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
