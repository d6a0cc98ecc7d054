"""``run_study``: run the stages in order, skipping those already finished with the same cache key."""
from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from sijscan._progress import progress_enabled
from sijscan.errors import one_line
from sijscan.modelfolder import read_card
from sijscan.runinfo import check_and_write_run, model_identity
from sijscan.study.config import StudyConfig, StudyConfigError, load_config
from sijscan.study import stage_functions as fn
from sijscan.study.leakage import check_leakage
from sijscan.study.predict_stage import run_predict
from sijscan.study.context import StageContext, StageFailedError
from sijscan.study.outputs import OUTPUT_TYPES, OutputFormatError, Record, ReportOutput, model_folders
from sijscan.study.stages import DONE_FILE, STAGE_NAMES, STAGES, cache_key, read_done, write_done

#: What each stage runs: the table of stage functions (tests put cheap fakes in it); each returns its
#: stage's dataclass (:data:`sijscan.study.outputs.OUTPUT_TYPES`).
STAGE_FUNCTIONS: dict[str, Callable[[StageContext], Record]] = {
    "cohorts": fn.run_cohorts, "segmenter": fn.run_segmenter, "classifiers": fn.run_classifiers,
    "predict": run_predict, "evaluate": fn.run_evaluate, "compare": fn.run_compare,
    "progression": fn.run_progression, "report": fn.run_report,
}

log = logging.getLogger(__name__)


@dataclass
class StudyResult:
    out_dir: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """stage -> its output as JSON (what ``done.json`` holds)"""
    typed: dict[str, Record] = field(default_factory=dict)
    """stage -> its output (:mod:`sijscan.study.outputs`)"""
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def report(self) -> Path | None:
        rep = self.typed.get("report")
        return Path(rep.html) if isinstance(rep, ReportOutput) else None

    @property
    def findings(self) -> list[str]:
        """The report's plain-language findings (AUCs with DeLong p, progression ratios)."""
        rep = self.typed.get("report")
        return list(rep.findings) if isinstance(rep, ReportOutput) else []


def _check_force(force: Iterable[str]) -> set[str]:
    names = set(force)
    if "all" in names:
        return set(STAGE_NAMES)
    bad = sorted(names - set(STAGE_NAMES))
    if bad:
        raise StudyConfigError(f"--force: unknown stage(s) {', '.join(bad)} (stages: {', '.join(STAGE_NAMES)}, all)")
    return names


def run_study(config: str | os.PathLike[str] | StudyConfig, *, out_dir: str | os.PathLike[str],
              force: Iterable[str] = (), stop_after: str | None = None,
              progress: bool | None = None) -> StudyResult:
    """Run (or resume) a study into ``out_dir``; raise :class:`StageFailedError` naming a failed stage.

    ``force``: stage names to rerun even when cached (``"all"`` for every stage); stages downstream
    of a rerun stage rerun too. ``stop_after``: stop once that stage is done. ``progress``: bars on
    stderr for the long stages (None: in a terminal only, see :mod:`sijscan._progress`).
    """
    cfg = config if isinstance(config, StudyConfig) else load_config(config)
    show = progress_enabled(progress)
    forced = _check_force(force)
    if stop_after is not None and stop_after not in STAGE_NAMES:
        raise StudyConfigError(f"stop_after: unknown stage {stop_after!r} (stages: {', '.join(STAGE_NAMES)})")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    result = StudyResult(out_dir=out)
    keys: dict[str, str] = {}
    records: dict[str, dict[str, Any]] = {}
    rerun: set[str] = set()
    for stage in STAGES:
        key = cache_key(stage, cfg, keys)
        keys[stage.name] = key
        stage_dir = out / stage.name
        done = read_done(stage_dir)
        upstream_rerun = any(u in rerun for u in stage.upstream)
        cached = None
        if done is not None and done["key"] == key and stage.name not in forced and not upstream_rerun:
            cached = _read_cached(stage.name, done)
        if cached is not None:
            log.info("stage %s: cached (%s)", stage.name, stage_dir / DONE_FILE)
            result.skipped.append(stage.name)
            records[stage.name] = done
            result.typed[stage.name] = cached
            result.seconds[stage.name] = float(done.get("seconds", 0.0))
        else:
            record, produced = _run_stage(stage, cfg=cfg, out=out, key=key, outputs=result.typed, records=records,
                                          progress=show)
            rerun.add(stage.name)
            result.ran.append(stage.name)
            records[stage.name] = record
            result.typed[stage.name] = produced
            result.seconds[stage.name] = record["seconds"]
        result.outputs[stage.name] = records[stage.name]["outputs"]
        if stage.name == "cohorts":  # before any model is trained

            check_leakage(result.outputs["cohorts"])
        if stop_after == stage.name:
            break
    return result


