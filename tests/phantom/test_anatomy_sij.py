"""The SIJ in the anatomy renderer: grades as monotone image changes, sides, follow-up visits, mimics."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from sijscan.phantom.body_model import render_projection
from sijscan.phantom.spec import CaseSpec, Geometry, Projection

# 0.5 mm pixels, centred: the SIJs are well inside the 256 x 240 mm field (the CT-derived joints
# reach 115 mm above the pelvis centre)
G = Geometry(height=480, width=512, pixel_spacing_mm=0.5)


def _render(**kw) -> Projection:
    kw.setdefault("anatomy_seed", 1)
    return render_projection(CaseSpec(**kw), G)


def _across_joint(p: Projection, side: str, offsets_mm: np.ndarray) -> np.ndarray:
    """Bone sampled across the anterior (sacral-margin) line of the synovial part, rows = offsets
    (mm, + = lateral/iliac side), columns = positions along the joint. Uses only the image and the
    joint polyline recorded in ``info``."""
    pts = np.array(p.info["joint_lines"][side]["anterior"], dtype=float)
    t = np.gradient(pts, axis=0)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    n = np.stack([t[:, 1], -t[:, 0]], axis=1)
    lateral = 1.0 if side == "image_right" else -1.0
    n = np.where((n[:, :1] * lateral) < 0, -n, n)
    k = slice(len(pts) // 5, len(pts) - 2)
    sp = G.pixel_spacing_mm
    rows = []
    for o in offsets_mm:
        q = pts[k] + n[k] * o / sp
        rows.append(map_coordinates(p.bone, [q[:, 1], q[:, 0]], order=1))
    return np.array(rows)


OFFS = np.arange(-6.0, 12.5, 0.5)


def lucency(p: Projection, side: str) -> float:
    """Contrast of the joint space: surrounding bone minus the darkest value in the gap zone."""
    s = _across_joint(p, side, OFFS)
    gap = s[(OFFS >= 0) & (OFFS <= 4)].min(axis=0)
    ref = 0.5 * (s[OFFS == -5.0][0] + s[OFFS == 9.0][0])
    return float(np.mean(ref - gap))


def sharpness(p: Projection, side: str) -> float:
    """Steepest change across the joint (mm^-1), averaged along it: high for crisp cortical lines."""
    s = _across_joint(p, side, OFFS)
    return float(np.mean(np.abs(np.diff(s, axis=0)).max(axis=0) / (OFFS[1] - OFFS[0])))


def roughness(p: Projection, side: str) -> float:
    """Irregularity of the iliac margin along the joint (erosions): spread of point-to-point changes."""
    s = _across_joint(p, side, OFFS)
    margin = s[(OFFS >= 1) & (OFFS <= 5)].mean(axis=0)
    return float(np.std(np.diff(margin)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_grade_features_are_monotone(seed: int) -> None:
    sev = [0.0, 1.5, 2.5, 3.5, 4.0, 4.5]
    ps = {v: _render(anatomy_seed=seed, severity_left=v, severity_right=v) for v in sev}
    for side in ("image_left", "image_right"):
        luc = {v: lucency(ps[v], side) for v in sev}
        rough = {v: roughness(ps[v], side) for v in sev}
        sharp = {v: sharpness(ps[v], side) for v in sev}
        # suspicious: the margins blur
        assert sharp[0.0] > sharp[1.5], (side, sharp)
        # erosions grow from minimal to unequivocal
        assert rough[1.5] < rough[2.5] < rough[3.5], (side, rough)
        # the joint space fades toward ankylosis, leaving at most a ghost
        assert luc[0.0] > luc[1.5] and luc[3.5] > luc[4.0] > luc[4.5], (side, luc)
        assert luc[4.5] < 0.6 * luc[0.0], (side, luc)


def test_features_interpolate_smoothly_between_grades() -> None:
    """No jumps at grade boundaries: equal severity steps give comparable image changes."""
    grid = np.linspace(1.0, 4.0, 13)
    imgs = [_render(severity_left=v).bone for v in grid]
    steps = np.array([np.abs(b - a).sum() for a, b in zip(imgs[:-1], imgs[1:])])
    assert (steps > 0).all()
    assert steps.max() < 3.0 * steps.mean()


def test_patient_left_severity_changes_only_the_image_right_joint() -> None:
    base, sick = _render(), _render(severity_left=3.5)
    # bone displaces soft tissue, so both integrals may change, but only at that joint
    diff = (np.abs(sick.bone - base.bone) > 1e-6) | (np.abs(sick.soft - base.soft) > 1e-6)
    assert diff.any()
    ys, xs = np.nonzero(diff)
    x0, y0, x1, y1 = sick.info["sij_effect_boxes"]["image_right"]
    assert (xs >= x0).all() and (xs < x1).all() and (ys >= y0).all() and (ys < y1).all()
    lx0, _, lx1, _ = base.sij_boxes["image_left"]
    assert not diff[:, lx0:lx1].any()  # the image-left joint (patient's right) is untouched
    np.testing.assert_array_equal(base.labels, sick.labels)
    assert base.sij_boxes == sick.sij_boxes


def test_follow_up_visit_is_the_same_patient_with_progressed_joints() -> None:
    v1 = _render(anatomy_seed=9, severity_left=1.5, severity_right=2.0)
    v2 = _render(anatomy_seed=9, severity_left=3.0, severity_right=3.5)
    delta = np.abs(v2.bone - v1.bone)
    inside = np.zeros(delta.shape, bool)
    for side in ("image_left", "image_right"):
        x0, y0, x1, y1 = v1.sij_boxes[side]
        inside[y0:y1, x0:x1] = True
        assert delta[y0:y1, x0:x1].max() > 0.1, side  # visibly different inside each joint box
    # outside the true boxes: unchanged, apart from the faint sclerosis tail of the iliac side
    assert float(np.quantile(delta[~inside], 0.99)) < 0.01
    assert float(delta[inside].sum()) > 2.0 * float(delta[~inside].sum())
    # lesion sites come from the seed: the erosions of visit 2 include those of visit 1
    e1 = v1.info["sij"]["image_right"]["erosion_mm_max"]
    e2 = v2.info["sij"]["image_right"]["erosion_mm_max"]
    assert e2 > e1


def test_mimics_change_only_the_joint_regions_and_spare_the_joint_space() -> None:
    base = _render()
    for knob in ("osteitis_condensans", "degenerative"):
        p = _render(**{knob: 1.0})
        diff = np.abs(p.bone - base.bone) > 1e-6
        assert diff.sum() > 100, knob
        ys, xs = np.nonzero(diff)
        ok = np.zeros(diff.shape, bool)
        for side in ("image_left", "image_right"):
            x0, y0, x1, y1 = p.info["sij_effect_boxes"][side]
            ok[y0:y1, x0:x1] = True
        assert ok[ys, xs].all(), knob
        for side in ("image_left", "image_right"):
            # a mimic keeps the joint space (no erosions, no ankylosis-level loss of the gap)
            assert lucency(p, side) > 0.6 * lucency(base, side), (knob, side)
    # osteitis condensans: density on the iliac (lateral) side of the lower joint, not the sacral side
    oci = _render(osteitis_condensans=1.0)
    d = _across_joint(oci, "image_right", OFFS) - _across_joint(base, "image_right", OFFS)
    assert d[(OFFS >= 5) & (OFFS <= 10)].mean() > 0.1
    assert abs(d[OFFS <= -3].mean()) < 0.02
