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
from sijscan.phantom.ct.case import CTCase, load_ct_case
from sijscan.phantom.ct.joint import joint_report
from sijscan.phantom.ct.batch import Job, render_all
from sijscan.phantom.ct.proportions import DENSITY_RANGE, SCALE_RANGE_ZYX, VARY
from sijscan.phantom.ct.realism import RealismRanges, get_realism
from sijscan.phantom.ct.render import check_device
from sijscan.phantom.profiles import AcquisitionProfile, get_profile

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class CTCohortError(InputError):
    """Bad arguments to ``render_ct_cohort`` (n, split, output folder)."""


def render_order(drawn: dict[int, Any], variants: int = 1) -> list[int]:
    """The indices of one anatomy variant (index % ``variants``), then of one resampled CT (slice
    thickness, pixel), next to each other.

    A radiograph depends only on (seed, case, index), never on what was rendered before, so the order
    is free; preparing a variant costs seconds (its slabs and joints), the renderer keeps the last few
    resampled CTs, and a resampling costs about a second per render (``realism: varied`` draws 24
    settings), so grouping prepares each variant, and each setting's CT, once per case."""
    def key(j: int) -> tuple[int, float, float, int]:
        o = drawn[j]
        grid = (-1.0, -1.0) if o is None else (o.slice_mm or 0.0, o.pixel_mm or 0.0)
        return (j % variants, *grid, j)

    return sorted(drawn, key=key)


def render_ct_cohort(
    cases: Sequence[CTCase | str | os.PathLike], out_dir: str | os.PathLike, *, n: int, size: int = 1024,
    seed: int = 0, profile: str | AcquisitionProfile | None = None, split: str = "train", device: str = "cpu",
    prevalence: float = 0.5, realism: str | RealismRanges | None = None, variants: int = 1,
    vary: Sequence[str] = VARY, workers: int = 1,
) -> Path:
    """Write ``n`` radiographs PER CASE (cases or case folders) to ``out_dir``; return the manifest path.

    ``patient_id`` is the CT case (all radiographs of one CT are one patient: split by it).
    ``profile=None`` draws one of the phantom's hospital profiles per radiograph. ``realism``: a
    preset of :mod:`sijscan.phantom.ct.realism` ("off" or None: plain renders, "varied", "stress")
    or a ``RealismRanges``; each radiograph's options are drawn by a generator of their own.
    ``variants`` > 1 renders each case as that many anatomy variants (:mod:`sijscan.phantom.ct.proportions`;
    the first is the CT as scanned): radiograph j shows variant j % ``variants``; ``vary`` names what
    the variants vary ("proportions", "density"). ``workers`` > 1 renders in that many spawned
    processes (CPU; :mod:`sijscan.phantom.ct.batch`); the files do not depend on it.
    """
    from sijscan.io.manifest import write_manifest  # lazy: pandas

    import pandas as pd

    if int(n) < 1:
        raise CTCohortError(f"n must be >= 1, got {n}")
    if not 0.0 <= prevalence <= 1.0:
        raise CTCohortError(f"prevalence must be within 0-1, got {prevalence}")
    if split not in SPLITS:
        raise CTCohortError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    variants = int(variants)
    if variants < 1:
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
    job = Job(out=out, seed=int(seed), size=int(size), profile=prof, prevalence=prevalence, device=device, split=split,
              realism_name=ranges.name if ranges is not None else None, variants=variants, vary=vary)
    for case in loaded:
        drawn = {j: None if ranges is None else ranges.sample(
            np.random.default_rng([int(seed), zlib.crc32(case.name.encode()), j, 24])) for j in range(int(n))}
        by_index = render_all(case, render_order(drawn, variants), drawn, job, workers=workers)
        rows.extend(by_index[j] for j in range(int(n)))  # in index order, whatever order they were rendered in
    elapsed = time.perf_counter() - t0
    manifest = write_manifest(pd.DataFrame(rows), out / "manifest.csv")
    info = {
        "sijscan_version": __version__, "route": "ct", "seed": int(seed), "size": int(size), "n_per_case": int(n),
        "split": split, "device": device, "anatomy_variants": variants,
        "profile": prof.name if prof else "random per radiograph",
        "prevalence_target": prevalence, "n_images": len(rows),
        "cases": {c.name: {"source": c.source, "shape": list(c.hu.shape), "spacing_zyx_mm": list(c.spacing),
                           "soft_tissue": c.soft_tissue, "sij": joint_report(c)} for c in loaded},
        "label_rule": "sijscan.mny.mny_positive(grade_left, grade_right); grades are the patient's sides",
        "label_map": {"0": "background", "1": "sacrum", "2": "hip bone image-left (patient right)",
                      "3": "hip bone image-right (patient left)"},
        "seconds": round(elapsed, 2), "images_per_second": round(len(rows) / max(elapsed, 1e-9), 3),
    }
    if variants > 1:
        info["anatomy_vary"] = list(vary)
        info["anatomy_scale_range_zyx"] = [list(r) for r in SCALE_RANGE_ZYX]
        info["bone_density_range"] = list(DENSITY_RANGE)
    if ranges is not None:
        info["realism"] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in vars(ranges).items()}
    (out / "cohort.json").write_text(jsonio.dumps(info, indent=2) + "\n")
    logger.info("CT route: %d images in %.1f s", len(rows), elapsed)
    return Path(manifest)