def _read_cached(name: str, done: dict[str, Any]) -> Record | None:
    """A finished stage's output read back from its ``done.json``; None (rerun it) when the JSON does not
    fit the stage's dataclass (a cache another version wrote)."""
    try:
        return OUTPUT_TYPES[name].from_json(done["outputs"], where=f"{name}/{DONE_FILE} outputs")
    except OutputFormatError as exc:
        log.warning("stage %s: cached output does not fit this version (%s); running it again", name, exc)
        return None


def _write_stage_run(stage: Any, *, cfg: StudyConfig, stage_dir: Path, key: str,
                     records: dict[str, dict[str, Any]], outputs: dict[str, Record]) -> None:
    """``OUT/<stage>/run.json``: the stage's cache key, its upstream keys, the models it used and the
    config sections it read (the stage folder is rebuilt whenever the key changes)."""
    models = {}
    for name in stage.upstream:
        for k, path in (model_folders(outputs[name]) if name in outputs else {}).items():
            if (Path(path) / "model.json").is_file():
                models[f"{name}.{k}"] = model_identity(read_card(path))
    identity = {"stage": stage.name, "cache_key": key,
                "upstream": {u: records[u]["key"] for u in stage.upstream if u in records}, "models": models}
    check_and_write_run(stage_dir, command=f"study:{stage.name}", identity=identity,
                        arguments={s: cfg.section(s) for s in stage.sections}, resume=False)


def _run_stage(stage: Any, *, cfg: StudyConfig, out: Path, key: str, outputs: dict[str, Record],
               records: dict[str, dict[str, Any]], progress: bool = False) -> tuple[dict[str, Any], Record]:
    stage_dir = out / stage.name
    if stage_dir.exists():  # a stale or half-finished attempt: start clean
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    log.info("stage %s: running (%s)", stage.name, stage.description)
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    ctx = StageContext(config=cfg, out_dir=out, stage_dir=stage_dir,  # declared upstream = what it can read
                       upstream={u: outputs[u] for u in stage.upstream if u in outputs},
                       records={u: records[u] for u in stage.upstream if u in records}, progress=progress)
    try:
        produced = STAGE_FUNCTIONS[stage.name](ctx)
        if not isinstance(produced, OUTPUT_TYPES[stage.name]):
            raise TypeError(f"the stage function returned {type(produced).__name__}, not "
                            f"{OUTPUT_TYPES[stage.name].__name__}")
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # any failure of a stage becomes one line naming it
        log.debug("stage %s failed", stage.name, exc_info=True)
        raise StageFailedError(stage.name, one_line(exc, name_foreign=True)) from exc
    seconds = time.perf_counter() - t0
    record = {"stage": stage.name, "key": key, "outputs": produced.to_json(), "seconds": round(seconds, 3),
              "started_utc": started.isoformat(timespec="seconds"),
              "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    _write_stage_run(stage, cfg=cfg, stage_dir=stage_dir, key=key, records=records, outputs=outputs)
    write_done(stage_dir, record)
    log.info("stage %s: done in %.1f s", stage.name, seconds)
    return record, produced
