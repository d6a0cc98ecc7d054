"""Rendering a CT case's radiographs and writing them, in this process or in spawned workers.

A radiograph depends only on (seed, case, index) and the options drawn for that index, so any
split of the indices over processes gives the same files. Workers are SPAWNED, never forked: a
process forked from one whose OpenCV thread pool had run hung in ``cv2.setNumThreads`` (seen in the
demo, session 7). Each worker gets the case without its caches, prepares it once (a few seconds),
renders a contiguous run of the grouped render order (so renders of one anatomy variant and one
resampled CT stay together) with one OpenCV thread, and returns the manifest rows.
"""
from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from sijscan.phantom import writers
from sijscan.phantom.ct.case import CTCase
from sijscan.phantom.ct.proportions import variant_of
from sijscan.phantom.ct.render import render_ct_radiograph, sample_grades
from sijscan.phantom.profiles import AcquisitionProfile

logger = logging.getLogger(__name__)

MIN_PER_WORKER = 12
"""Fewer renders than this per worker are made in this process: a worker's start and its own
preparation of the case cost several seconds."""


@dataclass(frozen=True)
class Job:
    """What every radiograph of one cohort shares."""

    out: Path
    seed: int
    size: int
    profile: AcquisitionProfile | None
    prevalence: float
    device: str
    split: str
    realism_name: str | None
    variants: int
    vary: tuple[str, ...]


def _boxes_text(box: list[int]) -> str:
    return " ".join(str(v) for v in box)


def _realism_columns(name: str, opts) -> dict:
    return {"realism": name, "slice_mm": opts.slice_mm or "", "implant": opts.implant,
            "implant_side": opts.implant_side if opts.implant != "none" else "", "fov": opts.fov,
            "table": int(opts.table), "gas_over_sij": round(opts.gas_over_sij, 3),
            "bladder_contrast_mg_ml": round(opts.bladder_contrast_mg_ml, 1), "streaks": int(opts.streaks)}


def _row(case: CTCase, j: int, r, opts, what: dict, job: Job, img: Path, mask: Path) -> dict:
    acq, pose = r.meta["acquisition"], r.meta["pose"]
    return {
        "image": str(img), "patient_id": f"CT-{case.name}", "cohort": "ct", "split": job.split,
        "label": r.label, "grade_left": r.grades["left"], "grade_right": r.grades["right"], "mask": str(mask),
        "ct_case": case.name, "site": r.meta["profile"],
        "sij_box_image_left": _boxes_text(r.sij_boxes["image_left"]),
        "sij_box_image_right": _boxes_text(r.sij_boxes["image_right"]),
        "pixel_spacing_mm": round(acq["pixel_spacing_mm"], 6), "height": r.image.shape[0], "width": r.image.shape[1],
        "photometric": acq["photometric"], "bits_stored": acq["bits_stored"], "kvp": acq["kvp"],
        "mas": acq["mas"], "side_marker": acq["marker"] or "none",
        "field_box": _boxes_text(acq["field_box"]), "tilt_deg": pose["tilt_deg"],
        "axial_deg": pose["axial_deg"], "inplane_deg": pose["inplane_deg"], "sid_mm": pose["sid_mm"],
        "sod_mm": pose["sod_mm"], "habitus": r.meta["habitus"], "bowel_gas": r.meta["bowel_gas"],
        "latent_left": r.meta["latents"]["left"], "latent_right": r.meta["latents"]["right"],
        "osteitis_condensans": round(r.meta["mimics"]["osteitis_condensans"], 3),
        "degenerative": round(r.meta["mimics"]["degenerative"], 3), "vacuum": int(r.meta["mimics"]["vacuum"]),
        "sex": r.meta["sex_for_shield"], "age": r.meta["age"],
        **({} if job.variants == 1 else {"anatomy_variant": j % job.variants, **what}),
        **({} if opts is None else _realism_columns(job.realism_name, opts)),
    }


def render_indices(case: CTCase, order: list[int], drawn: dict[int, Any], job: Job) -> dict[int, dict]:
    """Render and write radiographs ``order`` of ``case`` (in that order); their manifest rows by index."""
    k, current, rows = job.variants, None, {}
    for j in order:
        if current is None or current[0] != j % k:  # grouped: each variant is prepared once, then let go
            current = (j % k, *variant_of(case, j % k, seed=job.seed, vary=job.vary))
        _, anatomy, what = current
        rng = np.random.default_rng([job.seed, zlib.crc32(case.name.encode()), j])
        grades = sample_grades(rng, prevalence=job.prevalence)
        r = render_ct_radiograph(anatomy, size=job.size, rng=rng, profile=job.profile, grades=grades,
                                 device=job.device, realism=drawn[j])
        stem = f"ct_{case.name}_{j:04d}"
        img = writers.write_png16(job.out / "images" / f"{stem}.png", r.image,
                                  pixel_spacing_mm=r.meta["acquisition"]["pixel_spacing_mm"])
        mask = writers.write_labels(job.out / "masks" / f"{stem}_labels.png", r.labels)
        rows[j] = _row(case, j, r, drawn[j], what, job, img, mask)
    return rows


def _worker(case: CTCase, order: list[int], drawn: dict[int, Any], job: Job) -> dict[int, dict]:
    import cv2  # one thread per worker: the workers are the parallelism

    cv2.setNumThreads(1)
    return render_indices(case, order, drawn, job)


def render_all(case: CTCase, order: list[int], drawn: dict[int, Any], job: Job, *, workers: int = 1) -> dict[int, dict]:
    """Every radiograph of ``case`` in ``order``: here, or (``workers`` > 1, CPU, at least
    :data:`MIN_PER_WORKER` renders each) in that many spawned processes, one contiguous run of
    ``order`` each. The files and rows are the same either way (tested)."""
    n_workers = min(int(workers), len(order) // MIN_PER_WORKER)
    if n_workers < 2 or job.device != "cpu":
        return render_indices(case, order, drawn, job)
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    bare = replace(case, cache={})  # the workers prepare their own; the caller's caches stay here
    chunks = [[int(j) for j in c] for c in np.array_split(np.asarray(order), n_workers) if len(c)]
    logger.info("%s: %d renders in %d spawned workers", case.name, len(order), len(chunks))
    rows: dict[int, dict] = {}
    with ProcessPoolExecutor(len(chunks), mp_context=mp.get_context("spawn")) as pool:
        for part in pool.map(_worker, [bare] * len(chunks), chunks,
                             [{j: drawn[j] for j in c} for c in chunks], [job] * len(chunks)):
            rows.update(part)
    return rows
