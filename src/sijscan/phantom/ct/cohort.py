"""``render_ct_cohort``: many labelled radiographs per CT case, written like the procedural phantom's.

Every radiograph depends only on (seed, case name, index): its own generator draws the grades
(mNY-positive about half the time), profile (unless given), pose, body and gas. Files:
``images/<stem>.png`` (16-bit, pixel spacing in pHYs/tEXt), ``masks/<stem>_labels.png``,
``manifest.csv`` (sijscan's manifest: paths relative to it) and ``cohort.json`` (what made them).
"""
from __future__ import annotations

import logging
import os
import time
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sijscan import __version__, jsonio
from sijscan.errors import InputError
from sijscan.phantom import writers
from sijscan.phantom.ct.case import CTCase, load_ct_case
from sijscan.phantom.ct.joint import joint_report
from sijscan.phantom.ct.proportions import DENSITY_RANGE, SCALE_RANGE_ZYX, VARY, variant_of
from sijscan.phantom.ct.realism import RealismRanges, get_realism
from sijscan.phantom.ct.render import check_device, render_ct_radiograph, sample_grades
from sijscan.phantom.profiles import AcquisitionProfile, get_profile

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class CTCohortError(InputError):
    """Bad arguments to ``render_ct_cohort`` (n, split, output folder)."""


def _boxes_text(box: list[int]) -> str:
    return " ".join(str(v) for v in box)


def _realism_columns(name: str, opts) -> dict:
    return {"realism": name, "slice_mm": opts.slice_mm or "", "implant": opts.implant,
            "implant_side": opts.implant_side if opts.implant != "none" else "", "fov": opts.fov,
            "table": int(opts.table), "gas_over_sij": round(opts.gas_over_sij, 3),
            "bladder_contrast_mg_ml": round(opts.bladder_contrast_mg_ml, 1), "streaks": int(opts.streaks)}


def render_order(drawn: dict[int, Any], variants: int = 1) -> list[int]:
    """The indices of one anatomy variant (index % ``variants``), then of one resampled CT (slice
    thickness, pixel), next to each other.

    A radiograph depends only on (seed, case, index), never on what was rendered before, so the order
    is free; preparing a variant costs seconds (its slabs and joints), the renderer keeps the last few
    resampled CTs, and a resampling costs about a second per render (``realism: varied`` draws 24
    settings), so grouping prepares each variant, and each setting's CT, once per case."""
    def key(j: int) -> tuple[int, float, float, int]:
        o = drawn[j]
        return (j % variants, -1.0, -1.0, j) if o is None else (j % variants, o.slice_mm or 0.0, o.pixel_mm or 0.0, j)

    return sorted(drawn, key=key)


