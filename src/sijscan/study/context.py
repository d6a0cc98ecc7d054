"""What a study stage function gets (:class:`StageContext`) and how a failing stage is reported."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TypeVar

from sijscan.errors import InputError, SijscanError
from sijscan.study.config import StudyConfig
from sijscan.study.outputs import (OUTPUT_TYPES, ClassifiersOutput, CohortsOutput, CompareOutput, EvaluateOutput,
                                   PredictOutput, ProgressionOutput, Record, SegmenterOutput)

T = TypeVar("T", bound=Record)


class StudyDataError(InputError):
    """A cohort or model given in the config cannot be used for the study."""


class StageFailedError(SijscanError):
    """A stage raised; the message names the stage and the reason (one line)."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"stage '{stage}' failed: {reason}")
        self.stage = stage
        self.reason = reason


class UndeclaredUpstreamError(SijscanError):
    """A stage read the output of a stage it does not declare upstream (its cache key would not cover it)."""


@dataclass
class StageContext:
    """What a stage function gets: read an upstream stage's output as ``ctx.<stage>`` (typed)."""

    config: StudyConfig
    out_dir: Path
    stage_dir: Path
    upstream: Mapping[str, Record]
    """name -> output of each upstream stage the running stage declares (and only those)"""
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    """name -> done.json content of every finished stage so far (timings, keys)"""
    progress: bool = False
    """show progress bars (resolved once by run_study; never part of a cache key)"""

    def output(self, name: str, kind: type[T]) -> T:
        """The output of upstream stage ``name``; :class:`UndeclaredUpstreamError` when the running stage
        does not declare it (its context does not hold it)."""
        out = self.upstream.get(name)
        if out is None:
            raise UndeclaredUpstreamError(f"upstream stage {name!r} is not declared by this stage "
                                          f"(its context holds: {', '.join(sorted(self.upstream)) or 'none'})")
        if not isinstance(out, kind) or OUTPUT_TYPES.get(name) is not kind:
            raise TypeError(f"upstream stage {name!r}: {type(out).__name__}, not {kind.__name__}")
        return out

    def has(self, name: str) -> bool:
        """Whether the context holds upstream stage ``name`` (the report tolerates absent ones)."""
        return name in self.upstream

    @property
    def cohorts(self) -> CohortsOutput:
        return self.output("cohorts", CohortsOutput)

    @property
    def segmenter(self) -> SegmenterOutput:
        return self.output("segmenter", SegmenterOutput)

    @property
    def classifiers(self) -> ClassifiersOutput:
        return self.output("classifiers", ClassifiersOutput)

    @property
    def predict(self) -> PredictOutput:
        return self.output("predict", PredictOutput)

    @property
    def evaluate(self) -> EvaluateOutput:
        return self.output("evaluate", EvaluateOutput)

    @property
    def compare(self) -> CompareOutput:
        return self.output("compare", CompareOutput)

    @property
    def progression(self) -> ProgressionOutput:
        return self.output("progression", ProgressionOutput)
