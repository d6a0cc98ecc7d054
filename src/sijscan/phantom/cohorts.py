"""Named cohorts (after the paper's) -> per-patient ``CaseSpec`` s with grades, labels and follow-up.

Sampling order per cohort: labels (exact count from the prevalence), split, site and follow-up
selection with the cohort's generator; then per patient (own generator from (seed, cohort, index)):
demographics, positioning, progression risk, latent severities conditional on the label (rejection,
so mNY(grades) == label), mimics, shortcut findings, and the follow-up visit.
"""
from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass, field, replace

import numpy as np

from sijscan.errors import InputError
from sijscan.mny import mny_positive
from sijscan.phantom import grading
from sijscan.phantom.lesions import sample_mimics
from sijscan.phantom.profiles import AcquisitionProfile, get_profile
from sijscan.phantom.shape_set import shape_case_ids
from sijscan.phantom.vendor import chain_profile, draw_chain
from sijscan.phantom.spec import CaseSpec

SHORTCUTS = ("hip_narrowing", "syndesmophytes", "enthesitis")
SHORTCUT_BASE_RATE = {"hip_narrowing": 0.10, "syndesmophytes": 0.08, "enthesitis": 0.12}
"""Rate of each finding outside the SIJ in everyone when ``shortcut_strength`` is 0."""
SHORTCUT_MAX_RATE_POS = {"hip_narrowing": 0.55, "syndesmophytes": 0.60, "enthesitis": 0.60}
"""Rate among positives at ``shortcut_strength`` 1 (negatives fall to 40% of the base rate)."""


class UnknownCohortError(InputError):
    """A cohort name or cohort override is not known."""


@dataclass(frozen=True)
class CohortDef:
    """One cohort's defaults. Every field can be overridden and is written to ``cohort.json``."""

    name: str
    n: int
    prevalence: float
    sites: tuple[str, ...]
    """Acquisition profiles; the first is site A, the second (if any) site B."""
    val_fraction: float = 0.0
    """0 = every case is 'test'; else a random ``val_fraction`` is 'val' and the rest 'train'."""
    shortcut_strength: float = 0.0
    followup: bool = False
    followup_fraction: float = 251 / 436
    followup_negative_fraction: float = 135 / 251
    progression_scale: float = 1.6
    """Latent severity gained in 2 years by a patient of progression risk 1 (calibrated so that
    ~18.5% of baseline-negative GESPIC patients become mNY-positive)."""
    reader_sd: float = 0.15
    oci_rate_female: float = 0.06
    oci_rate_male: float = 0.01
    degenerative_rate_60: float = 0.20
    """Rate of degenerative SIJ change at age 60 among negatives (0 below 40, linear in age)."""
    mimic_rate_in_positives: float = 0.5
    """Mimic rates among positives, relative to negatives."""
    vendor_spread: float = 0.0
    """0: every image on its site's imaging chain; up to 1: each patient's detector and vendor processing
    drawn around it, as in a cohort from many centres (:mod:`sijscan.phantom.vendor`)."""
    ct_members: tuple[str, ...] | None = None
    """Build every patient's bones from these CT cases of the shape set only (e.g. ``("001", "002")``
    to keep CT 003's anatomy out of a cohort used to train a model tested on 003); None: all."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


COHORTS: dict[str, CohortDef] = {
    "proof": CohortDef(name="proof", n=1483, prevalence=0.66, sites=("proof_a", "proof_b"),
                       val_fraction=0.15, shortcut_strength=0.8),
    "gespic": CohortDef(name="gespic", n=436, prevalence=0.50, sites=("gespic",),
                        shortcut_strength=0.3, followup=True),
    "optiref": CohortDef(name="optiref", n=340, prevalence=0.18, sites=("optiref",), shortcut_strength=0.0),
    "damact": CohortDef(name="damact", n=163, prevalence=0.29, sites=("damact",), shortcut_strength=0.2),
}


@dataclass
class CaseRecord:
    """One patient: the baseline spec, truth, and (optionally) the follow-up visit."""

    index: int
    patient_id: str
    cohort: str
    split: str
    site: str
    label: int
    grade_left: int
    grade_right: int
    spec: CaseSpec
    acquisition_seed: int
    truth: dict = field(default_factory=dict)
    followup_spec: CaseSpec | None = None
    followup_grade_left: int | None = None
    followup_grade_right: int | None = None
    followup_label: int | None = None
    followup_acquisition_seed: int | None = None
    vendor_chain: dict | None = None
    """This patient's imaging chain (:func:`sijscan.phantom.vendor.draw_chain`) when the cohort has a
    ``vendor_spread``; both visits are taken on it."""
    vendor_spread: float = 0.0

    def profile(self, site_overrides: dict | None = None) -> AcquisitionProfile:
        """The acquisition profile this patient's images are taken with (site, overrides, own chain)."""
        return chain_profile(get_profile(self.site, site_overrides), self.vendor_chain, self.vendor_spread)


