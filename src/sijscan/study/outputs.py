"""What each study stage returns: one frozen dataclass per stage, with a JSON round trip.

A stage's ``done.json`` stores ``output.to_json()``; a cached stage is read back with
``<Output>.from_json(...)`` (:data:`OUTPUT_TYPES` names the class of each stage), and later stages
read typed attributes (``ctx.predict.sets``, ``ctx.classifiers.anatomy.model``) instead of string
look-ups. Construction checks and normalises every field against its annotation (lists -> tuples,
nested mappings -> their dataclasses, numpy numbers -> Python ones), so a value read back from
JSON equals the one the stage returned. JSON that does not fit (a cache written by another
format) raises :class:`OutputFormatError`; the runner then reruns the stage.

The JSON is the format these stages wrote before they were typed (version 1 of ``done.json``):
optional fields (default ``None``) are left out when ``None``; the cohorts and progression
stages write their per-cohort mapping at the top level. Fields typed ``Any`` hold JSON-able
statistics blocks as the evaluation functions make them (grade agreement, Grad-CAM share).
"""
from __future__ import annotations

import copy
import dataclasses
import numbers
import os
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Union

from sijscan.errors import SijscanError


class OutputFormatError(SijscanError, ValueError):
    """JSON (or a value) that does not fit a stage output's fields."""


def _coerce(value: Any, hint: Any, where: str) -> Any:  # noqa: C901 - one branch per kind of annotation
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, where)
    if value is None:
        raise OutputFormatError(f"{where}: null where a value is required")
    if isinstance(hint, type) and issubclass(hint, Record):
        if isinstance(value, hint):
            return value
        if isinstance(value, Mapping):
            return hint.from_json(value, where=where)
    elif origin is tuple:
        if isinstance(value, (list, tuple)):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
            if len(args) == len(value):
                return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    elif origin is Mapping:
        if isinstance(value, Mapping):
            return {str(k): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    elif hint is bool:
        if isinstance(value, (bool, numbers.Integral)) and value in (0, 1):
            return bool(value)
    elif hint is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
    elif hint is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
    else:
        raise TypeError(f"{where}: unsupported annotation {hint!r}")
    raise OutputFormatError(f"{where}: {type(value).__name__} {value!r:.60} does not fit {hint!r}")


def _to_json(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _to_json(v) for k, v in value.items()}
    return copy.deepcopy(value)


@dataclasses.dataclass(frozen=True)
class Record:
    """A frozen dataclass whose fields are checked against their annotations, with ``to_json``/``from_json``."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(getattr(self, f.name), hints[f.name], f"{type(self).__name__}.{f.name}")
            object.__setattr__(self, f.name, value)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (optional fields left out when ``None``)."""
        return {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self)
                if not (getattr(self, f.name) is None and f.default is None)}

    @classmethod
    def from_json(cls, data: Any, *, where: str = "") -> Any:
        """The dataclass from :meth:`to_json`'s data; :class:`OutputFormatError` when it does not fit."""
        where = where or cls.__name__
        if not isinstance(data, Mapping):
            raise OutputFormatError(f"{where}: expected an object, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        missing = sorted(n for n, f in fields.items() if n not in data and f.default is dataclasses.MISSING
                         and f.default_factory is dataclasses.MISSING)
        if unknown or missing:
            raise OutputFormatError(f"{where}: unknown key(s) {unknown}, missing key(s) {missing}")
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class ByName(Record):
    """A stage output that is one mapping name -> entry, written at the top level of its JSON."""

    entries: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {k: _to_json(v) for k, v in self.entries.items()}

    @classmethod
    def from_json(cls, data: Any, *, where: str = "") -> Any:
        if not isinstance(data, Mapping):
            raise OutputFormatError(f"{where or cls.__name__}: expected an object, got {type(data).__name__}")
        return cls(entries=data)


# --- pieces ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CTRenders(Record):
    """CT-route radiographs a stage rendered (:func:`sijscan.study.ct_renders.render_ct_set`)."""

    cases: tuple[str, ...]
    skipped: tuple[str, ...]
    n_per_case: int
    size: int
    n_images: int
    manifest: str | None = None
    realism: str = "off"
    """the realism preset each render was drawn under (a done.json from before it existed: plain, "off")"""
    variants: int = 1
    """anatomy variants per CT (1: as scanned; a done.json from before it existed: 1)"""
    vary: tuple[str, ...] = ("proportions", "density")
    """what the variants varied"""


@dataclasses.dataclass(frozen=True)
class Cohort(Record):
    manifest: str | None
    """None: a CT-route cohort none of whose CTs is here (``skipped`` names them)"""
    role: str
    n: int
    source: str
    """phantom, ct or manifest"""
    skipped: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True)
class ClassifierModel(Record):
    model: str
    view: str
    cutoff: float | None
    seed: int
    warnings: tuple[str, ...]
    degenerate: bool
    ensemble_seeds: tuple[int, ...] | None = None
    """an ensemble (``classifiers.ensemble``): its members' seeds; ``seed`` is then the first"""

    @property
    def seed_key(self) -> str:
        """How seed tables name this model: its seed, or "ensemble"."""
        return "ensemble" if self.ensemble_seeds else str(self.seed)


@dataclasses.dataclass(frozen=True)
class PredictCounts(Record):
    """Images of one evaluation set: all, analysed by both models, without a prediction, QC-withheld."""

    n: int
    n_paired: int
    standard: int
    anatomy: int
    standard_qc_withheld: int | None = None
    anatomy_qc_withheld: int | None = None


