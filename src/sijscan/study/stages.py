"""The study's stages, their inputs and outputs, and the cache that lets a rerun skip finished ones.

A stage is a function ``fn(ctx: StageContext) -> dict`` (JSON-able outputs, mostly paths) that
writes into ``ctx.stage_dir`` = ``OUT/<stage>/``. Its cache key is the SHA-256 of its name, the
config sections it reads, and the keys of the stages it depends on, so changing a section reruns
that stage and everything downstream. A finished stage writes ``OUT/<stage>/done.json`` (key,
outputs, seconds); on rerun a stage whose ``done.json`` holds the same key is skipped and its
outputs are read back. The functions live in :mod:`sijscan.study.work` and are looked up by name
at run time (tests replace them with cheap fakes).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sijscan.errors import SijscanError
from sijscan.study.config import StudyConfig

DONE_FILE = "done.json"
CACHE_VERSION = 1


class StageFailedError(SijscanError):
    """A stage raised; the message names the stage and the reason (one line)."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"stage '{stage}' failed: {reason}")
        self.stage = stage
        self.reason = reason


@dataclass(frozen=True)
class Stage:
    name: str
    sections: tuple[str, ...]
    """config sections the stage reads (hashed into its key)"""
    upstream: tuple[str, ...]
    """stages whose outputs it reads"""
    function: str
    """name of the function in :mod:`sijscan.study.work`"""
    description: str = ""


STAGES: tuple[Stage, ...] = (
    Stage("cohorts", ("cohorts",), (), "run_cohorts", "phantom cohorts generated or real manifests checked"),
    Stage("segmenter", ("segmenter", "study"), ("cohorts",), "run_segmenter", "pelvis/sacrum segmenter"),
    Stage("classifiers", ("classifiers", "study"), ("cohorts", "segmenter"), "run_classifiers",
          "standard (full view) and anatomy-aware (SIJ crop) classifiers"),
    Stage("predict", ("predict", "study"), ("cohorts", "segmenter", "classifiers"), "run_predict",
          "both models on the validation set and every test cohort"),
    Stage("evaluate", ("evaluate",), ("predict",), "run_evaluate", "metrics per cohort and model"),
    Stage("compare", ("evaluate",), ("predict",), "run_compare", "DeLong and McNemar per cohort (Table 2)"),
    Stage("progression", ("evaluate",), ("predict",), "run_progression",
          "confident false positives at baseline vs progression at follow-up"),
    Stage("report", (), ("cohorts", "segmenter", "classifiers", "predict", "evaluate", "compare", "progression"),
          "run_report", "HTML + Markdown report"),
)
STAGE_NAMES = tuple(s.name for s in STAGES)


@dataclass
class StageContext:
    """What a stage function gets."""

    config: StudyConfig
    out_dir: Path
    stage_dir: Path
    upstream: dict[str, dict[str, Any]]
    """name -> outputs of every finished stage so far"""
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    """name -> done.json content of every finished stage so far (timings, keys)"""
    progress: bool = False
    """show progress bars (resolved once by run_study; never part of a cache key)"""


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(stage: Stage, config: StudyConfig, upstream_keys: dict[str, str]) -> str:
    """Hash of the stage's config sections and its upstream stages' keys."""
    return _digest({"version": CACHE_VERSION, "stage": stage.name,
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
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def stage_function(stage: Stage) -> Callable[[StageContext], dict[str, Any]]:
    from sijscan.study import work

    return getattr(work, stage.function)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, SijscanError) else f"{type(exc).__name__}: {text}"
