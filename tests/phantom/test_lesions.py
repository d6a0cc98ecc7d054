"""One radiographic definition of each mNY grade for both routes (sijscan.phantom.lesions)."""
from __future__ import annotations

import numpy as np
import pytest

from sijscan.phantom import lesions as les
from sijscan.phantom.grading import GRADE_CUTS


def test_every_range_is_ordered_and_non_decreasing_in_grade():
    for name, ranges in les.GRADE_TABLE.items():
        assert len(ranges) == 5, name
        for lo, hi in ranges:
            assert lo <= hi, name
        for (lo_a, hi_a), (lo_b, hi_b) in zip(ranges[:-1], ranges[1:]):
            assert lo_b >= lo_a and hi_b >= hi_a, name


def test_at_an_integer_latent_each_parameter_spans_that_grades_range():
    for g in range(5):
        lo = les.lesion_params(float(g), les.JointDraws(u={k: 0.0 for k in les.PARAMS}, space="bridges"))
        hi = les.lesion_params(float(g), les.JointDraws(u={k: 1.0 for k in les.PARAMS}, space="bridges"))
        for name in ("sclerosis_width_mm", "sclerosis_hu", "erosion_radius_mm", "plate_loss"):
            assert getattr(lo, name) == pytest.approx(les.GRADE_TABLE[name][g][0]), (g, name)
            assert getattr(hi, name) == pytest.approx(les.GRADE_TABLE[name][g][1]), (g, name)
        assert lo.erosion_count == int(les.GRADE_TABLE["erosion_count"][g][0])
        assert hi.erosion_count == int(les.GRADE_TABLE["erosion_count"][g][1])


def test_grade_0_is_lesion_free_and_grade_4_is_mostly_fused():
    rng = np.random.default_rng(0)
    for _ in range(50):
        d = les.draw_joint(rng)
        p0 = les.lesion_params(0.0, d)
        assert p0.erosion_count == 0 and p0.sclerosis_hu == 0 and p0.ankylosis_fraction == 0 and p0.plate_loss == 0
        p4 = les.lesion_params(4.0, d)
        assert p4.ankylosis_fraction >= 0.85 and p4.space_change_mm == pytest.approx(p4.space_change_mm)
        assert les.lesion_params(4.5, d).ankylosis_fraction == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(8))
def test_lesions_only_grow_with_the_latent(seed):
    d = les.draw_joint(np.random.default_rng(seed))
    prev = None
    for sev in np.linspace(0.0, les.MAX_SEVERITY, 46):
        p = les.lesion_params(float(sev), d)
        if prev is not None:
            for name in ("erosion_count", "erosion_radius_mm", "sclerosis_width_mm", "sclerosis_hu",
                         "sacral_sclerosis_share", "ankylosis_fraction", "plate_loss"):
                assert getattr(p, name) >= getattr(prev, name) - 1e-9, (sev, name)
        prev = p


def test_joint_space_change_by_type():
    base = {k: 0.5 for k in les.PARAMS}
    wid = les.lesion_params(3.0, les.JointDraws(u=base, space="widening"))
    nar = les.lesion_params(3.0, les.JointDraws(u=base, space="narrowing"))
    bri = les.lesion_params(3.0, les.JointDraws(u=base, space="bridges"))
    assert wid.space_change_mm > 0 > nar.space_change_mm and bri.space_change_mm == 0
    assert bri.ankylosis_fraction > 0 and wid.ankylosis_fraction == 0 == nar.ankylosis_fraction
    for g in (0, 1, 2):  # joint width unchanged below grade 3
        assert les.lesion_params(float(g), les.JointDraws(u=base, space="widening")).space_change_mm == 0


def test_a_ct_latent_is_read_as_its_grade():
    rng = np.random.default_rng(1)
    for g in range(5):
        for _ in range(200):
            latent = les.latent_for_grade(g, rng)
            assert int(np.digitize(latent, GRADE_CUTS)) == g or latent in GRADE_CUTS
    with pytest.raises(ValueError):
        les.latent_for_grade(5, rng)


def test_mimic_rates_follow_sex_age_and_label():
    rng = np.random.default_rng(2)
    n = 4000
    f = [les.sample_mimics(label=0, sex="F", age=30.0, rng=rng) for _ in range(n)]
    m = [les.sample_mimics(label=0, sex="M", age=30.0, rng=rng) for _ in range(n)]
    assert np.mean([x.osteitis_condensans > 0 for x in f]) == pytest.approx(0.06, abs=0.015)
    assert np.mean([x.osteitis_condensans > 0 for x in m]) == pytest.approx(0.01, abs=0.006)
    assert not any(x.degenerative > 0 for x in f + m)  # none below 40
    old = [les.sample_mimics(label=0, sex="M", age=60.0, rng=rng) for _ in range(n)]
    pos = [les.sample_mimics(label=1, sex="M", age=60.0, rng=rng) for _ in range(n)]
    assert np.mean([x.degenerative > 0 for x in old]) == pytest.approx(0.20, abs=0.03)
    assert np.mean([x.degenerative > 0 for x in pos]) == pytest.approx(0.10, abs=0.03)
    assert all(not x.vacuum for x in old if x.degenerative == 0)
    assert 0.35 < np.mean([x.vacuum for x in old if x.degenerative > 0]) < 0.65