def get_cohort(name: str, overrides: dict | None = None) -> CohortDef:
    """Return the named cohort with field ``overrides`` applied (unknown names/fields are errors)."""
    if name not in COHORTS:
        raise UnknownCohortError(f"unknown cohort {name!r}; choose one of: {', '.join(COHORTS)}")
    cohort = COHORTS[name]
    if overrides:
        known = set(cohort.to_dict()) - {"name"}
        bad = sorted(set(overrides) - known)
        if bad:
            raise UnknownCohortError(f"unknown cohort field(s) {bad}; known: {', '.join(sorted(known))}")
        cohort = replace(cohort, **overrides)
        if cohort.ct_members is not None:
            cohort = replace(cohort, ct_members=tuple(str(m) for m in cohort.ct_members))
            _check_members(cohort.ct_members)
    if cohort.n < 1 or not all(0.0 <= v <= 1.0 for v in (cohort.prevalence, cohort.shortcut_strength,
                                                          cohort.vendor_spread)):
        raise UnknownCohortError("n must be >= 1, prevalence, shortcut_strength and vendor_spread within 0-1")
    for site in cohort.sites:
        get_profile(site)
    return cohort


def _check_members(members: tuple[str, ...]) -> None:
    """``ct_members`` must name some of the CT cases the packaged shape set mixes."""
    known = shape_case_ids()
    bad = sorted(set(members) - set(known))
    if not members or bad:
        raise UnknownCohortError(f"ct_members must name some of the shape set's CTs {', '.join(known)}; "
                                 f"got {list(members)}")


def _cohort_code(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def case_seed_sequence(seed: int, cohort: str, index: int) -> np.random.SeedSequence:
    """The seed of one patient: depends on (seed, cohort, index) only, never on n or workers."""
    return np.random.SeedSequence(entropy=int(seed), spawn_key=(_cohort_code(cohort), int(index)))


def _positioning(profile, rng: np.random.Generator, scale: float = 1.0) -> dict:
    return {
        "pelvic_tilt_deg": float(rng.normal(0.0, profile.tilt_sd_deg * scale)),
        "axial_rotation_deg": float(rng.normal(0.0, profile.axial_rotation_sd_deg * scale)),
        "inplane_rotation_deg": float(rng.normal(0.0, profile.inplane_rotation_sd_deg * scale)),
        "center_offset": (float(rng.normal(0.0, profile.offset_sd * scale)),
                          float(rng.normal(0.0, profile.offset_sd * scale))),
    }


def _shortcut_findings(label: int, strength: float, rng: np.random.Generator) -> dict[str, float]:
    out = {}
    for name in SHORTCUTS:
        base = SHORTCUT_BASE_RATE[name]
        rate = base + strength * (SHORTCUT_MAX_RATE_POS[name] - base) if label else base * (1 - 0.6 * strength)
        out[name] = float(rng.uniform(0.3, 1.0)) if rng.random() < rate else 0.0
    return out


def _mimics(cohort: CohortDef, *, label: int, sex: str, age: float, rng: np.random.Generator) -> dict:
    """The mimics with the cohort's rates, drawn as the CT route draws them (:mod:`sijscan.phantom.lesions`)."""
    m = sample_mimics(label=label, sex=sex, age=age, rng=rng,
                      oci_rate={"F": cohort.oci_rate_female, "M": cohort.oci_rate_male},
                      degenerative_rate_60=cohort.degenerative_rate_60, rate_in_positives=cohort.mimic_rate_in_positives)
    return {"osteitis_condensans": m.osteitis_condensans, "degenerative": m.degenerative, "vacuum": m.vacuum}


def _sample_case(
    cohort: CohortDef, *, index: int, seed: int, label: int, split: str, site: str, followup: bool,
    profile: AcquisitionProfile,
) -> CaseRecord:
    ss = case_seed_sequence(seed, cohort.name, index)
    s_base, s_acq, s_fu_acq, s_vendor = ss.spawn(4)  # the 4th child leaves the first three's draws as before
    rng = np.random.default_rng(s_base)
    sex = "F" if rng.random() < profile.female_fraction else "M"
    age = float(np.clip(rng.normal(profile.age_mean, profile.age_sd), 18.0, 80.0))
    risk = float(rng.beta(1.6, 2.0) if label else rng.beta(0.7, 2.6))
    level, lat_l, lat_r, g_l, g_r = grading.sample_side_latents(
        label, rng=rng, risk=risk, reader_sd=cohort.reader_sd
    )
    spec = CaseSpec(
        anatomy_seed=int(rng.integers(0, 2**31 - 1)), sex=sex,
        body_scale=float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1)),
        habitus=float(np.clip(rng.normal(profile.habitus_mean, profile.habitus_sd), 0.7, 1.6)),
        age=round(age, 1), **_positioning(profile, rng),
        severity_left=lat_l, severity_right=lat_r,
        **_mimics(cohort, label=label, sex=sex, age=age, rng=rng),
        **_shortcut_findings(label, cohort.shortcut_strength, rng),
        bowel_gas=float(np.clip(rng.normal(profile.bowel_gas_mean, 0.2), 0.0, 1.0)),
        extras={"gonad_shield": bool(rng.random() < (profile.shield_prob_male if sex == "M"
                                                       else profile.shield_prob_female)),
                **({"ct_members": list(cohort.ct_members)} if cohort.ct_members else {})},
    )
    record = CaseRecord(
        index=index, patient_id=f"PH-{cohort.name}-{index + 1:04d}", cohort=cohort.name, split=split,
        site=site, label=label, grade_left=g_l, grade_right=g_r, spec=spec,
        acquisition_seed=int(s_acq.generate_state(1)[0]),
        truth={"latent_disease": level, "progression_risk": risk},
        vendor_chain=draw_chain(np.random.default_rng(s_vendor)) if cohort.vendor_spread > 0 else None,
        vendor_spread=cohort.vendor_spread,
    )
    if followup:
        fu_l, fg_l = grading.progress(lat_l, g_l, risk=risk, rng=rng, reader_sd=cohort.reader_sd,
                                      scale=cohort.progression_scale)
        fu_r, fg_r = grading.progress(lat_r, g_r, risk=risk, rng=rng, reader_sd=cohort.reader_sd,
                                      scale=cohort.progression_scale)
        moved = _positioning(profile, rng, scale=0.5)
        record.followup_spec = replace(
            spec, age=round(age + 2.0, 1), severity_left=fu_l, severity_right=fu_r,
            pelvic_tilt_deg=spec.pelvic_tilt_deg + moved["pelvic_tilt_deg"],
            axial_rotation_deg=spec.axial_rotation_deg + moved["axial_rotation_deg"],
            inplane_rotation_deg=spec.inplane_rotation_deg + moved["inplane_rotation_deg"],
            center_offset=(spec.center_offset[0] + moved["center_offset"][0],
                           spec.center_offset[1] + moved["center_offset"][1]),
            bowel_gas=float(np.clip(rng.normal(profile.bowel_gas_mean, 0.2), 0.0, 1.0)),
        )
        record.followup_grade_left, record.followup_grade_right = fg_l, fg_r
        record.followup_label = mny_positive(fg_l, fg_r)
        record.followup_acquisition_seed = int(s_fu_acq.generate_state(1)[0])
    return record


