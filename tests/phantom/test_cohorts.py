"""Cohort sampling without rendering: prevalence, label rule, splits, shortcuts, progression."""
from __future__ import annotations

import numpy as np
import pytest

from sijscan.mny import mny_positive
from sijscan.phantom import grading
from sijscan.phantom.cohorts import COHORTS, UnknownCohortError, get_cohort, sample_cohort
from sijscan.phantom.profiles import UnknownProfileError, get_profile


@pytest.mark.parametrize("name", sorted(COHORTS))
def test_prevalence_and_label_rule_over_2000_latent_only(name: str) -> None:
    cohort, recs = sample_cohort(name, n=2000, seed=3, followup=False)
    labels = np.array([r.label for r in recs])
    assert abs(labels.mean() - cohort.prevalence) <= 0.05
    for r in recs:
        assert r.label == mny_positive(r.grade_left, r.grade_right)
        assert 0 <= r.grade_left <= 4 and 0 <= r.grade_right <= 4
        assert 0.0 <= r.spec.severity_left <= grading.MAX_SEVERITY


def test_paper_defaults_and_proof_split() -> None:
    assert {k: (c.n, c.prevalence) for k, c in COHORTS.items()} == {
        "proof": (1483, 0.66), "gespic": (436, 0.50), "optiref": (340, 0.18), "damact": (163, 0.29)}
    _, recs = sample_cohort("proof", seed=0)
    splits = [r.split for r in recs]
    assert splits.count("train") == 1261 and splits.count("val") == 222
    _, recs = sample_cohort("optiref", n=50, seed=0)
    assert {r.split for r in recs} == {"test"}


def test_grades_follow_latent_with_reader_noise() -> None:
    rng = np.random.default_rng(0)
    # far from a cut the reader is certain; on a cut the reader is split
    assert {grading.read_grade(1.0, rng=rng, reader_sd=0.15) for _ in range(200)} == {1}
    at_cut = [grading.read_grade(2.5, rng=rng, reader_sd=0.15) for _ in range(400)]
    assert 0.3 < np.mean(np.array(at_cut) == 3) < 0.7


def test_same_seed_same_specs_and_index_independent_of_n() -> None:
    _, a = sample_cohort("damact", n=30, seed=9)
    _, b = sample_cohort("damact", n=30, seed=9)
    assert [r.spec for r in a] == [r.spec for r in b]
    _, c = sample_cohort("damact", n=30, seed=10)
    assert [r.spec.anatomy_seed for r in a] != [r.spec.anatomy_seed for r in c]


def _rate(recs, attr, label):
    return np.mean([getattr(r.spec, attr) > 0 for r in recs if r.label == label])


def test_shortcuts_follow_strength() -> None:
    _, strong = sample_cohort("proof", n=2000, seed=1)
    _, none = sample_cohort("proof", n=2000, seed=1, overrides={"shortcut_strength": 0.0})
    for attr in ("hip_narrowing", "syndesmophytes", "enthesitis"):
        assert _rate(strong, attr, 1) - _rate(strong, attr, 0) > 0.3
        assert abs(_rate(none, attr, 1) - _rate(none, attr, 0)) < 0.05
    site_b = lambda recs, y: np.mean([r.site == "proof_b" for r in recs if r.label == y])  # noqa: E731
    assert site_b(strong, 1) - site_b(strong, 0) > 0.5
    assert abs(site_b(none, 1) - site_b(none, 0)) < 0.07


def test_mimics_are_present_and_mostly_negative() -> None:
    _, recs = sample_cohort("damact", n=2000, seed=2)
    oci_f = np.mean([r.spec.osteitis_condensans > 0 for r in recs if r.spec.sex == "F"])
    oci_m = np.mean([r.spec.osteitis_condensans > 0 for r in recs if r.spec.sex == "M"])
    assert oci_f > oci_m
    deg = [r for r in recs if r.spec.degenerative > 0]
    assert deg and np.mean([r.spec.age for r in deg]) > np.mean([r.spec.age for r in recs])
    assert _rate(recs, "osteitis_condensans", 0) > _rate(recs, "osteitis_condensans", 1)


def test_followup_counts_monotone_and_progression_rate() -> None:
    rates = []
    for seed in range(3):
        _, recs = sample_cohort("gespic", seed=seed)
        fu = [r for r in recs if r.followup_spec is not None]
        neg = [r for r in fu if r.label == 0]
        assert len(fu) == 251 and len(neg) == 135
        for r in fu:
            assert r.followup_grade_left >= r.grade_left and r.followup_grade_right >= r.grade_right
            assert r.followup_spec.severity_left >= r.spec.severity_left
            assert r.followup_label == mny_positive(r.followup_grade_left, r.followup_grade_right)
            assert r.followup_label >= r.label
            assert r.followup_spec.anatomy_seed == r.spec.anatomy_seed
        rates.append(np.mean([r.followup_label for r in neg]))
        risk_prog = [r.truth["progression_risk"] for r in neg if r.followup_label]
        risk_stay = [r.truth["progression_risk"] for r in neg if not r.followup_label]
        assert np.mean(risk_prog) > np.mean(risk_stay)
    assert 0.12 < np.mean(rates) < 0.25  # paper: 25/135 = 18.5%
    _, small = sample_cohort("gespic", n=40, seed=0)
    assert sum(r.followup_spec is not None for r in small) == round(40 * 251 / 436)


def test_high_risk_negatives_sit_near_the_upper_edge_of_their_grade() -> None:
    lat_hi = grading.push_to_upper_edge(0.7, 1.0)
    lat_lo = grading.push_to_upper_edge(0.7, 0.0)
    assert lat_lo == pytest.approx(0.7) and 1.3 < lat_hi < 1.5


def test_unknown_names_are_input_errors() -> None:
    with pytest.raises(UnknownCohortError):
        get_cohort("nope")
    with pytest.raises(UnknownCohortError):
        get_cohort("proof", {"not_a_field": 1})
    with pytest.raises(UnknownProfileError):
        get_profile("nope")


def test_profile_overrides_reach_the_patient_mix_and_positioning() -> None:
    # cohort.json records a site's profile after overrides; the patients must be drawn from that profile too
    _, plain = sample_cohort("damact", n=60, seed=4)
    _, old = sample_cohort("damact", n=60, seed=4,
                           profile_overrides={"damact": {"age_mean": 70.0, "age_sd": 1.0, "tilt_sd_deg": 0.0}})
    assert np.mean([r.spec.age for r in plain]) < 55
    assert all(66.0 <= r.spec.age <= 74.0 for r in old)
    assert all(r.spec.pelvic_tilt_deg == 0.0 for r in old)
    assert [r.label for r in old] == [r.label for r in plain]


def test_every_profile_override_is_checked_even_of_a_site_the_cohort_does_not_use() -> None:
    with pytest.raises(UnknownProfileError):
        sample_cohort("damact", n=3, profile_overrides={"nope": {}})
    with pytest.raises(UnknownProfileError):
        sample_cohort("damact", n=3, profile_overrides={"proof_a": {"not_a_field": 1.0}})
