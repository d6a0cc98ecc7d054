"""What a study stage function gets (:class:`StageContext`) and how a failing stage is reported."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sijscan.errors import InputError, SijscanError
from sijscan.study.config import StudyConfig


class StudyDataError(InputError):
    """A cohort or model given in the config cannot be used for the study."""


class StageFailedError(SijscanError):
    """A stage raised; the message names the stage and the reason (one line)."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"stage '{stage}' failed: {reason}")
        self.stage = stage
        self.reason = reason


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