def render_ct_cohort(
    cases: Sequence[CTCase | str | os.PathLike], out_dir: str | os.PathLike, *, n: int, size: int = 1024,
    seed: int = 0, profile: str | AcquisitionProfile | None = None, split: str = "train", device: str = "cpu",
    prevalence: float = 0.5, realism: str | RealismRanges | None = None, variants: int = 1,
    vary: Sequence[str] = VARY,
) -> Path:
    """Write ``n`` radiographs PER CASE (cases or case folders) to ``out_dir``; return the manifest path.

    ``patient_id`` is the CT case (all radiographs of one CT are one patient: split by it).
    ``profile=None`` draws one of the phantom's hospital profiles per radiograph. ``realism``: a
    preset of :mod:`sijscan.phantom.ct.realism` ("off" or None: plain renders, "varied", "stress")
    or a ``RealismRanges``; each radiograph's options are drawn by a generator of their own.
    ``variants`` > 1 renders each case as that many anatomy variants (:mod:`sijscan.phantom.ct.proportions`;
    the first is the CT as scanned): radiograph j shows variant j % ``variants``; ``vary`` names what
    the variants vary ("proportions", "density").
    """
    from sijscan.io.manifest import write_manifest  # lazy: pandas

    import pandas as pd

    if int(n) < 1:
        raise CTCohortError(f"n must be >= 1, got {n}")
    if not 0.0 <= prevalence <= 1.0:
        raise CTCohortError(f"prevalence must be within 0-1, got {prevalence}")
    if split not in SPLITS:
        raise CTCohortError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if int(variants) < 1:
        raise CTCohortError(f"variants must be >= 1 (1: the CT as scanned only), got {variants}")
    vary = tuple(vary)
    if not vary or set(vary) - set(VARY):
        raise CTCohortError(f"vary must name some of {', '.join(VARY)}, got {', '.join(vary) or 'nothing'}")
    check_device(device)
    ranges = get_realism(realism)
    prof = get_profile(profile) if isinstance(profile, str) else profile
    loaded = [c if isinstance(c, CTCase) else load_ct_case(c) for c in cases]
    if not loaded:
        raise CTCohortError("no CT cases given")
    names = [c.name for c in loaded]
    if len(set(names)) != len(names):
        raise CTCohortError(f"CT case names must be unique, got {names}")
    out = Path(out_dir).resolve()
    try:
        (out / "images").mkdir(parents=True, exist_ok=True)
        (out / "masks").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CTCohortError(f"cannot create output folder {out}: {exc}") from exc
    rows, t0 = [], time.perf_counter()
    for case in loaded:
        by_index: dict[int, dict] = {}
        drawn = {j: None if ranges is None else ranges.sample(
            np.random.default_rng([int(seed), zlib.crc32(case.name.encode()), j, 24])) for j in range(int(n))}
        k, current = int(variants), None
        for j in render_order(drawn, k):
            if current is None or current[0] != j % k:  # grouped: each variant is prepared once, then let go
                current = (j % k, *variant_of(case, j % k, seed=seed, vary=vary))
            _, anatomy, what = current
            rng = np.random.default_rng([int(seed), zlib.crc32(case.name.encode()), j])
            grades = sample_grades(rng, prevalence=prevalence)
            opts = drawn[j]
            r = render_ct_radiograph(anatomy, size=size, rng=rng, profile=prof, grades=grades, device=device,
                                     realism=opts)
            stem = f"ct_{case.name}_{j:04d}"
            ps = r.meta["acquisition"]["pixel_spacing_mm"]
            img = writers.write_png16(out / "images" / f"{stem}.png", r.image, pixel_spacing_mm=ps)
            mask = writers.write_labels(out / "masks" / f"{stem}_labels.png", r.labels)
            acq, pose = r.meta["acquisition"], r.meta["pose"]
            by_index[j] = {
                "image": str(img), "patient_id": f"CT-{case.name}", "cohort": "ct", "split": split,
                "label": r.label, "grade_left": r.grades["left"], "grade_right": r.grades["right"], "mask": str(mask),
                "ct_case": case.name, "site": r.meta["profile"],
                "sij_box_image_left": _boxes_text(r.sij_boxes["image_left"]),
                "sij_box_image_right": _boxes_text(r.sij_boxes["image_right"]),
                "pixel_spacing_mm": round(ps, 6), "height": r.image.shape[0], "width": r.image.shape[1],
                "photometric": acq["photometric"], "bits_stored": acq["bits_stored"], "kvp": acq["kvp"],
                "mas": acq["mas"], "side_marker": acq["marker"] or "none",
                "field_box": _boxes_text(acq["field_box"]), "tilt_deg": pose["tilt_deg"],
                "axial_deg": pose["axial_deg"], "inplane_deg": pose["inplane_deg"], "sid_mm": pose["sid_mm"],
                "sod_mm": pose["sod_mm"], "habitus": r.meta["habitus"], "bowel_gas": r.meta["bowel_gas"],
                "latent_left": r.meta["latents"]["left"], "latent_right": r.meta["latents"]["right"],
                "osteitis_condensans": round(r.meta["mimics"]["osteitis_condensans"], 3),
                "degenerative": round(r.meta["mimics"]["degenerative"], 3), "vacuum": int(r.meta["mimics"]["vacuum"]),
                "sex": r.meta["sex_for_shield"], "age": r.meta["age"],
                **({} if k == 1 else {"anatomy_variant": j % k, **what}),
                **({} if opts is None else _realism_columns(ranges.name, opts)),
            }
        rows.extend(by_index[j] for j in range(int(n)))  # in index order, whatever order they were rendered in
    elapsed = time.perf_counter() - t0
    manifest = write_manifest(pd.DataFrame(rows), out / "manifest.csv")
    info = {
        "sijscan_version": __version__, "route": "ct", "seed": int(seed), "size": int(size), "n_per_case": int(n),
        "split": split, "device": device, "anatomy_variants": int(variants),
        "profile": prof.name if prof else "random per radiograph",
        "prevalence_target": prevalence, "n_images": len(rows),
        "cases": {c.name: {"source": c.source, "shape": list(c.hu.shape), "spacing_zyx_mm": list(c.spacing),
                           "soft_tissue": c.soft_tissue, "sij": joint_report(c)} for c in loaded},
        "label_rule": "sijscan.mny.mny_positive(grade_left, grade_right); grades are the patient's sides",
        "label_map": {"0": "background", "1": "sacrum", "2": "hip bone image-left (patient right)",
                      "3": "hip bone image-right (patient left)"},
        "seconds": round(elapsed, 2), "images_per_second": round(len(rows) / max(elapsed, 1e-9), 3),
    }
    if int(variants) > 1:
        info["anatomy_vary"] = list(vary)
        info["anatomy_scale_range_zyx"] = [list(r) for r in SCALE_RANGE_ZYX]
        info["bone_density_range"] = list(DENSITY_RANGE)
    if ranges is not None:
        info["realism"] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in vars(ranges).items()}
    (out / "cohort.json").write_text(jsonio.dumps(info, indent=2) + "\n")
    logger.info("CT route: %d images in %.1f s", len(rows), elapsed)
    return Path(manifest)
