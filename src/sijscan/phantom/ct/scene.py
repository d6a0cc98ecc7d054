"""What a :class:`~sijscan.phantom.ct.realism.CTRealism` adds around the CT: field of view, implant,
table, lumbar spine and ribs, bowel loops, bladder contrast, psoas (used by ``render``)."""
from __future__ import annotations

import logging
import zlib
from dataclasses import replace

import cv2
import numpy as np

from sijscan.phantom.ct import body as ct_body
from sijscan.phantom.ct import metal, organs
from sijscan.phantom.ct.case import CTCase
from sijscan.phantom.ct.geometry import Detector, Pose
from sijscan.phantom.ct.joint import SIDES, find_joint, joint_points_mm
from sijscan.phantom.ct.realism import CTRealism
from sijscan.phantom.ct.spine import lumbar_with_ribs, s1_endplate
from sijscan.phantom.ct.table import sample_table, table_line_integral
from sijscan.phantom.profiles import AcquisitionProfile

logger = logging.getLogger(__name__)

FOV = {"sij": (240.0, None, "joints"), "pelvis": (430.0, None, 0.0), "abdomen": (350.0, 430.0 / 350.0, 70.0)}
"""fov -> (detector's long side mm, aspect height/width or None for the profile's, superior shift of
the central ray above the pelvis centre mm or "joints": onto the SIJs). "abdomen": a 35 x 43 cm
portrait cassette from the lower ribs to the hips; "sij": a collimated view of both joints."""


def joint_centres(case: CTCase) -> dict[str, np.ndarray]:
    """side -> (x, y, z mm): the median of that joint's surface points (cached on the case)."""
    if "joint_centres" not in case.cache:
        case.cache["joint_centres"] = {s: np.median(joint_points_mm(case, find_joint(case, s)), axis=0) for s in SIDES}
    return case.cache["joint_centres"]


def apply_fov(profile: AcquisitionProfile, pose: Pose, realism: CTRealism, *, case: CTCase,
              centre: np.ndarray) -> tuple[AcquisitionProfile, Pose]:
    """The profile's field and the pose's central ray for ``realism.fov`` ("profile": unchanged)."""
    if realism.fov == "profile":
        return profile, pose
    long_mm, aspect, shift = FOV[realism.fov]
    if shift == "joints":
        shift = float(np.mean([c[2] for c in joint_centres(case).values()]) - centre[2])
    prof = replace(profile, field_long_mm=long_mm, aspect=aspect or profile.aspect)
    return prof, replace(pose, offset_mm=(pose.offset_mm[0], pose.offset_mm[1] - float(shift)))


def realism_rng(realism: CTRealism, case: CTCase, what: str) -> np.random.Generator:
    return np.random.default_rng([int(realism.seed), zlib.crc32(f"{what}{case.name}".encode())])


def implant_volume(case: CTCase, realism: CTRealism) -> tuple[np.ndarray, np.ndarray] | None:
    """(metal mu volume, origin) of ``realism``'s implant, or None (no implant, no acetabulum found)."""
    rng = realism_rng(realism, case, "implant")
    if realism.implant == "screws":
        return metal.sij_screws(case, realism.implant_side, rng, metal="ti" if realism.metal == "ti" else "steel")
    if realism.implant == "hip":
        head = case.cache.get("femoral_heads", {}).get(realism.implant_side)
        if head is None:
            logger.warning("%s: no %s acetabulum found; no hip implant", case.name, realism.implant_side)
            return None
        return metal.hip_implant(np.asarray(head["centre_mm"]), float(head["radius_mm"]), realism.implant_side, rng,
                                 metal=realism.metal)
    return None


def lumbar_volumes(case: CTCase) -> list[tuple[np.ndarray, np.ndarray]]:
    """L5-T11 and the lower ribs (HU volumes, origins), fixed per case like the femora."""
    return lumbar_with_ribs(case, np.random.default_rng(zlib.crc32(("lumbar" + case.name).encode())))


def extra_gas(case: CTCase, realism: CTRealism) -> list[tuple[np.ndarray, np.ndarray]]:
    return organs.gas_over_joints(joint_centres(case), amount=realism.gas_over_sij,
                                  rng=realism_rng(realism, case, "gas"))


def added_soft(case: CTCase, realism: CTRealism, prep: dict, *, pose: Pose, det: Detector, centre: np.ndarray,
               y_back: float) -> np.ndarray:
    """Soft-channel line integral of the psoas shadows and the table (H, W) float32 (may be negative)."""
    out = np.zeros((det.height, det.width), np.float32)
    if realism.psoas:
        step = 2
        small = np.zeros(((det.height + 1) // step, (det.width + 1) // step), np.float64)
        blobs = organs.psoas(s1_endplate(case), prep["bone_lo"], prep["bone_hi"], realism_rng(realism, case, "psoas"))
        ct_body.add_ellipsoids(small, blobs, pose=pose, det=det, centre=centre, step=step)
        out += cv2.resize(small.astype(np.float32), (det.width, det.height), interpolation=cv2.INTER_LINEAR)
    if realism.table:
        out += table_line_integral(sample_table(y_back, realism_rng(realism, case, "table")), pose=pose, det=det)
    return out


def added_bone(case: CTCase, realism: CTRealism, prep: dict, *, pose: Pose, det: Detector,
               centre: np.ndarray) -> np.ndarray | None:
    """Bone-channel line integral of the bladder's contrast, or None."""
    blobs = organs.bladder(prep["bone_lo"], prep["bone_hi"], contrast_mg_ml=realism.bladder_contrast_mg_ml,
                           rng=realism_rng(realism, case, "bladder"))
    if not blobs:
        return None
    step = 2
    small = np.zeros(((det.height + 1) // step, (det.width + 1) // step), np.float64)
    ct_body.add_ellipsoids(small, blobs, pose=pose, det=det, centre=centre, step=step)
    return cv2.resize(small.astype(np.float32), (det.width, det.height), interpolation=cv2.INTER_LINEAR)
