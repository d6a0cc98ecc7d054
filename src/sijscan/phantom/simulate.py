"""Render phantom cases in memory (``render_spec``, ``simulate_case``) or a whole cohort to files.

``simulate_cohort`` samples the cohort's specs in the parent process, then renders and writes each
image in a worker; every image depends only on its own spec and seeds, so the pixels are the same
for any number of workers.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sijscan import __version__, jsonio
from sijscan._progress import progress_bar
from sijscan.errors import InputError
from sijscan.phantom import writers
from sijscan.phantom.acquisition import acquire
from sijscan.phantom.body_model import render_projection
from sijscan.phantom.cohorts import SHORTCUT_BASE_RATE, SHORTCUT_MAX_RATE_POS, CaseRecord, sample_cohort
from sijscan.phantom.grading import GRADE_CUTS
from sijscan.phantom.profiles import AcquisitionProfile, get_profile
from sijscan.phantom.spec import CaseSpec, Geometry

logger = logging.getLogger(__name__)

MIN_SIZE, MAX_SIZE = 64, 8192


class SimulateError(InputError):
    """Bad arguments to the simulator (size, format, workers, output folder)."""


def geometry_for(profile: AcquisitionProfile, size: int) -> Geometry:
    """The detector grid for ``size`` pixels on the long (horizontal) side under ``profile``."""
    if not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise SimulateError(f"size must be {MIN_SIZE}-{MAX_SIZE} pixels, got {size}")
    size = int(size)
    return Geometry(height=int(round(size * profile.aspect)), width=size,
                    pixel_spacing_mm=profile.field_long_mm / size)


def _render_projection(spec: CaseSpec, geometry: Geometry):
    return render_projection(spec, geometry)


def render_spec(
    spec: CaseSpec, *, profile: str | AcquisitionProfile = "proof_a", size: int = 512, seed: int = 0,
    study_number: str = "000000",
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Render one spec under one profile: (display float32 [0, 1] bone bright, labels uint8, truth)."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    projection = _render_projection(spec, geometry_for(prof, size))
    acquired = acquire(projection, profile=prof, spec=spec, seed=seed, study_number=study_number)
    truth = {
        "sij_boxes": {k: [int(v) for v in box] for k, box in projection.sij_boxes.items()},
        "acquisition": acquired.meta, "spec": spec.to_dict(), "stored": acquired.stored,
        "projection_info": projection.info,
    }
    return acquired.display, projection.labels, truth


def simulate_case(
    *, cohort: str = "proof", index: int = 0, seed: int = 0, size: int = 512, n: int | None = None,
    followup: bool = False, overrides: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Patient ``index`` of a cohort, in memory: (image float32 [0, 1], labels uint8, truth dict).

    ``truth`` holds grades (patient's sides), label, split, site, SIJ boxes, latents and the
    acquisition record. ``followup=True`` returns the 2-year visit (error if the patient has none).
    """
    n = n if n is not None else max(index + 1, 1)
    overrides, profile_overrides = _split_overrides(overrides)
    cohort_def, records = sample_cohort(cohort, n=n, seed=seed, followup=True if followup else None,
                                        overrides=overrides, profile_overrides=profile_overrides)
    if not 0 <= index < len(records):
        raise SimulateError(f"index must be 0-{len(records) - 1}, got {index}")
    rec = records[index]
    if followup and rec.followup_spec is None:
        raise SimulateError(f"patient {rec.patient_id} has no follow-up visit")
    spec = rec.followup_spec if followup else rec.spec
    acq_seed = rec.followup_acquisition_seed if followup else rec.acquisition_seed
    image, labels, truth = render_spec(spec, profile=rec.profile(profile_overrides.get(rec.site)), size=size,
                                       seed=int(acq_seed),
                                       study_number=_study_number(rec, followup))
    truth.update(_truth_row(rec))
    if followup:
        truth.update(grade_left=rec.followup_grade_left, grade_right=rec.followup_grade_right,
                     label=rec.followup_label)
    return image, labels, truth


def _split_overrides(overrides: dict | None) -> tuple[dict, dict]:
    """``overrides`` -> (cohort fields, ``{site: {profile field: value}}`` from its ``"profiles"`` key)."""
    cohort_fields = dict(overrides or {})
    return cohort_fields, cohort_fields.pop("profiles", {}) or {}


def _study_number(rec: CaseRecord, followup: bool) -> str:
    return f"{(rec.spec.anatomy_seed + (7919 if followup else 0)) % 1_000_000:06d}"