@dataclasses.dataclass(frozen=True)
class GradcamExample(Record):
    set: str
    model: str
    image: str
    label: int | None
    probability: float | None
    png: str


@dataclasses.dataclass(frozen=True)
class SeedPredictions(Record):
    """The anatomy-aware model's other training seeds: seed -> set -> predictions CSV."""

    first: str
    other: Mapping[str, Mapping[str, str]]


@dataclasses.dataclass(frozen=True)
class SetMetrics(Record):
    dir: str
    auc: float | None
    auc_ci: tuple[float | None, ...] | None
    roc: str
    qc_excluded: Any = None
    """The same set without its QC-withheld images: ``n``, ``n_qc_withheld_excluded``, ``auc``, ``auc_ci``."""


@dataclasses.dataclass(frozen=True)
class Comparison(Record):
    """One evaluation set of Table 2: both AUCs, DeLong and McNemar."""

    n: int
    auc_standard: float | None
    auc_anatomy: float | None
    delong_p: float | None
    auc_difference_ci: tuple[float | None, ...] | None
    mcnemar_p: float | None


@dataclasses.dataclass(frozen=True)
class Progression(Record):
    """One evaluation set with follow-up labels; the per-model mappings are keyed standard/anatomy."""

    dir: str
    json: str
    rows: tuple[tuple[str, ...], ...]
    confident: float
    paper_ratio: Mapping[str, float | None]
    paper_ratio_ci: Mapping[str, tuple[float | None, ...] | None]
    paper_ratio_reason: Mapping[str, str | None]


# --- one per stage ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CohortsOutput(ByName):
    entries: Mapping[str, Cohort]


@dataclasses.dataclass(frozen=True)
class SegmenterOutput(Record):
    model: str
    trained: bool
    arch: str
    augment: str | None = None
    val_dice: float | None = None
    ct_route: CTRenders | None = None

    MODEL_FIELDS: ClassVar[tuple[str, ...]] = ("model",)


@dataclasses.dataclass(frozen=True)
class ClassifiersOutput(Record):
    recipe: str
    arch: str
    crop: str
    augment: Mapping[str, Any]
    standard: ClassifierModel
    anatomy: ClassifierModel
    anatomy_seeds: Mapping[str, str]
    """training seed -> anatomy-aware model folder (the first seed's is ``anatomy``)"""
    ct_route: CTRenders | None = None

    MODEL_FIELDS: ClassVar[tuple[str, ...]] = ("standard", "anatomy")

    def model(self, name: str) -> ClassifierModel:
        """The classifier of a study model name (``standard`` or ``anatomy``, :data:`sijscan.study.names.MODELS`)."""
        if name not in self.MODEL_FIELDS:
            raise KeyError(f"no study model {name!r} (models: {', '.join(self.MODEL_FIELDS)})")
        return getattr(self, name)


@dataclasses.dataclass(frozen=True)
class PredictOutput(Record):
    sets: Mapping[str, str]
    """evaluation set -> manifest"""
    predictions: Mapping[str, Mapping[str, str]]
    """model -> set -> predictions CSV of the images both models analysed"""
    combined: Mapping[str, str]
    """model -> all sets' predictions in one CSV"""
    failed: Mapping[str, PredictCounts]
    gradcam: tuple[GradcamExample, ...]
    anatomy_seeds: SeedPredictions | None = None
    camshare: Mapping[str, str] | None = None
    """set -> per-positive Grad-CAM shares of both models (:func:`sijscan.study.where_models_look.score_sets`)"""


@dataclasses.dataclass(frozen=True)
class EvaluateOutput(Record):
    standard: Mapping[str, SetMetrics]
    anatomy: Mapping[str, SetMetrics]
    grades: Mapping[str, Any]
    """model -> set -> grade agreement (:func:`sijscan.evaluate.grades.grade_agreement` + available/reason)"""
    camshare: Mapping[str, Any]
    """set -> Grad-CAM share summary (:func:`sijscan.study.where_models_look.cam_shares` of predict's tables)"""
    anatomy_seed_auc: Mapping[str, Any] | None = None
    """set -> seed -> AUC (:func:`sijscan.study.seeds.seed_aucs`)"""

    def metrics(self, model: str) -> Mapping[str, SetMetrics]:
        if model not in ("standard", "anatomy"):
            raise KeyError(f"no study model {model!r}")
        return getattr(self, model)


@dataclasses.dataclass(frozen=True)
class CompareOutput(Record):
    comparison: str
    table2_md: str
    dir: str
    summary: Mapping[str, Comparison]
    table2_rows: tuple[tuple[str, ...], ...]
    warnings: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ProgressionOutput(ByName):
    entries: Mapping[str, Progression]


@dataclasses.dataclass(frozen=True)
class ReportOutput(Record):
    html: str
    markdown: str
    provenance: str
    findings: tuple[str, ...]
    summary_figure: str | None


OUTPUT_TYPES: dict[str, type[Record]] = {
    "cohorts": CohortsOutput, "segmenter": SegmenterOutput, "classifiers": ClassifiersOutput,
    "predict": PredictOutput, "evaluate": EvaluateOutput, "compare": CompareOutput,
    "progression": ProgressionOutput, "report": ReportOutput,
}
"""stage name -> the dataclass its function returns"""


def model_folders(output: Record) -> dict[str, str]:
    """The model folders a stage output names (``run.json`` records their identity): field -> folder."""
    out = {}
    for name in getattr(output, "MODEL_FIELDS", ()):
        value = getattr(output, name)
        out[name] = value if isinstance(value, str) else value.model
    return out
