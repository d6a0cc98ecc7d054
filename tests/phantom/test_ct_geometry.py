"""CT route geometry: a sphere projects where and as large as cone-beam geometry says; label maps
equal a brute-force projection of the mask; patient's right lands on the image's left."""
from __future__ import annotations

import numpy as np
import pytest

from sijscan.phantom.ct.geometry import Detector, Pose, project_points, ray_directions, source_position
from sijscan.phantom.ct.projector import build_slabs, labels_from_occupancy, project
from sijscan.phantom.ct.synthetic import toy_case

SP = (1.0, 0.8, 0.9)  # z, y, x mm


def _sphere(centre_xyz, r, shape=(110, 130, 120)):
    z, y, x = np.meshgrid(*(np.arange(n) * s for n, s in zip(shape, SP)), indexing="ij")
    inside = (x - centre_xyz[0]) ** 2 + (y - centre_xyz[1]) ** 2 + (z - centre_xyz[2]) ** 2 <= r * r
    return inside.astype(np.float32) * 0.05, inside.astype(np.uint8)


@pytest.mark.parametrize("shift_y", [0.0, 30.0])
def test_sphere_projects_to_the_cone_beam_disc(shift_y):
    c = np.array([55.0, 50.0, 55.0])
    bone, lab = _sphere(c + [0, shift_y, 0] if shift_y else c, 22.0)
    slabs = build_slabs(bone, lab, None, SP)
    pose, det = Pose(sid_mm=1000.0, sod_mm=800.0), Detector(200, 256, 0.5)
    out = project(slabs, pose, det, c)
    labels = labels_from_occupancy(out["occ"])
    dist = 800.0 + shift_y  # source to sphere centre
    r_px = 1000.0 * 22.0 / np.sqrt(dist**2 - 22.0**2) / 0.5  # tangent cone of a sphere
    assert (labels == 1).sum() == pytest.approx(np.pi * r_px**2, rel=0.02)
    rows, cols = np.nonzero(labels == 1)
    assert cols.mean() == pytest.approx(det.principal[0], abs=0.3)
    assert rows.mean() == pytest.approx(det.principal[1], abs=0.3)
    assert out["bone"].max() == pytest.approx(2 * 22.0 * 0.05, rel=0.03)  # the central chord


def test_posed_sphere_lands_where_its_centre_projects():
    c = np.array([55.0, 50.0, 55.0])
    bone, lab = _sphere(c + [15.0, 0.0, -10.0], 15.0)
    slabs = build_slabs(bone, lab, None, SP)
    pose = Pose(tilt_deg=8.0, axial_deg=-6.0, inplane_deg=4.0, offset_mm=(12.0, -7.0), sid_mm=1050.0, sod_mm=850.0)
    det = Detector(180, 220, 0.6)
    labels = labels_from_occupancy(project(slabs, pose, det, c)["occ"])
    rows, cols = np.nonzero(labels == 1)
    expect = project_points((c + [15.0, 0.0, -10.0])[None], pose, det, c)[0]
    assert cols.mean() == pytest.approx(expect[0], abs=0.5) and rows.mean() == pytest.approx(expect[1], abs=0.5)


def test_pose_conventions_follow_the_documented_axes():
    c = np.array([0.0, 0.0, 0.0])
    det = Detector(400, 400, 0.5)
    sup, left = np.array([[0.0, 0.0, 50.0]]), np.array([[50.0, 0.0, 0.0]])
    t = np.deg2rad(10.0)
    # tilt +10: the top of the pelvis comes forward (towards the source, so more magnified)
    row = project_points(sup, Pose(tilt_deg=10.0, sid_mm=1000.0, sod_mm=800.0), det, c)[0, 1]
    assert row == pytest.approx(199.5 - 50 * np.cos(t) * 1000.0 / (800.0 - 50 * np.sin(t)) / 0.5, abs=1e-6)
    # axial +10: the patient's left (+x) goes back (towards the detector, less magnified)
    col = project_points(left, Pose(axial_deg=10.0, sid_mm=1000.0, sod_mm=800.0), det, c)[0, 0]
    assert col == pytest.approx(199.5 + 50 * np.cos(t) * 1000.0 / (800.0 + 50 * np.sin(t)) / 0.5, abs=1e-6)
    # in-plane +10 about the beam: the patient's left rises or falls, the magnification stays
    uv = project_points(left, Pose(inplane_deg=10.0, sid_mm=1000.0, sod_mm=800.0), det, c)[0]
    assert np.hypot(uv[0] - 199.5, uv[1] - 199.5) == pytest.approx(50 * 1000.0 / 800.0 / 0.5, abs=1e-6)
    assert abs(uv[1] - 199.5) == pytest.approx(50 * np.sin(t) * 1000.0 / 800.0 / 0.5, abs=1e-6)