def _truth_row(rec: CaseRecord) -> dict:
    s = rec.spec
    return {
        "patient_id": rec.patient_id, "cohort": rec.cohort, "split": rec.split, "site": rec.site,
        "label": rec.label, "grade_left": rec.grade_left, "grade_right": rec.grade_right,
        "latent_left": round(s.severity_left, 4), "latent_right": round(s.severity_right, 4),
        "latent_disease": round(rec.truth["latent_disease"], 4),
        "progression_risk": round(rec.truth["progression_risk"], 4),
        "osteitis_condensans": round(s.osteitis_condensans, 3), "degenerative": round(s.degenerative, 3),
        "vacuum": int(bool(s.vacuum)),
        "hip_narrowing": round(s.hip_narrowing, 3), "syndesmophytes": round(s.syndesmophytes, 3),
        "enthesitis": round(s.enthesitis, 3), "sex": s.sex, "age": s.age, "habitus": round(s.habitus, 3),
        "anatomy_seed": s.anatomy_seed, "gonad_shield": int(bool(s.extras.get("gonad_shield", False))),
    }


def _render_and_write(task: dict) -> dict:
    """Worker: render one visit, write its files, return the manifest fields it produced."""
    import cv2

    cv2.setNumThreads(1)
    rec: CaseRecord = task["record"]
    fu = task["followup"]
    spec = rec.followup_spec if fu else rec.spec
    seed = rec.followup_acquisition_seed if fu else rec.acquisition_seed
    prof = rec.profile(task["profile_overrides"].get(rec.site))
    image, labels, truth = render_spec(spec, profile=prof, size=task["size"], seed=int(seed),
                                       study_number=_study_number(rec, fu))
    out = Path(task["out_dir"])
    stem = rec.patient_id + ("_fu" if fu else "")
    meta = truth["acquisition"]
    meta["study_number"] = _study_number(rec, fu)
    if task["fmt"] == "dicom":
        img_path = out / "images" / f"{stem}.dcm"
        writers.write_dicom(
            img_path, truth["stored"], meta=meta, patient_id=rec.patient_id, cohort=rec.cohort,
            uid_entropy=[task["seed"], rec.cohort, rec.index, int(fu)], age=spec.age, sex=spec.sex,
            modality=prof.modality, manufacturer_model=prof.manufacturer_model,
        )
    else:
        img_path = writers.write_png16(out / "images" / f"{stem}.png", image,
                                       pixel_spacing_mm=meta["pixel_spacing_mm"])
    mask_path = writers.write_labels(out / "masks" / f"{stem}_labels.png", labels)
    boxes = truth["sij_boxes"]
    row = {
        "image": str(img_path), "mask": str(mask_path),
        "sij_box_image_left": " ".join(str(v) for v in boxes.get("image_left", [])),
        "sij_box_image_right": " ".join(str(v) for v in boxes.get("image_right", [])),
        "pixel_spacing_mm": round(meta["pixel_spacing_mm"], 6), "height": image.shape[0],
        "width": image.shape[1], "photometric": meta["photometric"], "bits_stored": meta["bits_stored"],
        "kvp": meta["kvp"], "mas": meta["mas"], "side_marker": meta["marker"] or "none",
        "field_box": " ".join(str(v) for v in meta["field_box"]),
    }
    return row


def _resolve_workers(workers: int | None) -> int:
    if workers is None:
        return max(1, os.cpu_count() or 1)
    if int(workers) < 1:
        raise SimulateError(f"workers must be >= 1, got {workers}")
    return int(workers)


