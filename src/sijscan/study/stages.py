"""The study's stages, their inputs and outputs, and the cache that lets a rerun skip finished ones.

A stage is a function ``fn(ctx: StageContext) -> <Stage>Output`` (a frozen dataclass of
:mod:`sijscan.study.outputs`, mostly paths) that writes into ``ctx.stage_dir`` = ``OUT/<stage>/``.
It reads the outputs of the stages it declares upstream, and only those (``ctx.predict.sets``;
reading another raises :class:`sijscan.study.context.UndeclaredUpstreamError`). Its cache key is
the SHA-256 of its name, the config sections it reads, and the keys of its upstream stages, so
changing a section reruns that stage and everything downstream. A finished stage writes
``OUT/<stage>/done.json`` (key, ``outputs`` = the dataclass's JSON, seconds); on rerun a stage whose
``done.json`` holds the same key is skipped and its output is read back into its dataclass (JSON
that does not fit reruns the stage). What each stage runs is the table
:data:`sijscan.study.run.STAGE_FUNCTIONS` (functions in :mod:`sijscan.study.stage_functions`); the
context they get is :class:`sijscan.study.context.StageContext`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sijscan
from sijscan import jsonio
from sijscan.phantom.ct import proportions
from sijscan.phantom.ct.realism import REALISM_PRESETS
from sijscan.files import atomic_write
from sijscan.study.config import StudyConfig

DONE_FILE = "done.json"
CACHE_VERSION = 1


@dataclass(frozen=True)
class Stage:
    name: str
    sections: tuple[str, ...]
    """config sections the stage reads (hashed into its key)"""
    upstream: tuple[str, ...]
    """stages whose outputs it reads: the only ones its context holds (hashed into its key)"""
    description: str = ""


STAGES: tuple[Stage, ...] = (
    Stage("cohorts", ("cohorts",), (), "phantom cohorts generated or real manifests checked"),
    Stage("segmenter", ("segmenter", "study"), ("cohorts",), "pelvis/sacrum segmenter"),
    Stage("classifiers", ("classifiers", "study"), ("cohorts", "segmenter"),
          "standard (full view) and anatomy-aware (SIJ crop) classifiers"),
    Stage("predict", ("predict", "study"), ("cohorts", "segmenter", "classifiers"),
          "both models on the validation set and every test cohort"),
    Stage("evaluate", ("evaluate",), ("classifiers", "predict"),
          "metrics per cohort and model; Grad-CAM share inside the true SIJ boxes"),
    Stage("compare", ("evaluate",), ("classifiers", "predict"), "DeLong and McNemar per cohort (Table 2)"),
    Stage("progression", ("evaluate",), ("classifiers", "predict"),
          "confident false positives at baseline vs progression at follow-up"),
    Stage("report", (), ("cohorts", "segmenter", "classifiers", "predict", "evaluate", "compare", "progression"),
          "HTML + Markdown report"),
)
STAGE_NAMES = tuple(s.name for s in STAGES)


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def generators() -> dict[str, Any]:
    """What the config names but the code defines: the sijscan version, the CT route's realism presets
    and anatomy-variant ranges. Hashed into every key, so that a study rerun after sijscan changed
    them renders again instead of reusing renders a preset of the same name no longer makes."""
    return {"sijscan": sijscan.__version__,
            "realism": {k: None if v is None else dataclasses.asdict(v) for k, v in REALISM_PRESETS.items()},
            "anatomy_variants": {"scales": proportions.SCALE_RANGE_ZYX, "density": proportions.DENSITY_RANGE}}


def cache_key(stage: Stage, config: StudyConfig, upstream_keys: dict[str, str]) -> str:
    """Hash of the stage's config sections, its upstream stages' keys and :func:`generators`."""
    return _digest({"version": CACHE_VERSION, "stage": stage.name, "generators": generators(),
                    "sections": {s: config.section(s) for s in stage.sections},
                    "upstream": {u: upstream_keys[u] for u in stage.upstream}})


def read_done(stage_dir: Path) -> dict[str, Any] | None:
    path = stage_dir / DONE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and "key" in data and "outputs" in data else None


def write_done(stage_dir: Path, record: dict[str, Any]) -> Path:
    stage_dir.mkdir(parents=True, exist_ok=True)
    path = stage_dir / DONE_FILE
    atomic_write(path, jsonio.dumps(record, indent=2, default=str) + "\n")
    return path
