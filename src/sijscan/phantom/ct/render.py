"""One labelled AP radiograph from a CT case: pose, lesions, ray sums, body, acquisition.

``render_ct_radiograph`` is the in-memory call; ``sijscan.phantom.ct.cohort.render_ct_cohort``
writes many of them. Attenuation (the phantom's units, mu at ~60 keV): bone = 0.045/mm per
1000 HU above water (cortex ~1200 HU -> 0.074/mm with its water, cancellous ~250 HU ->
0.031/mm, as the procedural phantom's 0.09 and 0.035), soft tissue = water-equivalent.
"""
from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass, field, replace

import numpy as np

from sijscan.errors import InputError
from sijscan.mny import mny_positive
from sijscan.phantom import lesions as les
from sijscan.phantom.acquisition import acquire
from sijscan.phantom.ct import body as ct_body
from sijscan.phantom.ct import scene
from sijscan.phantom.ct.case import CTCase
from sijscan.phantom.ct.geometry import Detector, Pose, project_points, sample_pose
from sijscan.phantom.ct.joint import SIDES, find_joint, joint_points_mm, lesion_block, lesion_plan
from sijscan.phantom.ct.metal import harden, streak_volume
from sijscan.phantom.ct.projector import labels_from_occupancy, path_factor, project
from sijscan.phantom.ct.realism import CTRealism
from sijscan.phantom.ct.slabs import (extra_slabs, patch_slabs, pooled_lesion, prepared, restore_slabs, slabs_of,
                                      thick_slabs)
from sijscan.phantom.profiles import PROFILES, AcquisitionProfile, get_profile
from sijscan.phantom.simulate import geometry_for
from sijscan.phantom.spec import CaseSpec, Geometry, Projection

logger = logging.getLogger(__name__)

BOX_MARGIN_MM = 6.0
"""True SIJ box margin beyond the projected joint surfaces (as the procedural phantom's)."""


class CTRenderError(InputError):
    """Bad arguments to the CT route (size, grades, profile, device)."""


@dataclass
class CTRadiograph:
    """``image``: display float32 [0, 1] bone bright; ``stored``: uint16 as the profile stores it;
    ``labels``: uint8 sijscan label map; ``grades``: {"left", "right"} patient's sides;
    ``sij_boxes``: {"image_left", "image_right"} -> [x0, y0, x1, y1]; ``meta``: pose, profile, lesions."""

    image: np.ndarray
    stored: np.ndarray
    labels: np.ndarray
    grades: dict[str, int]
    sij_boxes: dict[str, list[int]]
    meta: dict = field(default_factory=dict)

    @property
    def label(self) -> int:
        return mny_positive(self.grades["left"], self.grades["right"])


def _add_realism(rays: dict, case: CTCase, prep: dict, realism: CTRealism, *, pose: Pose, det: Detector,
                 centre: np.ndarray, fxz: int, device: str, y_back: float) -> None:
    """Metal (hardened), bladder contrast into ``rays["bone"]``; psoas and table as ``rays["soft_added"]``.
    A CT with its own soft tissue keeps its own bladder and psoas."""
    if case.soft_tissue:
        realism = replace(realism, psoas=False, bladder_contrast_mg_ml=0.0)
    implant = scene.implant_volume(case, realism)
    if implant is not None:
        (stack,) = slabs_of([implant], fxz, hu=False)
        rays["bone"] += harden(project(stack, pose, det, centre, device=device)["bone"])
    contrast = scene.added_bone(case, realism, prep, pose=pose, det=det, centre=centre)
    if contrast is not None:
        rays["bone"] += contrast
    rays["soft_added"] = scene.added_soft(case, realism, prep, pose=pose, det=det, centre=centre, y_back=y_back)
    if implant is not None and realism.streaks:
        streaks, origin = streak_volume(*implant, scene.realism_rng(realism, case, "streaks"), slice_mm=realism.slice_mm)
        # slabs keep only positive voxels: the bright and the dark streaks are projected apart
        bright, dark = slabs_of([(np.maximum(streaks, 0.0), origin), (np.maximum(-streaks, 0.0), origin)], fxz, hu=False)
        rays["soft_added"] += (project(bright, pose, det, centre, device=device)["bone"]
                               - project(dark, pose, det, centre, device=device)["bone"])


