"""The sacroiliac joints of a CT case: surfaces, gap, and sacroiliitis inserted in 3-D.

A joint is found where sacrum and ilium come within ``JOINT_MM`` of each other (Euclidean
distance transforms in mm, scipy); the gap is the non-bone space between them. The lesions follow
the radiographic definition of each grade that the procedural phantom uses too
(:mod:`sijscan.phantom.lesions`: one set of per-grade distributions for both routes); a joint's
sites (where erosions, sclerotic patches and bridges sit) come from its :class:`LesionPlan`, drawn
per radiograph, and its lesions only grow with its latent severity:

* erosions: spherical voids in the iliac subchondral bone of the lower two thirds (the synovial
  part), the first ``erosion_count`` of the plan's sites;
* subchondral sclerosis: a density increase of the iliac bone within ``sclerosis_width_mm`` of the
  sacrum (a share of it on the sacral side, half as wide), patchy at grade 2, whole from grade 3;
* joint-space change: pseudo-widening (confluent erosion of the iliac face), narrowing (bone added to
  it), or partial ankylosis ('bridges'), and total ankylosis towards grade 4 (the gap and the
  erosions filled with bone over ``ankylosis_fraction`` of the joint's height);
* mimics (:class:`sijscan.phantom.lesions.Mimics`): osteitis condensans ilii (a triangular iliac
  band in the lower anterior joint, joint space untouched), degenerative change (an anterior-inferior
  osteophyte outside the joint, mild sclerosis, slight narrowing, gas in the joint: the vacuum
  phenomenon).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from sijscan.phantom import lesions as les
from sijscan.phantom.ct.case import VOL_HIP_LEFT, VOL_HIP_RIGHT, VOL_SACRUM, CTCase, CTCaseError

logger = logging.getLogger(__name__)

JOINT_MM = 6.5
"""Sacrum and ilium voxels closer than this to the other bone form the joint surfaces."""
GAP_MAX_MM = 10.0
ROI_PAD_MM = 14.0
SIDES = ("left", "right")  # patient's sides
_ILIUM = {"left": VOL_HIP_LEFT, "right": VOL_HIP_RIGHT}

BRIDGE_HU = 420.0
"""New bone of ankylosis, narrowing and osteophytes (HU)."""
GAS_HU = -1000.0
"""Gas in the joint (vacuum phenomenon); :func:`sijscan.phantom.ct.render` maps it to minus water."""
N_SITES = 24
N_SEGMENTS = 12
"""The joint's height is cut into this many segments (where gas of a vacuum phenomenon sits)."""
N_BRIDGES = 16
"""Ankylosis fills the gap cell by cell: each gap voxel belongs to the nearest of this many sites."""


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
    cache: dict = field(default_factory=dict, repr=False)


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


@dataclass(frozen=True)
class LesionPlan:
    """Where one joint's lesions sit (voxel indices in the joint's ROI) and its per-joint draws."""

    draws: les.JointDraws
    erosion_sites: np.ndarray  # (N_SITES, 3) on the iliac joint face, lower two thirds
    erosion_u: np.ndarray  # (N_SITES,) size jitter
    patch_sites: np.ndarray  # (3, 3) centres of the grade-2 sclerotic patches
    segment_order: np.ndarray  # (N_SEGMENTS,) order of the gas segments (vacuum phenomenon)
    bridge_sites: np.ndarray  # (N_BRIDGES, 3) gap voxels; ankylosis fills their nearest-site cells in order
    widening_sites: np.ndarray  # (8, 3) centres of the confluent erosions of pseudo-widening


def lesion_plan(joint: Joint, *, rng: np.random.Generator | int) -> LesionPlan:
    """A joint's lesion layout, independent of its severity (an int seeds a generator)."""
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    surf = np.argwhere(joint.iliac_surface)
    z = surf[:, 0]
    lower = surf[z <= z.min() + 0.67 * (z.max() - z.min())]  # inferior two thirds: the synovial part
    lower = lower if len(lower) else surf
    draws = les.draw_joint(rng)
    return LesionPlan(draws=draws, erosion_sites=lower[rng.integers(0, len(lower), size=N_SITES)],
                      erosion_u=rng.uniform(0.7, 1.3, size=N_SITES),
                      patch_sites=lower[rng.integers(0, len(lower), size=3)],
                      segment_order=rng.permutation(N_SEGMENTS),
                      widening_sites=lower[rng.integers(0, len(lower), size=8)],
                      bridge_sites=_gap_sites(joint, rng))