def sample_cohort(
    name: str, *, n: int | None = None, seed: int = 0, followup: bool | None = None,
    overrides: dict | None = None, profile_overrides: dict | None = None,
) -> tuple[CohortDef, list[CaseRecord]]:
    """Sample every patient of a cohort (latents and specs only, no rendering).

    ``profile_overrides`` (``{site: {field: value}}``) apply to the patient mix and positioning drawn
    from a site's profile (age, sex, habitus, bowel gas, tilt...), as they do to its acquisition."""
    cohort = get_cohort(name, {**(overrides or {}), **({"n": n} if n is not None else {})})
    profile_overrides = profile_overrides or {}
    # every override is checked (also of sites this cohort does not use); the cohort's sites draw from theirs
    profiles = {site: get_profile(site, profile_overrides.get(site)) for site in {*cohort.sites, *profile_overrides}}
    if followup is not None:
        cohort = replace(cohort, followup=followup)
    n = cohort.n
    rng = np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(_cohort_code(name),)))
    n_pos = int(round(cohort.prevalence * n))
    labels = np.zeros(n, int)
    labels[rng.permutation(n)[:n_pos]] = 1
    splits = np.array(["test"] * n, dtype=object)
    if cohort.val_fraction > 0:
        splits[:] = "train"
        splits[rng.permutation(n)[: int(round(cohort.val_fraction * n))]] = "val"
    # site B is more common among positives in proportion to the shortcut strength
    p_b = np.where(labels == 1, 0.5 + 0.4 * cohort.shortcut_strength, 0.5 - 0.4 * cohort.shortcut_strength)
    site_b = rng.random(n) < p_b
    sites = [cohort.sites[1] if (b and len(cohort.sites) > 1) else cohort.sites[0] for b in site_b]
    has_fu = np.zeros(n, bool)
    if cohort.followup:
        n_fu = int(round(cohort.followup_fraction * n))
        neg, pos = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
        n_fu_neg = min(int(round(cohort.followup_negative_fraction * n_fu)), neg.size)
        n_fu_pos = min(n_fu - n_fu_neg, pos.size)
        has_fu[rng.permutation(neg)[:n_fu_neg]] = True
        has_fu[rng.permutation(pos)[:n_fu_pos]] = True
    records = [
        _sample_case(cohort, index=i, seed=seed, label=int(labels[i]), split=str(splits[i]), site=sites[i],
                     followup=bool(has_fu[i]), profile=profiles[sites[i]])
        for i in range(n)
    ]
    return cohort, records