def _run_tasks(tasks: list[dict], workers: int, *, bar: Any) -> list[dict]:
    if workers == 1 or len(tasks) <= 1:
        return [_tick(_render_and_write(t), bar) for t in tasks]
    ctx = multiprocessing.get_context("spawn")  # safe with threaded libraries; re-imports __main__
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx) as pool:
            chunk = max(1, min(8, len(tasks) // (8 * workers)))
            return [_tick(row, bar) for row in pool.map(_render_and_write, tasks, chunksize=chunk)]
    except BrokenProcessPool as exc:
        raise SimulateError(
            "a worker process died (out of memory, or a script read from stdin that 'spawn' workers cannot "
            "re-import); retry with workers=1 or from a script file"
        ) from exc


def _tick(row: dict, bar: Any) -> dict:
    bar.update(1)
    return row


def simulate_cohort(
    cohort: str, *, n: int | None = None, seed: int = 0, out_dir: str | os.PathLike, size: int = 2048,
    fmt: Literal["dicom", "png"] = "png", followup: bool | None = None, workers: int | None = None,
    overrides: dict | None = None, progress: bool | None = None,
) -> Path:
    """Generate a cohort's images, label maps, ``manifest.csv`` and ``cohort.json``; return the manifest.

    ``overrides``: cohort fields (e.g. ``{"shortcut_strength": 0.0, "prevalence": 0.5}``) plus
    ``"profiles": {site: {field: value}}`` for acquisition-profile fields. ``progress``: an n/N bar on
    stderr (None: in a terminal only, see :mod:`sijscan._progress`).
    """
    from sijscan.io.manifest import write_manifest  # lazy: pandas

    if fmt not in ("dicom", "png"):
        raise SimulateError(f"format must be 'dicom' or 'png', got {fmt!r}")
    geometry_for(get_profile("proof_a"), size)  # validates size early
    overrides, profile_overrides = _split_overrides(overrides)
    n_workers = _resolve_workers(workers)
    cohort_def, records = sample_cohort(cohort, n=n, seed=seed, followup=followup, overrides=overrides,
                                        profile_overrides=profile_overrides)
    out = Path(out_dir).resolve()  # manifest paths are written relative to the CSV, not the cwd
    try:
        (out / "images").mkdir(parents=True, exist_ok=True)
        (out / "masks").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SimulateError(f"cannot create output folder {out}: {exc}") from exc
    common = {"out_dir": str(out), "size": int(size), "fmt": fmt, "seed": int(seed),
              "profile_overrides": profile_overrides}
    tasks = [{**common, "record": r, "followup": False} for r in records]
    tasks += [{**common, "record": r, "followup": True} for r in records if r.followup_spec is not None]
    logger.info("simulating %d images of cohort %s with %d workers", len(tasks), cohort, n_workers)

    with progress_bar(total=len(tasks), desc=f"cohort {cohort}", enabled=progress, unit="image") as bar:
        rows = _run_tasks(tasks, n_workers, bar=bar)
    return _write_outputs(out, cohort_def, records, tasks, rows, seed=seed, size=size, fmt=fmt,
                          profile_overrides=profile_overrides, write_manifest=write_manifest)


def _write_outputs(out, cohort_def, records, tasks, rows, *, seed, size, fmt, profile_overrides, write_manifest):
    import pandas as pd

    by_key = {(t["record"].index, t["followup"]): row for t, row in zip(tasks, rows)}
    base_rows, fu_rows = [], []
    for rec in records:
        row = {**_truth_row(rec), **by_key[(rec.index, False)]}
        row.update(followup_label=rec.followup_label, followup_grade_left=rec.followup_grade_left,
                   followup_grade_right=rec.followup_grade_right, followup_image=None)
        if rec.followup_spec is not None:
            fu = by_key[(rec.index, True)]
            row["followup_image"] = os.path.relpath(fu["image"], out)
            fu_rows.append({**_truth_row(rec), **fu, "label": rec.followup_label,
                            "grade_left": rec.followup_grade_left, "grade_right": rec.followup_grade_right,
                            "latent_left": round(rec.followup_spec.severity_left, 4),
                            "latent_right": round(rec.followup_spec.severity_right, 4),
                            "baseline_label": rec.label, "baseline_grade_left": rec.grade_left,
                            "baseline_grade_right": rec.grade_right,
                            "baseline_image": os.path.relpath(row["image"], out)})
        base_rows.append(row)
    df = pd.DataFrame(base_rows)
    for col in ("followup_label", "followup_grade_left", "followup_grade_right"):
        df[col] = df[col].astype("Int64")
    manifest = write_manifest(df, out / "manifest.csv")
    if fu_rows:
        write_manifest(pd.DataFrame(fu_rows), out / "manifest_followup.csv")
    sites = sorted({r.site for r in records})
    info = {
        "sijscan_version": __version__, "cohort": cohort_def.to_dict(), "seed": int(seed), "size": int(size),
        "format": fmt, "n_images": len(rows), "n_followup": len(fu_rows),
        "profiles": {s: get_profile(s, profile_overrides.get(s)).to_dict() for s in sites},
        "prevalence_observed": float(df["label"].mean()),
        "split_counts": {k: int(v) for k, v in df["split"].value_counts().items()},
        "site_counts": {k: int(v) for k, v in df["site"].value_counts().items()},
        "profile_overrides": profile_overrides,
        "shortcut_model": {
            "findings_base_rate": SHORTCUT_BASE_RATE, "findings_rate_positives_at_strength_1": SHORTCUT_MAX_RATE_POS,
            "negatives_rate_factor": "1 - 0.6 * shortcut_strength",
            "site_b_probability": {"positive": 0.5 + 0.4 * cohort_def.shortcut_strength,
                                   "negative": 0.5 - 0.4 * cohort_def.shortcut_strength} if len(cohort_def.sites) > 1
            else None,
        },
        "grade_cuts": list(GRADE_CUTS),
        "label_rule": "sijscan.mny.mny_positive(grade_left, grade_right)",
        "label_map": {"0": "background", "1": "sacrum", "2": "hip bone image-left (patient right)",
                      "3": "hip bone image-right (patient left)"},
    }
    (out / "cohort.json").write_text(jsonio.dumps(info, indent=2, default=_json_default) + "\n")
    return Path(manifest)


def _json_default(obj):
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    return asdict(obj) if hasattr(obj, "__dataclass_fields__") else str(obj)
