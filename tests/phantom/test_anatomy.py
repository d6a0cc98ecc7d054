"""Tests of the phantom's anatomy renderer (labels, boxes, determinism, geometry, inputs)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from sijscan.errors import InputError
from sijscan.phantom.body_model import render_projection
from sijscan.phantom.spec import CaseSpec, Geometry, Projection

SMALL = Geometry(height=192, width=256, pixel_spacing_mm=1.6)
MID = Geometry(height=384, width=512, pixel_spacing_mm=0.8)


def _render(geometry: Geometry = SMALL, **kw) -> Projection:
    kw.setdefault("anatomy_seed", 7)
    return render_projection(CaseSpec(**kw), geometry)


def test_output_types_and_units() -> None:
    p = _render()
    assert p.bone.shape == p.soft.shape == p.labels.shape == (192, 256)
    assert p.bone.dtype == np.float32 and p.soft.dtype == np.float32 and p.labels.dtype == np.uint8
    assert np.isfinite(p.bone).all() and np.isfinite(p.soft).all()
    assert p.bone.min() >= 0 and p.soft.min() >= 0
    # soft tissue through the middle of a textbook abdomen: ~20-25 cm of tissue at 0.02/mm
    assert 3.0 < float(np.median(p.soft[80:110, 110:146])) < 6.5
    # bones add about 1-4 where they overlap, never tens
    assert 0.8 < float(p.bone.max()) < 6.0
    assert p.geometry == SMALL


def test_info_is_plain_json_with_landmarks_in_pixels() -> None:
    p = _render(severity_left=2.0)
    info = json.loads(json.dumps(p.info))
    for side in ("image_left", "image_right"):
        hx, hy = info["femoral_head_centres"][side]
        assert 0 <= hx < SMALL.width and 0 <= hy < SMALL.height
        assert len(info["joint_lines"][side]["anterior"]) > 10
    x0, y0, x1, y1 = info["sacrum_box"]
    ys, xs = np.nonzero(p.labels == 1)
    assert abs(xs.min() - x0) <= 2 and abs(xs.max() + 1 - x1) <= 2 and abs(ys.min() - y0) <= 2
    assert info["sij"]["image_right"]["severity"] == 2.0 and info["sij"]["image_left"]["severity"] == 0.0


def test_deterministic_and_seeded() -> None:
    a, b = _render(), _render()
    np.testing.assert_array_equal(a.bone, b.bone)
    np.testing.assert_array_equal(a.soft, b.soft)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.sij_boxes == b.sij_boxes
    c = _render(anatomy_seed=8)
    assert not np.array_equal(a.bone, c.bone)
    assert not np.array_equal(a.labels, c.labels)


def test_labels_sides_and_consistency_with_bone() -> None:
    p = _render(MID)
    lab = p.labels
    assert set(np.unique(lab).tolist()) == {0, 1, 2, 3}
    cols = {k: np.nonzero(lab == k)[1].mean() for k in (1, 2, 3)}
    w = lab.shape[1]
    assert cols[2] < cols[1] < cols[3]
    assert w / 3 < cols[1] < 2 * w / 3
    ys, xs = np.nonzero(lab == 1)
    assert w / 3 < xs.min() and xs.max() < 2 * w / 3
    # every labelled pixel holds bone; the sacrum carries a real bone integral, of the order of the
    # hip bones' (the real CTs: sacrum alone / hip bone median line integral 0.74-0.88)
    assert (p.bone[lab > 0] > 0).all()
    hips = float(p.bone[lab >= 2].mean())
    assert 0.6 * hips < float(p.bone[lab == 1].mean()) < 1.6 * hips and float(p.bone[lab == 1].mean()) > 0.3
    # the hip bones are mirror-ish: similar areas
    a2, a3 = (lab == 2).sum(), (lab == 3).sum()
    assert 0.8 < a2 / a3 < 1.25


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("sex", ["M", "F"])
def test_hip_meets_dilated_sacrum_inside_true_box(seed: int, sex: str) -> None:
    """The paper's SIJ localisation: dilate the sacrum by 5% of its width, intersect each hip bone."""
    p = _render(MID, anatomy_seed=seed, sex=sex)
    sac = (p.labels == 1).astype(np.uint8)
    xs = np.nonzero(sac)[1]
    r = max(1, int(round(0.05 * (xs.max() - xs.min() + 1))))
    dil = cv2.dilate(sac, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    for value, side in ((2, "image_left"), (3, "image_right")):
        inter = (dil > 0) & (p.labels == value)
        assert inter.sum() > 20, side
        x0, y0, x1, y1 = p.sij_boxes[side]
        iy, ix = np.nonzero(inter)
        assert (ix >= x0).all() and (ix < x1).all() and (iy >= y0).all() and (iy < y1).all(), side


def test_sij_boxes_hold_both_joint_lines() -> None:
    p = _render(MID, anatomy_seed=4, axial_rotation_deg=6.0, inplane_rotation_deg=4.0)
    for side in ("image_left", "image_right"):
        x0, y0, x1, y1 = p.sij_boxes[side]
        assert 0 <= x0 < x1 <= MID.width and 0 <= y0 < y1 <= MID.height
        for name in ("anterior", "posterior"):
            pts = np.array(p.info["joint_lines"][side][name])
            assert (pts[:, 0] >= x0).all() and (pts[:, 0] < x1).all()
            assert (pts[:, 1] >= y0).all() and (pts[:, 1] < y1).all()
        # about 6-7 cm of joint: the box is taller than 55 mm, narrower than it is tall
        h_mm, w_mm = (y1 - y0) * 0.8, (x1 - x0) * 0.8
        assert 55 < h_mm < 110 and w_mm < h_mm
    assert p.sij_boxes["image_left"][2] <= p.sij_boxes["image_right"][0]


def test_same_anatomy_at_another_geometry() -> None:
    a, b = _render(SMALL), _render(MID)
    for side in ("image_left", "image_right"):
        ha = np.array(a.info["femoral_head_centres"][side])
        hb = np.array(b.info["femoral_head_centres"][side])
        # pixel centres: x_mid = 2 * x_small + 0.5 for a grid twice as fine
        np.testing.assert_allclose(hb, 2 * ha + 0.5, atol=0.03)  # info rounds to 0.01 px
        np.testing.assert_allclose(np.array(b.sij_boxes[side]), 2 * np.array(a.sij_boxes[side]), atol=3)
    frac = [(p.labels == k).mean() for p in (a, b) for k in (1, 2, 3)]
    np.testing.assert_allclose(frac[:3], frac[3:], rtol=0.06)


def test_male_and_female_shapes_differ() -> None:
    for seed in (1, 5):
        m, f = _render(anatomy_seed=seed, sex="M"), _render(anatomy_seed=seed, sex="F")
        # the arch comes from the real CTs' hip bones (no sex labels; 95-130 degrees as projected):
        # the sexes differ by the pelvis' proportions only, so the woman's arch is wider, not < 70 / > 90
        m_a, f_a = m.info["subpubic_angle_deg"], f.info["subpubic_angle_deg"]
        assert 60 < m_a < f_a - 5, (m_a, f_a)
        assert f.info["inlet_ratio"] > m.info["inlet_ratio"]


def test_tilt_foreshortens_and_rotation_makes_sides_unequal() -> None:
    flat, tilted = _render(MID), _render(MID, pelvic_tilt_deg=15.0)
    h = lambda p: np.ptp(np.nonzero(p.labels == 1)[0])  # noqa: E731
    assert h(tilted) < 0.95 * h(flat)
    straight, rotated = _render(MID), _render(MID, axial_rotation_deg=10.0)

    def asym(p: Projection) -> float:
        return float((p.labels == 3).sum() / (p.labels == 2).sum())

    assert abs(asym(rotated) - 1.0) > abs(asym(straight) - 1.0) + 0.03


@pytest.mark.parametrize(
    "kw",
    [
        {"severity_left": 7.0},
        {"bowel_gas": 1.5},
        {"sex": "X"},
        {"body_scale": 0.1},
        {"axial_rotation_deg": 60.0},
    ],
)
def test_bad_spec_is_an_input_error(kw: dict) -> None:
    with pytest.raises(InputError):
        _render(**kw)


def test_bad_geometry_is_an_input_error() -> None:
    with pytest.raises(InputError):
        render_projection(CaseSpec(anatomy_seed=1), Geometry(height=8, width=8, pixel_spacing_mm=1.0))
    with pytest.raises(InputError):
        render_projection(CaseSpec(anatomy_seed=1), Geometry(height=64, width=64, pixel_spacing_mm=0.0))


@pytest.mark.parametrize(
    "kw",
    [
        {"pelvic_tilt_deg": -30.0, "axial_rotation_deg": 25.0, "inplane_rotation_deg": -20.0},
        {"center_offset": (0.45, -0.35), "body_scale": 1.5, "habitus": 2.5},
        {"sex": "F", "body_scale": 0.6, "habitus": 0.4, "severity_left": 5.0, "severity_right": -0.5},
        {"osteitis_condensans": 1.0, "degenerative": 1.0, "hip_narrowing": 1.0, "syndesmophytes": 1.0, "enthesitis": 1.0, "bowel_gas": 1.0},
    ],
)
def test_extreme_but_allowed_specs_render_consistently(kw: dict) -> None:
    p = _render(**kw)
    assert np.isfinite(p.bone).all() and np.isfinite(p.soft).all()
    assert p.bone.min() >= 0 and p.soft.min() >= 0
    assert (p.bone[p.labels > 0] > 0).all()
    for x0, y0, x1, y1 in p.sij_boxes.values():
        assert 0 <= x0 <= x1 <= SMALL.width and 0 <= y0 <= y1 <= SMALL.height