def sample_grades(rng: np.random.Generator, *, prevalence: float = 0.5) -> dict[str, int]:
    """Per-side grades (patient's sides) with an mNY-positive share of about ``prevalence``."""
    positive = rng.random() < prevalence
    while True:
        if positive:
            base = int(rng.choice([2, 3, 4], p=[0.4, 0.4, 0.2]))
            g = {s: int(np.clip(base + rng.choice([-1, 0, 0, 1]), 0, 4)) for s in SIDES}
        else:
            g = {s: int(rng.choice([0, 1, 2], p=[0.55, 0.3, 0.15])) for s in SIDES}
        if mny_positive(g["left"], g["right"]) == int(positive):
            return g


def _sij_boxes(case: CTCase, pose: Pose, det: Detector, centre: np.ndarray) -> dict[str, list[int]]:
    boxes = {}
    mag = pose.sid_mm / pose.sod_mm
    margin = BOX_MARGIN_MM * mag / det.pixel_spacing_mm
    for side, image_side in (("right", "image_left"), ("left", "image_right")):
        px = project_points(joint_points_mm(case, find_joint(case, side)), pose, det, centre)
        x0, y0 = np.floor(px.min(axis=0) - margin).astype(int)
        x1, y1 = np.ceil(px.max(axis=0) + margin).astype(int) + 1
        x0, x1 = (int(min(max(v, 0), det.width)) for v in (x0, x1))
        y0, y1 = (int(min(max(v, 0), det.height)) for v in (y0, y1))
        boxes[image_side] = [x0, y0, max(x1, x0), max(y1, y0)]
    return boxes


def _bone_centre(case: CTCase) -> np.ndarray:
    """(x, y, z mm) centre of the bones' box, as ``prepared`` has it (cached)."""
    if "bone_centre" not in case.cache:
        nz = np.argwhere(case.labels > 0)[:, ::-1]
        sp = np.asarray(case.spacing)[::-1]
        case.cache["bone_centre"] = (nz.min(0) * sp + nz.max(0) * sp) / 2.0
    return case.cache["bone_centre"]


