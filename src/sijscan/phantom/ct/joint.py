"""The sacroiliac joints of a CT case: surfaces, gap, and sacroiliitis inserted in 3-D per mNY grade.

A joint is found where sacrum and ilium come within ``JOINT_MM`` of each other (Euclidean
distance transforms in mm, scipy); the gap is the non-bone space between them. Lesions, all on
that side's joint only, grow with the grade (the same sites at every grade, so a higher grade
changes a superset of the voxels a lower grade changes, and by at least as much):

* erosions: small spherical voids on the iliac subchondral bone (1-2 at grade 1, many and larger,
  "postage-stamp", at grade 3), in the lower two thirds (the synovial part);
* subchondral sclerosis: a density increase on the iliac side (half of it on the sacral side)
  fading over a band 3-12 mm wide;
* joint-space change: pseudo-widening (confluent erosions of the iliac surface) or narrowing
  (bone added to the iliac surface) at grade 3;
* ankylosis: bony bridges across the gap (partial, grade 3 in some joints) and the whole gap
  filled at grade 4 (the joint line disappears).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from sijscan.phantom.ct.case import VOL_HIP_LEFT, VOL_HIP_RIGHT, VOL_SACRUM, CTCase, CTCaseError

logger = logging.getLogger(__name__)

JOINT_MM = 6.5
"""Sacrum and ilium voxels closer than this to the other bone form the joint surfaces."""
GAP_MAX_MM = 10.0
ROI_PAD_MM = 14.0
SIDES = ("left", "right")  # patient's sides
_ILIUM = {"left": VOL_HIP_LEFT, "right": VOL_HIP_RIGHT}

# per grade 0..4 (non-decreasing): erosion count, erosion radius range (mm), sclerosis HU, band (mm)
N_EROSIONS = (0, 2, 7, 22, 22)
EROSION_MM = ((0, 0), (0.8, 1.4), (1.0, 2.0), (1.4, 2.8), (1.4, 2.8))
SCLEROSIS_HU = (0.0, 60.0, 160.0, 380.0, 380.0)
SCLEROSIS_BAND_MM = (0.0, 3.0, 5.0, 10.0, 10.0)
BRIDGE_HU = 420.0


@dataclass
class Joint:
    """One side's joint in ROI coordinates: ``roi`` slices (z, y, x) into the case volume."""

    side: str
    roi: tuple[slice, slice, slice]
    d_sacrum: np.ndarray  # mm from the sacrum (0 inside), float32
    d_ilium: np.ndarray
    iliac_surface: np.ndarray  # bool
    sacral_surface: np.ndarray
    gap: np.ndarray
    stats: dict


def _roi(labels: np.ndarray, spacing, ilium: int) -> tuple[slice, slice, slice]:
    pad = np.ceil(ROI_PAD_MM / np.asarray(spacing)).astype(int)
    sac = np.argwhere(labels == VOL_SACRUM)
    il = np.argwhere(labels == ilium)
    lo = np.maximum(np.maximum(sac.min(0), il.min(0)) - pad, 0)
    hi = np.minimum(np.minimum(sac.max(0), il.max(0)) + pad + 1, labels.shape)
    if np.any(hi <= lo):
        raise CTCaseError(f"sacrum and the {'left' if ilium == VOL_HIP_LEFT else 'right'} hip bone do not meet")
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def find_joint(case: CTCase, side: str) -> Joint:
    """Joint surfaces and gap of the patient's ``side`` ("left"/"right"); cached on the case."""
    key = f"joint_{side}"
    if key in case.cache:
        return case.cache[key]
    roi = _roi(case.labels, case.spacing, _ILIUM[side])
    lab = case.labels[roi]
    sac, il = lab == VOL_SACRUM, lab == _ILIUM[side]
    d_sa = ndimage.distance_transform_edt(~sac, sampling=case.spacing).astype(np.float32)
    d_il = ndimage.distance_transform_edt(~il, sampling=case.spacing).astype(np.float32)
    il_surf = il & (d_sa <= JOINT_MM)
    sa_surf = sac & (d_il <= JOINT_MM)
    gap = (lab == 0) & (d_sa + d_il <= GAP_MAX_MM) & (d_sa > 0) & (d_il > 0)
    if il_surf.sum() < 50 or sa_surf.sum() < 50:
        raise CTCaseError(f"{case.name}: no {side} sacroiliac joint found (sacrum and ilium never within {JOINT_MM} mm)")
    il_edge = il_surf & ~ndimage.binary_erosion(il)  # the iliac joint face, one voxel thick
    width = d_sa[il_edge] if il_edge.any() else d_sa[il_surf]
    z_idx = np.nonzero(il_surf)[0]
    stats = {
        "iliac_surface_voxels": int(il_surf.sum()), "sacral_surface_voxels": int(sa_surf.sum()),
        "gap_voxels": int(gap.sum()), "gap_mm_median": round(float(np.median(width)), 2),
        "gap_mm_p90": round(float(np.percentile(width, 90)), 2),
        "contact_fraction": round(float(np.mean(width <= 1.0 + max(case.spacing))), 3),
        "height_mm": round(float((z_idx.max() - z_idx.min() + 1) * case.spacing[0]), 1),
        "wide_fraction": _wide_fraction(il, d_sa),
    }
    joint = Joint(side=side, roi=roi, d_sacrum=d_sa, d_ilium=d_il, iliac_surface=il_surf, sacral_surface=sa_surf,
                  gap=gap, stats=stats)
    case.cache[key] = joint
    logger.info("%s %s SIJ: %s", case.name, side, stats)
    return joint


