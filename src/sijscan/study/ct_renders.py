"""CT-route renders a study makes: training data of a model, or a test cohort of real anatomy."""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from sijscan.phantom.ct import load_ct_case, render_ct_cohort
from sijscan.study.config import CTRouteSpec
from sijscan.study.context import StudyDataError

log = logging.getLogger(__name__)

SEED_OFFSET = {"segmenter": 0, "classifiers": 1, "cohort": 2}
"""Each use renders with its own seed (study seed + offset): no radiograph is in two of them."""
VAL_EVERY = 7
"""A model's CT-route training renders: every 7th (per CT) is a validation row."""


@functools.lru_cache(maxsize=4)
def _loaded(folder: str, stamp: float) -> Any:
    """A CT case loaded once per study process (``stamp``: the folder's mtime, so an edited case reloads).

    Loading and preparing a case (reorientation, slab stacks, joints) takes 20-40 s on two cores; the
    segmenter, the classifiers and a test cohort may all render from the same CT."""
    return load_ct_case(folder)


def _case(folder: str) -> Any:
    p = Path(folder).resolve()
    return _loaded(str(p), p.stat().st_mtime)


def render_ct_set(spec: CTRouteSpec, *, out: Path, seed: int, use: str, split: str, where: str,
                  cohort: str | None = None, workers: int = 1) -> tuple[str | None, dict[str, Any]]:
    """Render ``spec.n`` radiographs per present CT case into ``out``; (manifest or None, facts).

    Each render draws its CT acquisition and body from ``spec.realism`` (a preset name). ``use``
    ("segmenter", "classifiers", "cohort") picks the seed offset; ``split`` "train" marks every
    VAL_EVERY-th render (per CT) 'val'; ``cohort`` names the manifest's cohort column; ``workers``
    (the study's) render processes (the files do not depend on it).
    """
    from sijscan.io.manifest import read_manifest, write_manifest  # lazy: pandas

    present = [c for c in spec.cases if Path(c).is_dir()]
    missing = [c for c in spec.cases if c not in present]
    if missing and spec.if_missing == "error":
        raise StudyDataError(f"{where}: CT case folder not found: {missing[0]}")
    for c in missing:
        log.warning("%s: %s not found; going on without it (if_missing: skip)", where, c)
    info: dict[str, Any] = {"cases": [str(Path(c).resolve()) for c in present], "skipped": missing,
                            "n_per_case": spec.n, "size": spec.size, "realism": spec.realism,
                            "variants": spec.variants, "vary": list(spec.vary)}
    if not present:
        info["n_images"] = 0
        return None, info
    manifest = render_ct_cohort([_case(c) for c in present], out, n=spec.n, size=spec.size,
                                seed=seed + SEED_OFFSET[use], profile=None, split=split, realism=spec.realism,
                                variants=spec.variants, vary=spec.vary, workers=workers)
    if split == "train" or cohort is not None:
        df = read_manifest(manifest)
        if split == "train":
            first = df.groupby("ct_case").cumcount()
            df.loc[first % VAL_EVERY == VAL_EVERY - 1, "split"] = "val"
        if cohort is not None:
            df["cohort"] = cohort
        write_manifest(df, manifest)
    info["n_images"] = spec.n * len(present)
    info["manifest"] = str(manifest)
    return str(manifest), info
