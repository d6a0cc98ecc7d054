"""The acquisition model on a hand-made projection (independent of the anatomy renderer)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sijscan.phantom.acquisition import AcquisitionError, acquire, effective_weights
from sijscan.phantom.profiles import PROFILES, get_profile
from sijscan.phantom.spec import CaseSpec, Geometry, Projection

H, W = 160, 200


def _projection(bone_level: float = 1.5) -> Projection:
    """A 30 cm-wide slab of soft tissue (thickness 20 cm) with a bone block in the middle."""
    soft = np.zeros((H, W), np.float32)
    soft[:, 30:170] = 4.0
    bone = np.zeros((H, W), np.float32)
    bone[50:110, 80:120] = bone_level
    labels = np.zeros((H, W), np.uint8)
    labels[50:110, 80:120] = 1
    return Projection(bone=bone, soft=soft, labels=labels, sij_boxes={"image_left": [80, 50, 90, 110],
                      "image_right": [110, 50, 120, 110]}, geometry=Geometry(H, W, 1.0))


def _plain(name: str = "proof_a", **kw):
    """A profile without overlays, collimation, edge enhancement or grid lines (clean physics)."""
    base = dict(collimation_prob=0.0, marker_prob=0.0, burned_text=False, shield_prob_male=0.0,
                shield_prob_female=0.0, unsharp_amount=0.0, drc_strength=0.0, grid_lines=0.0, lut="gamma", lut_contrast=1.0,
                window_low_pct=0.0, window_high_pct=100.0)
    return replace(get_profile(name), **{**base, **kw})


SPEC = CaseSpec(anatomy_seed=1)


def test_bone_contrast_falls_with_kvp() -> None:
    wb60, ws60 = effective_weights(60)
    wb110, ws110 = effective_weights(110)
    assert wb60 / ws60 > wb110 / ws110 > 1.0
    proj = _projection()
    contrasts = []
    for kvp in (65.0, 80.0, 100.0):
        prof = _plain(kvp=kvp, quanta_per_mm2=1e9, electronic_noise=0.0)
        img = acquire(proj, profile=prof, spec=SPEC, seed=0)
        wb, ws = effective_weights(kvp)
        contrasts.append(wb)
        assert img.meta["w_bone"] == pytest.approx(wb, abs=1e-3)
    assert contrasts[0] > contrasts[1] > contrasts[2]


def test_noise_falls_with_dose_and_is_reproducible() -> None:
    proj = _projection()
    sds = []
    for q in (2000.0, 50000.0):
        prof = _plain(quanta_per_mm2=q, electronic_noise=0.0)
        a = acquire(proj, profile=prof, spec=SPEC, seed=4).display
        b = acquire(proj, profile=prof, spec=SPEC, seed=4).display
        assert np.array_equal(a, b)
        flat = a[10:40, 40:70]  # soft tissue only
        sds.append(float(np.std(np.diff(flat, axis=1))))  # differences remove the scatter gradient
    assert sds[0] > 2 * sds[1]
    c = acquire(proj, profile=_plain(quanta_per_mm2=2000.0), spec=SPEC, seed=5).display
    assert not np.array_equal(c, acquire(proj, profile=_plain(quanta_per_mm2=2000.0), spec=SPEC, seed=4).display)


def test_bone_bright_soft_mid_air_dark() -> None:
    img = acquire(_projection(), profile=_plain(), spec=SPEC, seed=0).display
    bone, soft, air = img[60:100, 85:115].mean(), img[60:100, 40:70].mean(), img[60:100, 5:20].mean()
    assert bone > soft > air


def test_monochrome1_is_inverted_in_storage_and_bits_respected() -> None:
    proj = _projection()
    m2 = acquire(proj, profile=_plain(photometric="MONOCHROME2", bits_stored=12), spec=SPEC, seed=1)
    m1 = acquire(proj, profile=_plain(photometric="MONOCHROME1", bits_stored=12), spec=SPEC, seed=1)
    assert np.array_equal(m1.display, m2.display)
    assert np.array_equal(m1.stored.astype(int), 4095 - m2.stored.astype(int))
    for bits in (10, 16):
        out = acquire(proj, profile=_plain(bits_stored=bits), spec=SPEC, seed=1)
        assert out.stored.dtype == np.uint16 and int(out.stored.max()) <= (1 << bits) - 1
        assert out.meta["bits_stored"] == bits


def test_scatter_lowers_contrast_and_grid_restores_it() -> None:
    proj = _projection()

    def contrast(spec=SPEC, **kw) -> tuple[float, float]:
        prof = _plain(quanta_per_mm2=1e9, electronic_noise=0.0, **kw)
        out = acquire(proj, profile=prof, spec=spec, seed=0)
        d = out.display
        bone, soft, air = d[70:90, 92:108].mean(), d[70:90, 50:60].mean(), d[70:90, 5:15].mean()
        return float((bone - soft) / (soft - air)), out.meta["scatter_to_primary"]

    (c_nogrid, spr_nogrid), (c_grid, spr_grid) = contrast(grid=False), contrast(grid=True)
    assert spr_nogrid > spr_grid > 0 and c_grid > c_nogrid
    (c_thin, spr_thin), (c_fat, spr_fat) = contrast(spec=replace(SPEC, habitus=0.8)), contrast(
        spec=replace(SPEC, habitus=1.5))
    assert spr_fat > spr_thin and c_thin > c_fat


def test_collimation_marker_text_and_shield() -> None:
    proj = _projection()
    prof = replace(get_profile("proof_b"), collimation_prob=1.0, collimation_margin=(0.1, 0.1), marker_prob=1.0)
    out = acquire(proj, profile=prof, spec=SPEC, seed=2, marker="R")
    x0, y0, x1, y1 = out.meta["field_box"]
    assert (x0, y0) == (20, 16) and out.meta["marker"] == "R"
    # unexposed border is white (no black shutter on this profile)
    border = float(out.display[:, :x0].mean())
    assert border > out.display[60:100, 40:70].mean() + 0.1  # brighter than soft tissue
    assert border > out.display[H // 2, x0 + 2:x0 + 8].mean() + 0.3  # and than the air inside the field
    assert out.meta["marker_box"][0] < W / 2  # "R" sits on the image's left
    shut = acquire(proj, profile=replace(prof, black_shutter=True), spec=SPEC, seed=2)
    assert shut.display[H // 2, :x0].max() == 0.0
    shielded = acquire(proj, profile=prof, spec=replace(SPEC, extras={"gonad_shield": True}), seed=2)
    assert shielded.meta["gonad_shield"] and "shield_box" in shielded.meta


def test_profiles_differ_in_measurable_statistics() -> None:
    proj = _projection()
    stats = {}
    for name in PROFILES:
        prof = replace(get_profile(name), collimation_prob=0.0, marker_prob=0.0, burned_text=False)
        d = acquire(proj, profile=prof, spec=SPEC, seed=0).display
        flat = d[10:40, 40:70]
        stats[name] = (round(float(flat.mean()), 3), round(float(np.std(np.diff(flat, axis=1))), 4),
                       round(float(d[60:100, 85:115].mean() - flat.mean()), 3))
    assert len(set(stats.values())) == len(PROFILES)
    noise = [s[1] for s in stats.values()]
    assert max(noise) > 1.5 * min(noise)


def test_bad_projection_is_rejected() -> None:
    proj = _projection()
    bad = Projection(bone=proj.bone[:10], soft=proj.soft, labels=proj.labels, sij_boxes={}, geometry=proj.geometry)
    with pytest.raises(AcquisitionError):
        acquire(bad, profile=_plain(), spec=SPEC, seed=0)