def check_device(device: str) -> None:
    """Raise :class:`CTRenderError` unless ``device`` is "cpu", "torch-cpu" or an available torch device."""
    if device in ("cpu", "torch-cpu"):
        return
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise CTRenderError(f"device must be 'cpu', 'torch-cpu' or a torch device such as 'cuda', got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CTRenderError(f"device {device!r} asked for, but CUDA is not available here; use 'cpu'")


def _resolve_profile(profile, rng: np.random.Generator) -> AcquisitionProfile:
    if profile is None:
        return PROFILES[sorted(PROFILES)[int(rng.integers(0, len(PROFILES)))]]
    return get_profile(profile) if isinstance(profile, str) else profile


def ct_projection(
    case: CTCase, *, pose: Pose, det: Detector, grades: dict[str, int], rng: np.random.Generator,
    device: str = "cpu", habitus: float = 1.0, gas_amount: float = 0.5, latents: dict[str, float] | None = None,
    mimics: les.Mimics | None = None, realism: CTRealism | None = None,
) -> Projection:
    """The noise-free projection of ``case`` in ``pose`` with sacroiliitis of ``grades`` inserted:
    bone and soft line integrals, exact label map, true SIJ boxes. ``rng`` draws each joint's lesion
    plan (:func:`lesion_plan`), body and gas; ``latents`` (per side, 0-4.5) default to the middle of
    each grade's band; ``mimics`` (both joints) default to none; ``realism`` (None: a plain render)
    adds thick slices, metal, a table, more body and spine (:mod:`sijscan.phantom.ct.realism`)."""
    if set(grades) != set(SIDES) or any(int(v) != v or not 0 <= v <= 4 for v in grades.values()):
        raise CTRenderError(f"grades must be {{'left': 0-4, 'right': 0-4}}, got {grades}")
    mag = pose.sid_mm / pose.sod_mm
    fxz = max(1, int(det.pixel_spacing_mm / (mag * min(case.spacing[0], case.spacing[2]))))
    prep = prepared(case, fxz)
    slabs, centre = prep["slabs"], prep["centre"]
    if realism is not None and realism.thick:
        slabs = thick_slabs(case, fxz, realism)
    t0 = time.perf_counter()
    saved = []
    lesion_info = {}
    try:
        for side in SIDES:
            joint = find_joint(case, side)
            latent = float(latents[side]) if latents is not None else float(grades[side])
            plan = lesion_plan(joint, rng=rng)
            block = lesion_block(case, joint, latent, plan, mimics)
            lesion_info[side] = les.lesion_params(latent, plan.draws).to_json()
            if block is not None:
                saved.append(patch_slabs(slabs, *pooled_lesion(slabs, case, joint.roi, block, realism)))
        factor = path_factor(pose, det)
        rays = project(slabs, pose, det, centre, device=device, factor=factor)
        for extra in extra_slabs(case, prep, fxz, realism):
            rays["bone"] += project(extra, pose, det, centre, device=device, factor=factor)["bone"]
    finally:
        for s in reversed(saved):
            restore_slabs(slabs, s)
    t_proj = time.perf_counter() - t0
    labels = labels_from_occupancy(rays["occ"])
    if rays["soft"] is not None:
        soft = rays["soft"]
    else:
        shape = ct_body.sample_body(prep["bone_lo"], prep["bone_hi"], habitus=habitus, rng=rng)
        gas = ct_body.sample_gas(prep["bone_lo"], prep["bone_hi"], prep["sacrum_lo"], prep["sacrum_hi"],
                                 amount=gas_amount, rng=rng)
        gas += scene.extra_gas(case, realism) if realism is not None and realism.gas_over_sij > 0 else []
        soft = ct_body.body_line_integrals(shape, gas, pose=pose, det=det, centre=centre,
                                           stool=float(rng.uniform(0.3, 1.0)) * gas_amount ** 0.5, rng=rng)
    if realism is not None:
        back = shape.centre_xy[1] + shape.outer[1] if rays["soft"] is None else prep["bone_hi"][1] + 60.0
        _add_realism(rays, case, prep, realism, pose=pose, det=det, centre=centre, fxz=fxz, device=device,
                     y_back=back - centre[1])
        soft = np.maximum(soft + rays.pop("soft_added"), 0.0)
    boxes = _sij_boxes(case, pose, det, centre)
    info = {"ct_case": case.name, "projection_s": round(t_proj, 3), "synthetic_body": rays["soft"] is None,
            "lesions": lesion_info, "mimics": (mimics or les.Mimics()).to_json(),
            "femoral_heads": case.cache.get("femoral_heads", {}), "magnification": round(mag, 4)}
    if realism is not None:
        info["realism"] = realism.to_json()
    return Projection(bone=np.ascontiguousarray(rays["bone"], np.float32), soft=np.ascontiguousarray(soft, np.float32),
                      labels=labels, sij_boxes=boxes, geometry=Geometry(det.height, det.width, det.pixel_spacing_mm),
                      info=info)


def render_ct_radiograph(
    case: CTCase, *, size: int = 512, rng: np.random.Generator | int = 0,
    profile: str | AcquisitionProfile | None = None, grades: dict[str, int] | None = None,
    device: str = "cpu", pose: Pose | None = None, latents: dict[str, float] | None = None,
    mimics: les.Mimics | None = None, acquisition_seed: int | None = None, realism: CTRealism | None = None,
) -> CTRadiograph:
    """Render one AP radiograph of ``case`` with sacroiliitis of ``grades`` ({"left", "right"}: 0-4).

    ``rng`` (a generator or a seed) draws what is not given: the profile (one of ``PROFILES``), the
    grades, the pose (the profile's positioning spread), habitus, age, each joint's latent severity
    within its grade's band (``latents``) and lesion plan, the mimics (``mimics``; pass
    ``Mimics()`` for none), body, gas and the acquisition's noise seed (``acquisition_seed``). The
    draws are the same whatever is given, so two calls with one seed differ only in what was given. Then the phantom's
    acquisition (``sijscan.phantom.acquisition.acquire``) exposes, detects and processes it.
    ``realism`` (:class:`~sijscan.phantom.ct.realism.CTRealism`) sets the source CT's slices, metal,
    field of view (detector extent and central ray), table, habitus and more body; it draws from its
    own seed, so the draws above stay those of a plain render.
    """
    check_device(device)
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    prof = _resolve_profile(profile, rng)
    geo = geometry_for(prof, size)
    det = Detector(height=geo.height, width=geo.width, pixel_spacing_mm=geo.pixel_spacing_mm)
    grades = dict(grades) if grades is not None else sample_grades(rng)
    pose = pose or sample_pose(rng, tilt_sd=prof.tilt_sd_deg, axial_sd=prof.axial_rotation_sd_deg,
                               inplane_sd=prof.inplane_rotation_sd_deg, offset_sd_mm=prof.offset_sd * prof.field_long_mm)
    habitus = float(np.clip(rng.normal(prof.habitus_mean, prof.habitus_sd), 0.7, 1.6))
    if realism is not None:
        habitus = habitus if realism.habitus is None else float(realism.habitus)
        prof, pose = scene.apply_fov(prof, pose, realism, case=case, centre=_bone_centre(case))
        geo = geometry_for(prof, size)
        det = Detector(height=geo.height, width=geo.width, pixel_spacing_mm=geo.pixel_spacing_mm)
    gas_amount = float(np.clip(rng.beta(2.0, 2.0) * 2.0 * prof.bowel_gas_mean, 0.0, 1.0))
    sex = "F" if rng.random() < prof.female_fraction else "M"
    age = float(np.clip(rng.normal(prof.age_mean, prof.age_sd), 18.0, 80.0))
    drawn = {s: les.latent_for_grade(int(grades[s]), rng) for s in SIDES}
    latents = dict(latents) if latents is not None else drawn
    sampled = les.sample_mimics(label=mny_positive(grades["left"], grades["right"]), sex=sex, age=age, rng=rng)
    mimics = mimics if mimics is not None else sampled
    projection = ct_projection(case, pose=pose, det=det, grades=grades, rng=rng, device=device, habitus=habitus,
                               gas_amount=gas_amount, latents=latents, mimics=mimics, realism=realism)
    spec = CaseSpec(anatomy_seed=zlib.crc32(case.name.encode()), sex=sex, habitus=habitus,
                    pelvic_tilt_deg=pose.tilt_deg, axial_rotation_deg=pose.axial_deg,
                    inplane_rotation_deg=pose.inplane_deg, bowel_gas=gas_amount, extras={"ct_case": case.name})
    drawn_seed = int(rng.integers(0, 2**31 - 1))
    acquired = acquire(projection, profile=prof, spec=spec,
                       seed=drawn_seed if acquisition_seed is None else int(acquisition_seed))
    meta = {**projection.info, "profile": prof.name, "pose": pose.to_dict(), "habitus": round(habitus, 3),
            "bowel_gas": round(gas_amount, 3), "sex_for_shield": sex, "age": round(age, 1), "device": device,
            "latents": {k: round(v, 3) for k, v in latents.items()},
            "acquisition": acquired.meta}
    return CTRadiograph(image=acquired.display, stored=acquired.stored, labels=projection.labels,
                        grades={s: int(grades[s]) for s in SIDES}, sij_boxes=projection.sij_boxes, meta=meta)
