"""Sacroiliitis inserted in 3-D: only voxels near the joint change, more with every grade, and the
radiograph changes only inside that side's true SIJ box."""
from __future__ import annotations

import numpy as np
import pytest

from sijscan.phantom.ct.geometry import Detector, Pose
from sijscan.phantom.ct.joint import find_joint, lesion_block, lesion_plan
from sijscan.phantom.ct.render import ct_projection
from sijscan.phantom.ct.synthetic import toy_case


@pytest.fixture(scope="module")
def case():
    return toy_case(spacing=1.0)


def test_joint_found_with_the_gap_it_has(case):
    for side in ("left", "right"):
        stats = find_joint(case, side).stats
        assert stats["gap_mm_median"] == pytest.approx(3.0, abs=1.01)  # toy gap 3 mm (voxel-centre distances)
        assert stats["height_mm"] == pytest.approx(60.0, abs=5.0)  # sacrum z 50-110 beside the ilium, +< 5 mm


@pytest.mark.parametrize("side", ["left", "right"])
def test_lesions_near_the_joint_only_and_monotone_in_grade(case, side):
    joint = find_joint(case, side)
    plan = lesion_plan(joint, rng=3)
    base = case.hu[joint.roi].astype(np.float32)
    assert lesion_block(case, joint, 0, plan) is None
    prev_changed, prev_amount = np.zeros(base.shape, bool), 0.0
    for grade in (1, 2, 3, 4):
        block = lesion_block(case, joint, grade, plan)
        changed = block != base
        near = (joint.d_sacrum <= 12.0) & (joint.d_ilium <= 12.0)  # close to BOTH bones (0 inside one)
        assert changed.any() and not (changed & ~near).any(), grade
        assert not (prev_changed & ~changed).any(), grade  # a superset of the lower grade's voxels
        amount = float(np.abs(block - base).sum())
        assert amount > prev_amount, grade
        prev_changed, prev_amount = changed, amount
    assert np.mean(lesion_block(case, joint, 4, plan)[joint.gap] >= 400) >= 0.75  # grade 4: mostly bridged
    assert (lesion_block(case, joint, 4.5, plan)[joint.gap] >= 400).all()  # a fully fused joint: the whole gap
    assert np.array_equal(case.hu[joint.roi], base)  # the case itself is left untouched


def test_radiograph_changes_only_inside_the_lesioned_joint_box(case):
    pose, det = Pose(tilt_deg=3.0, axial_deg=2.0), Detector(96, 128, 1.6)
    kw = dict(pose=pose, det=det, rng=np.random.default_rng(0))
    p0 = ct_projection(case, grades={"left": 0, "right": 0}, **kw)
    kw["rng"] = np.random.default_rng(0)
    p4 = ct_projection(case, grades={"left": 4, "right": 0}, **kw)
    diff = np.abs(p4.bone - p0.bone) > 1e-4
    assert diff.any()
    x0, y0, x1, y1 = p4.sij_boxes["image_right"]  # the patient's left joint is on the image's right
    inside = np.zeros_like(diff)
    inside[y0:y1, x0:x1] = True
    assert not (diff & ~inside).any()
    assert np.array_equal(p0.labels, p4.labels)  # lesions never move the bone outlines
    bx0, _, bx1, _ = p4.sij_boxes["image_left"]
    assert bx1 <= x0  # the two joints' boxes do not overlap in the toy


def test_only_the_lesions_gas_is_taken_as_gas():
    """A CT with its own air near the joint (bowel gas of a soft-tissue CT) keeps it as it is; only gas
    that the vacuum phenomenon put into the joint takes the joint's water out."""
    from dataclasses import replace

    from sijscan.phantom.ct.joint import GAS_HU
    from sijscan.phantom.ct.slabs import pooled_lesion, prepared
    from sijscan.phantom.lesions import Mimics

    base = toy_case(spacing=2.0)
    hu = base.hu.astype(np.int16).copy()
    joint = find_joint(base, "right")
    air = np.zeros(hu.shape, bool)
    air[joint.roi] = ~joint.gap  # the joint space itself holds soft tissue (0 HU)
    air &= base.labels == 0
    hu[air] = -1000  # the CT's own air around the joint
    case = replace(base, hu=hu, soft_tissue=True, cache={})
    joint = find_joint(case, "right")
    plan = lesion_plan(joint, rng=5)
    slabs = prepared(case, 1)["slabs"]
    no_gas = lesion_block(case, joint, 0.0, plan, Mimics(osteitis_condensans=1.0))
    assert float(pooled_lesion(slabs, case, joint.roi, no_gas)[1].min()) >= 0.0
    gas = lesion_block(case, joint, 0.0, plan, Mimics(degenerative=1.0, vacuum=True))
    assert (gas == GAS_HU).any() and float(pooled_lesion(slabs, case, joint.roi, gas)[1].min()) < 0.0
