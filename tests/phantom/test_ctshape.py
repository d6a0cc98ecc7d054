"""The phantom's CT-derived bone statistics: packaged data, shape mixing, leave-one-CT-out."""
from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from sijscan.phantom.body_model import ctshape as cts
from sijscan.phantom.body_model import render_projection
from sijscan.phantom.spec import CaseSpec, Geometry

MID = Geometry(height=384, width=512, pixel_spacing_mm=0.8)


def test_packaged_statistics_are_small_derived_numbers_with_provenance() -> None:
    data = resources.files("sijscan") / "data"
    assert (data / "phantom_shapes.npz").stat().st_size < 300_000  # derived numbers, not CT volumes
    meta = json.loads((data / "phantom_shapes.json").read_text())
    assert "sijscan.phantom.shape_stats" in meta["provenance"]["command"]
    assert set(meta["cases"]) == {"001", "002", "003"}
    hip, sac = cts.bone_set("hip"), cts.bone_set("sacrum")
    assert hip.points.shape[1] == sum(cts.N_HIP) + 1 + cts.N_OBT + 2 * cts.N_JOINT
    assert sac.points.shape[1] == sum(cts.SAC_PIECES)
    assert np.isfinite(hip.points).all() and np.isfinite(hip.heads[:, :2]).all()
    # every template is a bone-shaped positive map around its median of 1 (after normalising)
    for bs in (hip, sac):
        assert (bs.template >= 0).all() and (bs.median > 0.2).all()


def test_mix_weights_stay_in_the_span_of_the_real_bones() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = cts.mix_weights(rng, 3)
        assert abs(w.sum() - 1.0) < 1e-9 and (w >= -cts.STRETCH / 3 - 1e-9).all()


def _hip_extent(labels: np.ndarray, k: int) -> tuple[float, float]:
    ys, xs = np.nonzero(labels == k)
    return float(np.ptp(xs)) * MID.pixel_spacing_mm, float(np.ptp(ys)) * MID.pixel_spacing_mm


@pytest.mark.parametrize("seed", [3, 8])
def test_hip_bones_have_the_size_of_the_real_ones(seed: int) -> None:
    """At body_scale 1, no tilt: the label's hip bone is as wide and tall as the CT bones' projections
    (their range in the packaged summary, 10% either way for the case's proportions)."""
    meta = json.loads((resources.files("sijscan") / "data" / "phantom_shapes.json").read_text())
    dens = [meta["cases"][c]["density"]["RI"] for c in ("001", "002", "003")]
    w_lo, w_hi = min(d["width_mm"] for d in dens), max(d["width_mm"] for d in dens)
    h_lo, h_hi = min(d["height_mm"] for d in dens), max(d["height_mm"] for d in dens)
    p = render_projection(CaseSpec(anatomy_seed=seed, sex="M"), MID)
    for k in (2, 3):
        w, h = _hip_extent(p.labels, k)
        assert 0.9 * w_lo < w < 1.1 * w_hi and 0.9 * h_lo < h < 1.1 * h_hi, (k, w, h)


def test_leave_one_ct_out_changes_the_shapes_and_stays_deterministic() -> None:
    full = render_projection(CaseSpec(anatomy_seed=5), MID)
    spec = CaseSpec(anatomy_seed=5, extras={"ct_members": ["001", "002"]})
    a, b = render_projection(spec, MID), render_projection(spec, MID)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.labels, full.labels)
    assert cts.bone_set("hip", ("001", "002")).members == ("001_RI", "002_RI")
    with pytest.raises(cts.ShapeDataError):
        cts.bone_set("hip", ("999",))