def _gap_sites(joint: Joint, rng: np.random.Generator) -> np.ndarray:
    gap = np.argwhere(joint.gap)
    if not len(gap):
        return np.zeros((0, 3), int)
    return gap[rng.integers(0, len(gap), size=N_BRIDGES)]


def _bridged(near: "_Near", plan: LesionPlan, fraction: float, sp: np.ndarray) -> np.ndarray:
    """Boolean over ``near.gap``: the cells (nearest bridge site) of the first ``fraction`` of the sites."""
    k = int(round(float(fraction) * N_BRIDGES))
    if k <= 0 or not len(plan.bridge_sites):
        return np.zeros(len(near.gap), bool)
    if k >= N_BRIDGES:
        return np.ones(len(near.gap), bool)
    sites = plan.bridge_sites * sp[None, :]
    d2 = ((near.zyx_mm["gap"][:, None, :] - sites[None, :, :]) ** 2).sum(-1)
    return np.argmin(d2, axis=1) < k


PLATE_MM = 1.6
"""Thickness of the subchondral bone plate whose density the disease wears away (blurred margins)."""
OCI_REACH_MM = 25.0
"""How far from the sacrum iliac voxels are considered for sclerosis and osteitis condensans."""


@dataclass(frozen=True)
class _Near:
    """Flat ROI indices of the voxels lesions may change, with what the lesions need of them."""

    il: np.ndarray  # iliac voxels within OCI_REACH_MM of the sacrum
    sa: np.ndarray  # sacral voxels within 12 mm of the ilium
    gap: np.ndarray
    plate: np.ndarray  # both joint faces' subchondral plates: bone within PLATE_MM of the other bone's side
    height: dict[str, np.ndarray]  # per set: 0 = the joint's lowest row ... 1 = its highest
    zyx_mm: dict[str, np.ndarray]  # per set: (n, 3) position in mm
    y_anterior: float  # the 70th percentile of the iliac face's AP index (smaller = more anterior)
    y_span: float
    z_range: tuple[int, int]


def _near(case: CTCase, joint: Joint) -> _Near:
    if "near" in joint.cache:
        return joint.cache["near"]
    lab = case.labels[joint.roi]
    il = np.flatnonzero((lab == _ILIUM[joint.side]) & (joint.d_sacrum <= OCI_REACH_MM))
    sa = np.flatnonzero((lab == VOL_SACRUM) & (joint.d_ilium <= 12.0))
    gap = np.flatnonzero(joint.gap)
    shell = np.zeros(lab.shape, bool)
    for bone, surface in ((lab == _ILIUM[joint.side], joint.iliac_surface), (lab == VOL_SACRUM, joint.sacral_surface)):
        inner = ndimage.binary_erosion(bone, iterations=max(1, int(round(PLATE_MM / min(case.spacing)))))
        shell |= surface & ~inner
    plate = np.flatnonzero(shell)
    face = np.argwhere(joint.iliac_surface)
    z0, z1 = int(face[:, 0].min()), int(face[:, 0].max())
    sp = np.asarray(case.spacing, float)
    height, zyx = {}, {}
    for name, idx in (("il", il), ("sa", sa), ("gap", gap)):
        coords = np.stack(np.unravel_index(idx, lab.shape), axis=1)
        zyx[name] = coords * sp[None, :]
        height[name] = np.clip((coords[:, 0] - z0) / max(z1 - z0, 1), 0.0, 1.0)
    near = _Near(il=il, sa=sa, gap=gap, plate=plate, height=height, zyx_mm=zyx, y_anterior=float(np.percentile(face[:, 1], 70)),
                 y_span=float(max(np.ptp(face[:, 1]), 1)), z_range=(z0, z1))
    joint.cache["near"] = near
    return near


