"""benchmarks/processing_shift.py's groups: each changes exactly the profile fields it names, to the
GESPIC site's values where it says so (no rendering here)."""
from __future__ import annotations

from dataclasses import asdict

import pytest

from sijscan.phantom.profiles import get_profile


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("processing_shift")


def test_each_group_changes_only_its_fields(bench):
    for name, (site, changes) in bench.GROUPS.items():
        base, changed = asdict(get_profile(site)), asdict(get_profile(site, changes))
        moved = {k for k in base if base[k] != changed[k]}
        assert moved == {k for k in changes if base[k] != changes[k]}, name
    gespic = asdict(get_profile("gespic"))
    for name in ("damact_noise", "damact_blur", "damact_lut", "damact_unsharp", "damact_processing", "damact_all"):
        site, changes = bench.GROUPS[name]
        assert site == "damact" and all(gespic[k] == v for k, v in changes.items()), name
    assert set(bench.GROUPS["damact_all"][1]) == set().union(*(bench.GROUPS[g][1] for g in (
        "damact_noise", "damact_blur", "damact_processing", "damact_grid")))
    assert bench.GROUPS["damact"] == ("damact", {})