def test_label_map_matches_brute_force_ray_casting():
    case = toy_case(spacing=2.0)
    bone = (case.hu > 0).astype(np.float32) * 0.01
    slabs = build_slabs(bone, case.labels, None, case.spacing)
    c = np.array([80.0, 45.0, 60.0])
    pose, det = Pose(tilt_deg=6.0, axial_deg=5.0, sid_mm=1000.0, sod_mm=800.0), Detector(60, 80, 3.0)
    fast = labels_from_occupancy(project(slabs, pose, det, c)["occ"])
    # brute force: march every ray at 0.25 mm and read the mask (nearest voxel)
    d = ray_directions(pose, det)
    o = source_position(pose, c)
    ref = np.zeros(fast.shape, np.uint8)
    for t in np.arange(700.0, 900.0, 0.25):
        p = o + t * d
        idx = np.floor(p[..., ::-1] / 2.0).astype(int)  # z, y, x voxel
        ok = np.all((idx >= 0) & (idx < case.labels.shape), axis=-1)
        idx = np.clip(idx, 0, np.array(case.labels.shape) - 1)
        v = np.where(ok, case.labels[idx[..., 0], idx[..., 1], idx[..., 2]], 0)
        ref = np.where((v == 3) & (ref == 0), 2, ref)  # right hip -> image-left label 2
        ref = np.where((v == 2) & (ref == 0), 3, ref)
        ref = np.where(v == 1, 1, ref)
    for k in (1, 2, 3):
        inter = ((fast == k) & (ref == k)).sum()
        union = ((fast == k) | (ref == k)).sum()
        assert union > 50 and inter / union > 0.9, k


def test_patient_right_is_on_the_image_left_and_superior_is_up():
    case = toy_case(spacing=2.0)
    slabs = build_slabs((case.hu > 0).astype(np.float32) * 0.01, case.labels, None, case.spacing)
    det = Detector(90, 120, 2.0)
    labels = labels_from_occupancy(project(slabs, Pose(), det, np.array([80.0, 45.0, 60.0]))["occ"])
    cols = {k: np.nonzero(labels == k)[1].mean() for k in (1, 2, 3)}
    assert cols[2] < cols[1] < cols[3]  # label 2 (patient's right hip) on the image's left
    rows_sacrum = np.nonzero(labels == 1)[0]
    rows_hip = np.nonzero(labels == 2)[0]
    assert rows_hip.max() > rows_sacrum.max() + 10  # hips reach lower (z 10 mm) than the sacrum (z 50 mm)


def test_torch_backend_matches_opencv():
    case = toy_case(spacing=2.0)
    slabs = build_slabs((case.hu > 0).astype(np.float32) * 0.01, case.labels, None, case.spacing)
    pose, det = Pose(tilt_deg=5.0, axial_deg=-4.0, inplane_deg=2.0), Detector(50, 64, 3.0)
    c = np.array([80.0, 45.0, 60.0])
    a = project(slabs, pose, det, c)
    b = project(slabs, pose, det, c, device="torch-cpu")
    assert np.abs(a["bone"] - b["bone"]).max() < 1e-3 * a["bone"].max()
    assert (labels_from_occupancy(a["occ"]) != labels_from_occupancy(b["occ"])).mean() < 0.01