def _wide_fraction(il: np.ndarray, d_sa: np.ndarray) -> float:
    """Share of the iliac face (ilium boundary within 15 mm of the sacrum) lying > JOINT_MM from it:
    large or very unequal between sides where a joint is disrupted (diastasis) or fractured."""
    face = il & ~ndimage.binary_erosion(il) & (d_sa <= 15.0)
    return round(float(np.mean(d_sa[face] > JOINT_MM)), 3) if face.any() else float("nan")


def joint_points_mm(case: CTCase, joint: Joint, *, max_points: int = 4000) -> np.ndarray:
    """(N, 3) x, y, z mm of both joint surfaces (a deterministic subsample), for the true SIJ box."""
    idx = np.argwhere(joint.iliac_surface | joint.sacral_surface)
    if len(idx) > max_points:
        idx = idx[np.linspace(0, len(idx) - 1, max_points).astype(int)]
    off = np.array([s.start for s in joint.roi])
    zyx = (idx + off) * np.asarray(case.spacing)
    return zyx[:, ::-1].copy()


def _balls(shape, centres: np.ndarray, radii_vox: np.ndarray) -> np.ndarray:
    """Union of ellipsoids (per-axis radii in voxels) around ``centres`` (voxel indices)."""
    out = np.zeros(shape, bool)
    for c, r in zip(centres, radii_vox):
        lo = np.maximum(np.floor(c - r).astype(int), 0)
        hi = np.minimum(np.ceil(c + r).astype(int) + 1, shape)
        if np.any(hi <= lo):
            continue
        g = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        inside = sum(((g[k] - c[k]) / r[k]) ** 2 for k in range(3)) <= 1.0
        out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] |= inside
    return out


def lesion_plan(joint: Joint, *, seed: int) -> dict:
    """Grade-independent lesion layout of one joint (sites, sizes, joint-space type)."""
    rng = np.random.default_rng(seed)
    surf = np.argwhere(joint.iliac_surface)
    z = surf[:, 0]
    lower = surf[z <= z.min() + 0.67 * (z.max() - z.min())]  # inferior two thirds: the synovial part
    lower = lower if len(lower) else surf
    n = N_EROSIONS[-1]
    gap_idx = np.argwhere(joint.gap)
    return {
        "erosion_sites": lower[rng.integers(0, len(lower), size=n)],
        "erosion_u": rng.uniform(0.0, 1.0, size=n),
        "space": str(rng.choice(["widening", "narrowing", "bridges"], p=[0.45, 0.2, 0.35])),
        "bridge_sites": gap_idx[rng.integers(0, len(gap_idx), size=6)] if len(gap_idx) else np.zeros((0, 3), int),
        "bridge_fraction": float(rng.uniform(0.3, 0.7)),
        "sclerosis_jitter": float(rng.uniform(0.8, 1.2)),
    }


def lesion_block(case: CTCase, joint: Joint, grade: int, plan: dict) -> np.ndarray | None:
    """The ROI's HU block with sacroiliitis of ``grade`` (0-4) inserted, or None for grade 0."""
    if not 0 <= int(grade) <= 4:
        raise CTCaseError(f"grade must be 0-4, got {grade}")
    grade = int(grade)
    if grade == 0:
        return None
    sp = np.asarray(case.spacing, float)
    hu = case.hu[joint.roi].astype(np.float32)
    lab = case.labels[joint.roi]
    il = lab == _ILIUM[joint.side]
    sac = lab == VOL_SACRUM
    void_hu = 20.0 if case.soft_tissue else 0.0
    # sclerosis: iliac side fading away from the joint, half as much on the sacral side
    band = SCLEROSIS_BAND_MM[grade]
    amp = SCLEROSIS_HU[grade] * plan["sclerosis_jitter"]
    prof_il = np.clip(1.0 - joint.d_sacrum / band, 0.0, 1.0) ** 0.7
    prof_sa = np.clip(1.0 - joint.d_ilium / (0.5 * band), 0.0, 1.0) ** 0.7
    hu += np.where(il, amp * prof_il, 0.0) + np.where(sac, 0.5 * amp * prof_sa, 0.0)
    # erosions: the first N sites, radii growing with the grade
    n = N_EROSIONS[grade]
    r_lo, r_hi = EROSION_MM[grade]
    radii_mm = r_lo + (r_hi - r_lo) * plan["erosion_u"][:n]
    eroded = _balls(hu.shape, plan["erosion_sites"][:n].astype(float), radii_mm[:, None] / sp[None, :]) & il
    if grade >= 3 and plan["space"] == "widening":
        eroded |= il & (joint.d_sacrum <= 1.6) & _balls(hu.shape, plan["erosion_sites"][:8].astype(float),
                                                         np.full((8, 3), 9.0) / sp[None, :])
    hu[eroded] = void_hu
    fill = np.zeros(hu.shape, bool)
    if grade >= 3 and plan["space"] == "narrowing":
        fill |= joint.gap & (joint.d_ilium <= 1.5)
    if grade >= 3 and plan["space"] == "bridges" and len(plan["bridge_sites"]):
        k = max(1, int(round(plan["bridge_fraction"] * len(plan["bridge_sites"]))))
        fill |= joint.gap & _balls(hu.shape, plan["bridge_sites"][:k].astype(float), np.full((k, 3), 8.0) / sp[None, :])
    if grade == 4:
        fill |= joint.gap | eroded
    hu[fill] = np.maximum(hu[fill], BRIDGE_HU)
    return hu


def joint_report(case: CTCase) -> dict:
    """Per-side joint statistics (surface sizes, gap widths, height) for the case's log/README."""
    return {side: find_joint(case, side).stats for side in SIDES}
