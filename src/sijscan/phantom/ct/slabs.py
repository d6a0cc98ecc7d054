"""A CT case as slab stacks for the projector, and the lesion patches written into them.

``prepared`` (the case's bone and soft-tissue slabs, bone extent, synthetic femora and spine, cached on
the case), ``thick_slabs`` (the same CT as a thick-slice / coarse-pixel scanner gives it), ``extra_slabs``
(femora and spine, the longer lumbar spine with ``realism.lumbar``), ``pooled_lesion`` / ``patch_slabs`` /
``restore_slabs`` (a joint's lesion block pooled to the slab grid, written in and taken out again).
:mod:`sijscan.phantom.ct.render` turns them into radiographs.
"""
from __future__ import annotations

import logging
import time
import zlib

import numpy as np

from sijscan.phantom.ct import body as ct_body
from sijscan.phantom.ct import scene
from sijscan.phantom.ct.case import VOL_SACRUM, CTCase
from sijscan.phantom.ct.femur import GRID_MM, femur_volume, find_acetabulum
from sijscan.phantom.ct.joint import GAS_HU, SIDES
from sijscan.phantom.ct.projector import Slabs, build_slabs
from sijscan.phantom.ct.realism import CTRealism
from sijscan.phantom.ct.spine import spine_volume
from sijscan.phantom.ct.thickslice import resample_thick

logger = logging.getLogger(__name__)

BONE_MU_PER_1000HU = 0.045
SLAB_VOXELS = 2
"""Slab thickness along y (AP) in voxels: a box filter along nearly-AP rays (~1.5-2 mm)."""


