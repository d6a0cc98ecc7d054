"""A cohort's ``vendor_spread``: each patient's own imaging chain around its site's profile."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sijscan.phantom.cohorts import UnknownCohortError, sample_cohort
from sijscan.phantom.profiles import get_profile
from sijscan.phantom.simulate import simulate_cohort
from sijscan.phantom.vendor import CURVE_RANGES, DOSE_RANGE, LINEAR_FIELDS, chain_profile, draw_chain


def test_spread_zero_is_the_site_profile_and_leaves_every_other_draw_alone():
    _, plain = sample_cohort("proof", n=12, seed=3)
    _, spread = sample_cohort("proof", n=12, seed=3, overrides={"vendor_spread": 1.0})
    for a, b in zip(plain, spread):
        assert a.vendor_chain is None and a.profile() == get_profile(a.site)
        # the chain has its own generator: anatomy, grades, site and acquisition seeds are unchanged
        assert (a.spec, a.site, a.label, a.grade_left, a.grade_right, a.acquisition_seed) == \
               (b.spec, b.site, b.label, b.grade_left, b.grade_right, b.acquisition_seed)
        assert b.vendor_chain is not None and b.profile() != get_profile(b.site)


def test_full_spread_takes_the_drawn_chain_within_its_ranges():
    _, recs = sample_cohort("proof", n=40, seed=0, overrides={"vendor_spread": 1.0})
    luts = set()
    for r in recs:
        p = r.profile()
        for name, (lo, hi) in LINEAR_FIELDS.items():
            assert lo <= getattr(p, name) <= hi, name
            assert getattr(p, name) == pytest.approx(r.vendor_chain[name])
        assert DOSE_RANGE[0] <= p.quanta_per_mm2 <= DOSE_RANGE[1]
        lo, hi = CURVE_RANGES[p.lut]
        assert lo <= p.lut_contrast <= hi and p.lut == r.vendor_chain["lut"]
        luts.add(p.lut)
        # what the chain does not draw stays the site's (departmental habits, the detector's storage)
        site = get_profile(r.site)
        assert (p.photometric, p.bits_stored, p.marker_corner, p.collimation_prob) == \
               (site.photometric, site.bits_stored, site.marker_corner, site.collimation_prob)
    assert luts == {"sigmoid", "gamma"}
    assert len({round(r.profile().unsharp_amount, 6) for r in recs}) == len(recs)


def test_partial_spread_mixes_linearly_and_the_dose_geometrically():
    base = get_profile("damact")
    chain = draw_chain(np.random.default_rng(5))
    half = chain_profile(base, chain, 0.5)
    assert half.unsharp_amount == pytest.approx((base.unsharp_amount + chain["unsharp_amount"]) / 2)
    assert half.kvp == pytest.approx((base.kvp + chain["kvp"]) / 2)
    assert half.quanta_per_mm2 == pytest.approx(math.sqrt(base.quanta_per_mm2 * chain["quanta_per_mm2"]))
    # the curve family switches with probability = spread, and with it its slope
    switched = half.lut == chain["lut"] and half.lut_contrast == chain["lut_contrast"]
    assert switched == (chain["switch_u"] < 0.5)
    assert chain_profile(base, chain, 0.0) == base and chain_profile(base, None, 1.0) == base


def test_a_patients_chain_does_not_depend_on_the_cohorts_size():
    _, small = sample_cohort("gespic", n=5, seed=1, overrides={"vendor_spread": 0.6})
    _, large = sample_cohort("gespic", n=20, seed=1, overrides={"vendor_spread": 0.6})
    assert [r.vendor_chain for r in small] == [r.vendor_chain for r in large[:5]]


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_spread_outside_zero_to_one_is_refused(bad):
    with pytest.raises(UnknownCohortError, match="vendor_spread"):
        sample_cohort("proof", n=4, overrides={"vendor_spread": bad})


def test_both_visits_are_taken_on_the_patients_chain(tmp_path):
    manifest = simulate_cohort("gespic", n=6, seed=0, out_dir=tmp_path, size=128, workers=1,
                               overrides={"vendor_spread": 1.0, "followup_fraction": 1.0})
    _, recs = sample_cohort("gespic", n=6, seed=0, overrides={"vendor_spread": 1.0, "followup_fraction": 1.0})
    base = pd.read_csv(manifest).set_index("patient_id")
    fu = pd.read_csv(tmp_path / "manifest_followup.csv").set_index("patient_id")
    for r in recs:
        assert base.loc[r.patient_id, "kvp"] == pytest.approx(r.profile().kvp, abs=0.051)
        assert fu.loc[r.patient_id, "kvp"] == pytest.approx(r.profile().kvp, abs=0.051)
    assert base["kvp"].nunique() == len(recs)  # each patient its own chain


def test_the_simulate_command_passes_the_spread_to_the_cohort(tmp_path):
    from sijscan.cli.main import main

    assert main(["simulate", "--cohort", "proof", "--n", "3", "--seed", "2", "--out", str(tmp_path), "--size", "96",
                 "--workers", "1", "--vendor-spread", "1"]) == 0
    _, recs = sample_cohort("proof", n=3, seed=2, overrides={"vendor_spread": 1.0})
    kvp = pd.read_csv(tmp_path / "manifest.csv")["kvp"].to_numpy()
    assert kvp == pytest.approx([r.profile().kvp for r in recs], abs=0.051)
    assert pd.read_json(tmp_path / "cohort.json", typ="series")["cohort"]["vendor_spread"] == 1.0


def test_dicom_cohorts_with_a_spread_write_a_valid_kvp(tmp_path):
    """The chain's kVp is continuous; the image records it to 0.1 kV (a DICOM DS holds 16 characters)."""
    import pydicom

    manifest = simulate_cohort("optiref", n=2, seed=4, out_dir=tmp_path, size=96, fmt="dicom", workers=1,
                               overrides={"vendor_spread": 1.0})
    for path in pd.read_csv(manifest)["image"]:
        ds = pydicom.dcmread(tmp_path / path)
        assert len(str(ds.KVP)) <= 16 and float(ds.KVP) == round(float(ds.KVP), 1)