def _segment_rows(near: _Near, plan: LesionPlan, fraction: float, n_rows: int) -> np.ndarray:
    """Boolean (z,) rows of the ROI inside the first ``fraction`` of the plan's height segments."""
    rows = np.zeros(n_rows, bool)
    k = int(round(float(fraction) * N_SEGMENTS))
    if k <= 0:
        return rows
    edges = np.linspace(near.z_range[0], near.z_range[1] + 1, N_SEGMENTS + 1)
    for seg in plan.segment_order[:k]:
        rows[int(np.floor(edges[seg])):int(np.ceil(edges[seg + 1]))] = True
    return rows


def _patchiness(near: _Near, plan: LesionPlan, sp: np.ndarray, spread: float) -> np.ndarray:
    """Grade 2's localised sclerosis (three ~12 mm patches) blending into the whole joint by grade 3."""
    if spread >= 1.0:
        return np.ones(len(near.il), np.float32)
    centres = plan.patch_sites * sp[None, :]
    d2 = ((near.zyx_mm["il"][:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    patch = np.exp(-d2 / (2 * 10.0 ** 2)).max(axis=1)
    return (spread + (1.0 - spread) * patch).astype(np.float32)


def lesion_block(case: CTCase, joint: Joint, severity: float, plan: LesionPlan,
                 mimics: les.Mimics | None = None) -> np.ndarray | None:
    """The ROI's HU block with the lesions of latent ``severity`` (0-4.5; an integer grade is the
    middle of that grade's band) and the ``mimics`` inserted; None when nothing changes.

    Works on flat indices of the voxels near the joint (:func:`_near`, cached on the joint): a
    whole-ROI array version took 0.35-0.75 s per joint on the shared CTs, this one a tenth of that."""
    if not 0.0 <= float(severity) <= les.MAX_SEVERITY:
        raise CTCaseError(f"severity must be 0-{les.MAX_SEVERITY}, got {severity}")
    prm = les.lesion_params(float(severity), plan.draws)
    mim = mimics or les.Mimics()
    near = _near(case, joint)
    sp = np.asarray(case.spacing, float)
    hu = case.hu[joint.roi].astype(np.float32)
    flat = hu.reshape(-1)  # a view: writes go into ``hu``
    d_sa, d_il = joint.d_sacrum.reshape(-1), joint.d_ilium.reshape(-1)
    changed = False
    add_il = np.zeros(len(near.il), np.float32)
    add_sa = np.zeros(len(near.sa), np.float32)
    if prm.sclerosis_hu > 0 and prm.sclerosis_width_mm > 0:
        band = prm.sclerosis_width_mm
        spread = float(np.clip(prm.severity - 2.0, 0.0, 1.0))  # patchy at grade 2, whole from grade 3
        lower = lambda h: np.clip((0.85 - h) / 0.25, 0.0, 1.0)  # noqa: E731 - the lower (synovial) part
        w_il = lower(near.height["il"]) * _patchiness(near, plan, sp, spread)
        add_il += prm.sclerosis_hu * w_il * np.clip(1.0 - d_sa[near.il] / band, 0.0, 1.0) ** 0.7
        add_sa += (prm.sclerosis_hu * prm.sacral_sclerosis_share * lower(near.height["sa"])
                   * np.clip(1.0 - d_il[near.sa] / (0.5 * band), 0.0, 1.0) ** 0.7)
    if mim.osteitis_condensans > 0:  # a triangle of dense ilium along the lower, anterior joint
        tri = np.clip(1.0 - np.abs(near.height["il"] - 0.25) / 0.3, 0.0, 1.0)
        y = near.zyx_mm["il"][:, 1] / sp[1]
        anterior = np.clip((near.y_anterior - y) / near.y_span * 3.0, 0.0, 1.0)
        width = les.oci_width_mm(mim.osteitis_condensans) * tri
        prof = np.clip(1.0 - d_sa[near.il] / np.maximum(width, 1e-3), 0.0, 1.0) * (width > 1.0)
        add_il += les.oci_hu(mim.osteitis_condensans) * prof * anterior
    if mim.degenerative > 0:  # mild subchondral sclerosis of both faces
        amp, band = les.degenerative_hu(mim.degenerative), les.DEGENERATIVE_SCLEROSIS_MM
        add_il += amp * np.clip(1.0 - d_sa[near.il] / band, 0.0, 1.0)
        add_sa += amp * np.clip(1.0 - d_il[near.sa] / band, 0.0, 1.0)
    if prm.plate_loss > 0:  # the subchondral plate wears thin: its margins blur
        flat[near.plate] -= prm.plate_loss * 0.8 * np.clip(flat[near.plate] - 100.0, 0.0, None)
        changed = True
    if add_il.any() or add_sa.any():
        flat[near.il] += add_il
        flat[near.sa] += add_sa
        changed = True
    il = case.labels[joint.roi] == _ILIUM[joint.side]
    eroded = np.zeros(hu.shape, bool)
    if prm.erosion_count > 0:
        n = prm.erosion_count
        radii_mm = prm.erosion_radius_mm * plan.erosion_u[:n]
        eroded = _balls(hu.shape, plan.erosion_sites[:n].astype(float), radii_mm[:, None] / sp[None, :]) & il
    if prm.space_change_mm > 0:  # pseudo-widening: confluent erosion of the iliac face
        eroded |= il & (joint.d_sacrum <= joint.stats["gap_mm_median"] + prm.space_change_mm) & _balls(
            hu.shape, plan.widening_sites.astype(float), np.full((8, 3), 9.0) / sp[None, :])
    if eroded.any():
        hu[eroded] = 20.0 if case.soft_tissue else 0.0
        changed = True
    fill = np.zeros(len(near.gap), bool)
    narrowing = max(-prm.space_change_mm, les.DEGENERATIVE_NARROWING_MM * mim.degenerative)
    if narrowing > 0:
        fill |= d_il[near.gap] <= narrowing
    if prm.ankylosis_fraction > 0:
        bridged = _bridged(near, plan, prm.ankylosis_fraction, sp)
        fill |= bridged
        if bridged.any() and eroded.any():  # erosions next to a bridged cell fill too
            cells = np.zeros(hu.size, bool)
            cells[near.gap[bridged]] = True
            cells = ndimage.binary_dilation(cells.reshape(hu.shape), iterations=3)
            hu[eroded & cells] = BRIDGE_HU
    if mim.degenerative > 0:  # the anterior-inferior osteophyte, outside the joint, bridging its margin
        fill |= _osteophyte(joint, mim.degenerative, sp).reshape(-1)[near.gap]
    if fill.any():
        flat[near.gap[fill]] = np.maximum(flat[near.gap[fill]], BRIDGE_HU)
        changed = True
    if mim.vacuum:
        gas_rows = _segment_rows(near, plan, 0.3, hu.shape[0])
        z = np.unravel_index(near.gap, hu.shape)[0]
        gas = (~fill & gas_rows[z] & (near.height["gap"] < 0.7)
               & (np.minimum(d_sa[near.gap], d_il[near.gap]) >= 0.5))
        if gas.any():
            flat[near.gap[gas]] = GAS_HU
            changed = True
    return hu if changed else None


def _osteophyte(joint: Joint, strength: float, sp: np.ndarray) -> np.ndarray:
    """Non-bone voxels near both bones at the joint's anterior-inferior end, within a 3-7 mm ball."""
    idx = np.argwhere(joint.gap)
    if not len(idx):
        return np.zeros(joint.gap.shape, bool)
    z_cut = np.percentile(idx[:, 0], 15)
    low = idx[idx[:, 0] <= z_cut]
    centre = low[np.argmin(low[:, 1])].astype(float)  # most anterior gap voxel of the lowest part
    r = (3.0 + 4.0 * float(strength)) / sp
    ball = _balls(joint.gap.shape, centre[None, :], r[None, :])
    near_both = (joint.d_sacrum <= 6.0) & (joint.d_ilium <= 6.0) & (joint.d_sacrum > 0) & (joint.d_ilium > 0)
    return ball & near_both


def joint_report(case: CTCase) -> dict:
    """Per-side joint statistics (surface sizes, gap widths, height) for the case's log/README."""
    return {side: find_joint(case, side).stats for side in SIDES}