# --- both routes read this one table -------------------------------------------------------------


def test_the_procedural_joint_draws_its_lesions_from_the_shared_definition():
    from sijscan.phantom.body_model import render_projection
    from sijscan.phantom.body_model.sij import make_layout
    from sijscan.phantom.spec import CaseSpec, Geometry

    p = render_projection(CaseSpec(anatomy_seed=5, severity_left=2.7, severity_right=0.4),
                          Geometry(height=240, width=256, pixel_spacing_mm=1.0))
    for side, sev in (("image_right", 2.7), ("image_left", 0.4)):  # the patient's left is on the image's right
        want = les.lesion_params(sev, make_layout(5, side).draws).to_json()
        assert p.info["sij"][side]["lesions"] == want


def _zero_table(monkeypatch):
    zero = {k: tuple((0.0, 0.0) for _ in range(5)) for k in les.GRADE_TABLE}
    monkeypatch.setattr(les, "GRADE_TABLE", zero)


def test_without_the_shared_table_neither_route_draws_a_lesion(monkeypatch):
    """Zeroing the one table removes every lesion from BOTH routes: neither has a definition of its own."""
    from sijscan.phantom.body_model import render_projection
    from sijscan.phantom.ct.joint import find_joint, lesion_block, lesion_plan
    from sijscan.phantom.ct.synthetic import toy_case
    from sijscan.phantom.spec import CaseSpec, Geometry

    g = Geometry(height=240, width=256, pixel_spacing_mm=1.0)
    case = toy_case(spacing=2.0)
    joint = find_joint(case, "left")
    plan = lesion_plan(joint, rng=0)
    assert lesion_block(case, joint, 4.0, plan) is not None
    p0 = render_projection(CaseSpec(anatomy_seed=3), g).bone
    assert not np.array_equal(p0, render_projection(CaseSpec(anatomy_seed=3, severity_left=4.0), g).bone)
    _zero_table(monkeypatch)
    assert lesion_block(case, joint, 4.0, plan) is None
    assert np.array_equal(p0, render_projection(CaseSpec(anatomy_seed=3, severity_left=4.0), g).bone)


def test_ct_mimics_keep_the_joint_space_and_add_no_erosion():
    from sijscan.phantom.ct.joint import GAS_HU, find_joint, lesion_block, lesion_plan
    from sijscan.phantom.ct.synthetic import toy_case

    case = toy_case(spacing=1.0)
    joint = find_joint(case, "right")
    plan = lesion_plan(joint, rng=4)
    base = case.hu[joint.roi].astype(np.float32)
    oci = lesion_block(case, joint, 0.0, plan, les.Mimics(osteitis_condensans=1.0))
    changed = oci != base
    assert changed.any() and not changed[joint.gap].any()  # dense ilium, joint space untouched
    assert (oci[changed] > base[changed]).all()  # only denser: no erosion
    deg = lesion_block(case, joint, 0.0, plan, les.Mimics(degenerative=1.0, vacuum=True))
    assert (deg[joint.gap] == GAS_HU).any()  # the vacuum phenomenon: gas in the joint
    assert (deg[joint.gap] >= 400).any()  # osteophyte / narrowing: new bone at the margin


def _only(monkeypatch, **ranges):
    """The table with every grade of the named parameters set to one value (others unchanged)."""
    table = dict(les.GRADE_TABLE)
    for name, v in ranges.items():
        table[name] = tuple((float(v), float(v)) for _ in range(5))
    monkeypatch.setattr(les, "GRADE_TABLE", table)


def test_ct_erosions_and_sclerosis_follow_the_table(monkeypatch):
    from scipy import ndimage

    from sijscan.phantom.ct.joint import find_joint, lesion_block, lesion_plan
    from sijscan.phantom.ct.synthetic import toy_case

    case = toy_case(spacing=1.0)
    joint = find_joint(case, "left")
    plan = lesion_plan(joint, rng=7)
    base = case.hu[joint.roi].astype(np.float32)
    quiet = dict(sclerosis_hu=0, plate_loss=0, space_change_mm=0, ankylosis_fraction=0, erosion_radius_mm=1.5)
    n_pits = {}
    for k in (2, 12):
        _only(monkeypatch, erosion_count=k, **quiet)
        voids = (lesion_block(case, joint, 2.0, plan) == 0) & (base > 0)
        n_pits[k] = ndimage.label(voids)[1]
    assert 1 <= n_pits[2] <= 2 < n_pits[12]
    added = {}
    for hu in (100, 400):
        _only(monkeypatch, erosion_count=0, sclerosis_width_mm=6, sclerosis_hu=hu,
              **{k: v for k, v in quiet.items() if k != "sclerosis_hu"})
        added[hu] = float((lesion_block(case, joint, 3.0, plan) - base).sum())
    assert added[400] == pytest.approx(4 * added[100], rel=1e-3)