def hu_to_mu(hu: np.ndarray, soft_tissue: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(bone mu excess over water, soft water-equivalent mu or None) per voxel, 1/mm."""
    h = hu.astype(np.float32)
    if not soft_tissue:
        return np.maximum(h, 0.0) * np.float32(BONE_MU_PER_1000HU / 1000.0), None
    bone = np.maximum(h - 100.0, 0.0) * np.float32(BONE_MU_PER_1000HU / 1000.0)
    soft = np.clip(1.0 + np.minimum(h, 100.0) / 1000.0, 0.0, 1.2) * np.float32(ct_body.MU_WATER)
    return bone, soft


def prepared(case: CTCase, fxz: int) -> dict:
    key = f"prep_{fxz}"
    if key not in case.cache:
        t0 = time.perf_counter()
        bone, soft = hu_to_mu(case.hu, case.soft_tissue)
        slabs = build_slabs(bone, case.labels, soft, case.spacing, fy=SLAB_VOXELS, fxz=fxz)
        sp = np.asarray(case.spacing)[::-1]  # x, y, z
        nz = np.argwhere(case.labels > 0)[:, ::-1]
        sa = np.argwhere(case.labels == VOL_SACRUM)[:, ::-1]
        lo, hi = nz.min(0) * sp, nz.max(0) * sp
        extra = [] if case.soft_tissue else femur_slabs(case, fxz)
        case.cache[key] = {"slabs": slabs, "extra_slabs": extra, "centre": (lo + hi) / 2.0, "bone_lo": lo,
                           "bone_hi": hi, "sacrum_lo": sa.min(0) * sp, "sacrum_hi": sa.max(0) * sp}
        logger.info("%s: slabs %s (fxz %d) in %.2f s", case.name, slabs.bone.shape, fxz, time.perf_counter() - t0)
    return case.cache[key]


def thick_slabs(case: CTCase, fxz: int, realism: CTRealism) -> Slabs:
    """The case's slabs as a CT of ``realism``'s slice thickness / pixel would give them (labels stay
    the thin CT's: the anatomy is the truth). The last three settings used are cached."""
    key = f"thick_{fxz}_{realism.slice_mm}_{realism.pixel_mm}"
    if key not in case.cache:
        t0 = time.perf_counter()
        for old in [k for k in case.cache if k.startswith("thick_")][:-2]:
            del case.cache[old]
        hu = resample_thick(case.hu, case.spacing, slice_mm=realism.slice_mm, pixel_mm=realism.pixel_mm)
        bone, soft = hu_to_mu(hu, case.soft_tissue)
        case.cache[key] = build_slabs(bone, case.labels, soft, case.spacing, fy=SLAB_VOXELS, fxz=fxz,
                                      occ=prepared(case, fxz)["slabs"].occ)
        logger.info("%s: %s mm slices, %s mm pixels in %.2f s", case.name, realism.slice_mm, realism.pixel_mm,
                    time.perf_counter() - t0)
    return case.cache[key]


def slabs_of(volumes: list[tuple[np.ndarray, np.ndarray]], fxz: int, *, hu: bool = True) -> list[Slabs]:
    """Slab stacks of (HU or mu volume on the 1 mm grid, origin) pairs."""
    g = GRID_MM
    return [build_slabs(hu_to_mu(v, False)[0] if hu else v, None, None, (g, g, g), fy=SLAB_VOXELS, fxz=fxz,
                        origin_mm=origin) for v, origin in volumes]


def femur_slabs(case: CTCase, fxz: int) -> list[Slabs]:
    """Synthetic femora and lower lumbar spine (bone-only CTs have neither), one slab stack each,
    fixed per case."""
    out = []
    rng = np.random.default_rng(zlib.crc32(("femur" + case.name).encode()))
    for side in SIDES:
        try:
            head, radius = find_acetabulum(case, side)
        except ValueError:
            logger.warning("%s: no %s acetabulum found; no femur on that side", case.name, side)
            continue
        hu, origin = femur_volume(head, radius, side, rng)
        bone, _ = hu_to_mu(hu, False)
        g = GRID_MM
        out.append(build_slabs(bone, None, None, (g, g, g), fy=SLAB_VOXELS, fxz=fxz, origin_mm=origin))
        case.cache.setdefault("femoral_heads", {})[side] = {"centre_mm": [round(float(v), 1) for v in head],
                                                            "radius_mm": round(radius, 1)}
    hu, origin = spine_volume(case, rng)
    bone, _ = hu_to_mu(hu, False)
    out.append(build_slabs(bone, None, None, (GRID_MM,) * 3, fy=SLAB_VOXELS, fxz=fxz, origin_mm=origin))
    return out


def extra_slabs(case: CTCase, prep: dict, fxz: int, realism: CTRealism | None) -> list[Slabs]:
    """Femora and spine: L5-L3 (the stacks of ``prepared``), or L5-T11 and the lower ribs with ``realism.lumbar``."""
    extra = prep["extra_slabs"]
    if realism is None or not realism.lumbar or case.soft_tissue:
        return extra
    key = f"lumbar_{fxz}"
    if key not in case.cache:
        case.cache[key] = slabs_of(scene.lumbar_volumes(case), fxz)
    return extra[:-1] + case.cache[key]  # the last of femur_slabs' stacks is the L5-L3 spine


def pooled_lesion(slabs: Slabs, case: CTCase, roi: tuple[slice, ...], block: np.ndarray,
                   realism: CTRealism | None = None) -> tuple:
    """(slab-stack slices, pooled bone mu) of the lesion ``block`` (HU of ``roi``); with a thick-slice
    ``realism`` the block is resampled like the rest of the CT (with the CT around it as context)."""
    f = (slabs.fxz, slabs.fy, slabs.fxz)
    limit = [s // k * k for s, k in zip(case.hu.shape, f)]
    lo = [max(r.start // k * k, 0) for r, k in zip(roi, f)]
    hi = [min(-(-r.stop // k) * k, m) for r, k, m in zip(roi, f, limit)]
    big = tuple(slice(a, b) for a, b in zip(lo, hi))
    hu = case.hu[big].astype(np.float32)
    inner = tuple(slice(r.start - a, min(r.stop, b) - a) for r, a, b in zip(roi, lo, hi))
    part = block[tuple(slice(0, s.stop - s.start) for s in inner)]
    # gas the lesion put into the joint (vacuum phenomenon), not gas the CT itself holds (bowel)
    gas = np.zeros(hu.shape, bool)
    gas[inner] = (part <= GAS_HU + 1.0) & (hu[inner] > GAS_HU + 1.0)
    hu[inner] = part
    bone, _ = hu_to_mu(hu, case.soft_tissue)
    bone[gas] = -ct_body.MU_WATER  # it replaces the joint's water-like content
    if realism is not None and realism.thick:
        bone = thick_block(case, big, bone, realism)
    pooled = bone.reshape(hu.shape[0] // f[0], f[0], hu.shape[1] // f[1], f[1], hu.shape[2] // f[2], f[2])
    pooled = np.moveaxis(pooled.mean(axis=(1, 3, 5)), 1, 0)
    target = (slice(lo[1] // f[1], hi[1] // f[1]), slice(lo[0] // f[0], hi[0] // f[0]), slice(lo[2] // f[2], hi[2] // f[2]))
    return target, np.ascontiguousarray(pooled, np.float32)


def thick_block(case: CTCase, big: tuple[slice, ...], bone: np.ndarray, realism: CTRealism) -> np.ndarray:
    """``bone`` (mu of ``big``) resampled to thick slices, padded with the CT around it so its edges
    match the resampled slabs (mu is linear in HU for bone-only CTs; for full CTs, near enough)."""
    pad = [int(np.ceil((realism.slice_mm or 1.0) / case.spacing[0])) + 2, 3, 3]
    lo = [max(b.start - p, 0) for b, p in zip(big, pad)]
    hi = [min(b.stop + p, n) for b, p, n in zip(big, pad, case.hu.shape)]
    ctx, _ = hu_to_mu(case.hu[tuple(slice(a, b) for a, b in zip(lo, hi))], case.soft_tissue)
    inner = tuple(slice(b.start - a, b.stop - a) for b, a in zip(big, lo))
    ctx[inner] = bone
    out = resample_thick(ctx, case.spacing, slice_mm=realism.slice_mm, pixel_mm=realism.pixel_mm, z_offset=lo[0])
    return out[inner]


def patch_slabs(slabs: Slabs, target: tuple, pooled: np.ndarray) -> tuple:
    """Write a pooled lesion block into the slabs in place; return what restores them."""
    saved = (target, slabs.bone[target].copy(), slabs.boxes.copy())
    slabs.bone[target] = pooled
    z0, z1, x0, x1 = target[1].start, target[1].stop, target[2].start, target[2].stop
    b = slabs.boxes[target[0]]
    empty = b[:, 1] <= b[:, 0]
    b[:, 0] = np.where(empty, z0, np.minimum(b[:, 0], z0))
    b[:, 1] = np.where(empty, z1, np.maximum(b[:, 1], z1))
    b[:, 2] = np.where(empty, x0, np.minimum(b[:, 2], x0))
    b[:, 3] = np.where(empty, x1, np.maximum(b[:, 3], x1))
    slabs.boxes[target[0]] = b
    return saved


def restore_slabs(slabs: Slabs, saved: tuple) -> None:
    target, bone, boxes = saved
    slabs.bone[target] = bone
    slabs.boxes[:] = boxes
