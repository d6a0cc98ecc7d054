"""Cone-beam AP geometry: patient pose, source/detector distances, volume mm -> detector pixels.

Frames. *Volume frame*: mm along the LPS array axes (x = patient's right -> left, y = anterior ->
posterior, z = inferior -> superior), origin at voxel (0, 0, 0). *Object frame*: the posed
patient, origin at the isocentre: ``q = R (p - centre) + offset``. The source sits anterior at
``(0, -sod, 0)``, the detector plane posterior at ``y = sid - sod`` (an AP film: the beam enters the
front). Detector column grows with x (the patient's right lands on the image's LEFT, standard
display), row grows inferiorly (-z); the central ray hits the detector centre.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Pose:
    """Patient pose and beam distances for one radiograph. Angles in degrees, lengths in mm.

    ``tilt_deg``: pelvic tilt about the left-right axis (positive: the top of the pelvis comes
    forward, towards the source: anterior tilt); ``axial_deg``: rotation about the long axis
    (positive: the patient's left goes back, towards the detector); ``inplane_deg``: rotation about the beam axis; ``offset_mm``: (x, z) shift of the
    pelvis from the central ray, at the object; ``sid_mm``/``sod_mm``: source-to-detector and
    source-to-isocentre distances (magnification at the isocentre = sid / sod).
    """

    tilt_deg: float = 0.0
    axial_deg: float = 0.0
    inplane_deg: float = 0.0
    offset_mm: tuple[float, float] = (0.0, 0.0)
    sid_mm: float = 1100.0
    sod_mm: float = 900.0

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else round(float(v), 4)) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Detector:
    height: int
    width: int
    pixel_spacing_mm: float

    @property
    def principal(self) -> tuple[float, float]:
        """(column, row) where the central ray lands (the detector centre, pixel-centre convention)."""
        return (self.width - 1) / 2.0, (self.height - 1) / 2.0


def rotation(pose: Pose) -> np.ndarray:
    """R = Ry(in-plane) @ Rz(axial) @ Rx(tilt), acting on volume-frame vectors."""
    t, a, i = (np.deg2rad(v) for v in (pose.tilt_deg, pose.axial_deg, pose.inplane_deg))
    rx = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(i), 0, np.sin(i)], [0, 1, 0], [-np.sin(i), 0, np.cos(i)]])
    return ry @ rz @ rx


def world_to_object(pose: Pose, centre: np.ndarray) -> np.ndarray:
    """4x4 homogeneous map volume-frame mm -> object-frame mm."""
    r = rotation(pose)
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = np.array([pose.offset_mm[0], 0.0, pose.offset_mm[1]]) - r @ np.asarray(centre, float)
    return m


def camera(pose: Pose, det: Detector) -> np.ndarray:
    """3x4 map object-frame homogeneous mm -> homogeneous (column, row) pixels."""
    f = pose.sid_mm / det.pixel_spacing_mm
    cu, cv = det.principal
    return np.array([
        [f, cu, 0.0, cu * pose.sod_mm],
        [0.0, cv, -f, cv * pose.sod_mm],
        [0.0, 1.0, 0.0, pose.sod_mm],
    ])


def projection_matrix(pose: Pose, det: Detector, centre: np.ndarray) -> np.ndarray:
    """3x4 map volume-frame homogeneous mm -> homogeneous pixels."""
    return camera(pose, det) @ world_to_object(pose, centre)


def project_points(points_mm: np.ndarray, pose: Pose, det: Detector, centre: np.ndarray) -> np.ndarray:
    """(N, 3) volume-frame points (x, y, z mm) -> (N, 2) (column, row) pixel coordinates."""
    p = np.c_[np.asarray(points_mm, float), np.ones(len(points_mm))]
    h = p @ projection_matrix(pose, det, centre).T
    return h[:, :2] / h[:, 2:3]


def room_ray_directions(pose: Pose, det: Detector, *, step: int = 1) -> np.ndarray:
    """Unit ray directions in the ROOM frame (source to each ``step``-th pixel centre): (H', W', 3)."""
    cu, cv = det.principal
    cols = (np.arange(0, det.width, step) + (step - 1) / 2.0 - cu) * det.pixel_spacing_mm
    rows = (np.arange(0, det.height, step) + (step - 1) / 2.0 - cv) * det.pixel_spacing_mm
    u, v = np.meshgrid(cols, rows)
    d = np.stack([u, np.full_like(u, pose.sid_mm), -v], axis=-1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def ray_directions(pose: Pose, det: Detector, *, step: int = 1) -> np.ndarray:
    """Unit ray directions in the VOLUME frame for every ``step``-th pixel centre: (H', W', 3)."""
    return room_ray_directions(pose, det, step=step) @ rotation(pose)  # R^T d for each row vector


def source_position(pose: Pose, centre: np.ndarray) -> np.ndarray:
    """The focal spot in the volume frame (mm)."""
    r = rotation(pose)
    s_obj = np.array([0.0, -pose.sod_mm, 0.0]) - np.array([pose.offset_mm[0], 0.0, pose.offset_mm[1]])
    return r.T @ s_obj + np.asarray(centre, float)


def sample_pose(rng: np.random.Generator, *, tilt_sd: float = 4.0, axial_sd: float = 2.5, inplane_sd: float = 1.5,
                offset_sd_mm: float = 10.0) -> Pose:
    """A random AP pose: Gaussian angles (clipped at 3 SD), 100-115 cm SID, 13-22 cm isocentre-detector
    (half the patient's depth plus table and grid: magnification ~1.13-1.25 at the isocentre)."""
    def g(sd: float) -> float:
        return float(np.clip(rng.normal(0.0, sd), -3 * sd, 3 * sd)) if sd > 0 else 0.0

    sid = float(rng.uniform(1000.0, 1150.0))
    oid = float(rng.uniform(130.0, 220.0))
    return Pose(tilt_deg=g(tilt_sd), axial_deg=g(axial_sd), inplane_deg=g(inplane_sd),
                offset_mm=(g(offset_sd_mm), g(offset_sd_mm)), sid_mm=sid, sod_mm=sid - oid)
