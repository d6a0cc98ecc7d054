"""A study's configuration: typed, validated dataclasses read from YAML.

Every problem is a :class:`StudyConfigError` whose one-line message names the bad key as a dotted
path (``segmenter.train.epochs: must be an integer >= 1, got 'ten'``). Unknown keys are errors too
(a typo must not silently fall back to a default).

Layout (see ``configs/demo.yaml`` and ``configs/paper.yaml``)::

    study:       {name, seed, device: auto|cpu|gpu, workers}
    cohorts:     {NAME: {role: train|test, phantom: {cohort, n, seed, size, format, followup, overrides}}
                  | {role, manifest: PATH}}          # exactly one training cohort (split train/val)
    segmenter:   {model: DIR} | {train: {arch, epochs, size, batch_size, lr, max_images, devices,
                                     augment: none|basic|strong, extra_manifest: CSV, extra_weight,
                                     ct_route: {cases: [DIR...], n, size, if_missing: error|skip}}}
    classifiers: {recipe: quick|paper|cpu, arch, init: imagenet|random, init_weights, devices, num_nodes,
                  max_images, epochs}
    predict:     {batch_size, gradcam_examples}
    evaluate:    {n_bootstrap, confident, progression_bootstrap, cam_share_images}
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from sijscan.anatomy.train_config import train_default as D  # one source of the segmenter's defaults
from sijscan.errors import InputError

PHANTOM_COHORTS = ("proof", "gespic", "optiref", "damact")
ROLES = ("train", "test")
DEVICES = ("auto", "cpu", "gpu")
RECIPES = ("quick", "paper", "cpu")
INITS = ("imagenet", "random")
SEGMENTER_ARCHS = ("unet-default", "unet-paper")
AUGMENT_LEVELS = ("none", "basic", "strong")  # sijscan.anatomy.augment (not imported: keep config light)
CLASSIFIER_ARCHS = ("resnet50-sij", "tiny-resnet")


class StudyConfigError(InputError):
    """The study configuration cannot be used; the message is one line naming the key."""


# --- small typed readers: each raises StudyConfigError naming the dotted key ----------------------


def _mapping(value: Any, key: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise StudyConfigError(f"{key}: must be a mapping (key: value), got {type(value).__name__}")
    return value


def _no_unknown(d: Mapping[str, Any], allowed: tuple[str, ...], key: str) -> None:
    for k in d:
        if k not in allowed:
            where = f"{key}.{k}" if key else str(k)
            raise StudyConfigError(f"{where}: unknown key (allowed: {', '.join(allowed)})")


def _int(d: Mapping[str, Any], name: str, key: str, default: int | None, *, minimum: int | None = None) -> int | None:
    v = d.get(name, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise StudyConfigError(f"{key}.{name}: must be an integer{'' if minimum is None else f' >= {minimum}'}, "
                               f"got {v!r}")
    if minimum is not None and v < minimum:
        raise StudyConfigError(f"{key}.{name}: must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _float(d: Mapping[str, Any], name: str, key: str, default: float, *, low: float, high: float) -> float:
    v = d.get(name, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= float(v) <= high:
        raise StudyConfigError(f"{key}.{name}: must be a number in [{low}, {high}], got {v!r}")
    return float(v)


def _choice(d: Mapping[str, Any], name: str, key: str, default: str | None, choices: tuple[str, ...]) -> str | None:
    v = d.get(name, default)
    if v is None:
        return None
    if v not in choices:
        raise StudyConfigError(f"{key}.{name}: must be one of {', '.join(choices)}, got {v!r}")
    return str(v)


def _path(d: Mapping[str, Any], name: str, key: str, base: Path | None) -> str | None:
    v = d.get(name)
    if v is None:
        return None
    if not isinstance(v, (str, os.PathLike)) or not str(v).strip():
        raise StudyConfigError(f"{key}.{name}: must be a path, got {v!r}")
    p = Path(str(v)).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    return str(p)


# --- sections ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudySection:
    name: str = "study"
    seed: int = 0
    device: str = "auto"
    workers: int = 1


@dataclass(frozen=True)
class PhantomSpec:
    cohort: str
    n: int | None
    seed: int
    size: int
    format: str = "png"
    followup: bool | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CohortConfig:
    name: str
    role: str = "test"
    phantom: PhantomSpec | None = None
    manifest: str | None = None


@dataclass(frozen=True)
class CTRouteSpec:
    """``segmenter.train.ct_route``: CT-route renders made by the segmenter stage and mixed into training."""

    cases: tuple[str, ...]
    """CT case folders (any layout ``sijscan simulate --from-ct`` reads)"""
    n: int = 40
    """radiographs per CT"""
    size: int = 256
    """render size (long side, px)"""
    if_missing: str = "error"
    """a case folder that does not exist: ``error`` (the stage fails) or ``skip`` (logged, in the report)"""


@dataclass(frozen=True)
class SegmenterTrain:
    """``segmenter.train``; defaults from :class:`sijscan.anatomy.train_config.TrainConfig` (one source)."""

    arch: str = D("arch")
    epochs: int = D("epochs")
    size: int = D("size")
    batch_size: int = D("batch_size")
    lr: float = D("lr")
    max_images: int | None = D("max_images")
    devices: int = D("devices")
    augment: str = D("augment")
    """training augmentation: basic (the paper's list), strong (sim-to-real families) or none"""
    extra_manifest: str | None = None
    """a second training manifest with masks (e.g. CT-route renders), mixed into every epoch"""
    extra_weight: float = D("extra_weight")
    """share of each epoch's draws taken from extra_manifest or ct_route"""
    ct_route: CTRouteSpec | None = None
    """CT-route renders (of real CTs) to mix in, made by the segmenter stage (instead of extra_manifest)"""


@dataclass(frozen=True)
class SegmenterConfig:
    model: str | None = None
    train: SegmenterTrain | None = None


@dataclass(frozen=True)
class ClassifierConfig:
    recipe: str = "quick"
    arch: str | None = None
    init: str = "imagenet"
    init_weights: str | None = None
    devices: int = 1
    num_nodes: int = 1
    max_images: int | None = None
    epochs: int | None = None
    """when set, every head-only and all-layer phase the recipe runs (epochs > 0) runs this many epochs"""


@dataclass(frozen=True)
class PredictConfig:
    batch_size: int = 8
    gradcam_examples: int = 4


@dataclass(frozen=True)
class EvaluateConfig:
    n_bootstrap: int = 1000
    confident: float = 0.7
    progression_bootstrap: int = 1000
    cam_share_images: int = 60
    """Grad-CAM share inside the true SIJ boxes: at most this many positives per evaluation set with
    known boxes (phantom cohorts); 0 switches it off"""


@dataclass(frozen=True)
class StudyConfig:
    study: StudySection
    cohorts: tuple[CohortConfig, ...]
    segmenter: SegmenterConfig
    classifiers: ClassifierConfig
    predict: PredictConfig
    evaluate: EvaluateConfig
    source: str | None = None

    @property
    def train_cohort(self) -> CohortConfig:
        return next(c for c in self.cohorts if c.role == "train")

    @property
    def test_cohorts(self) -> tuple[CohortConfig, ...]:
        return tuple(c for c in self.cohorts if c.role == "test")

    def section(self, name: str) -> dict[str, Any]:
        """A section as plain JSON-able data (what stage cache keys hash)."""
        value = getattr(self, name)
        if name == "cohorts":
            return {"cohorts": [dataclasses.asdict(c) for c in value]}
        return dataclasses.asdict(value)

    def to_dict(self) -> dict[str, Any]:
        return {"study": self.section("study"), **self.section("cohorts"), "segmenter": self.section("segmenter"),
                "classifiers": self.section("classifiers"), "predict": self.section("predict"),
                "evaluate": self.section("evaluate")}


def _study(d: Mapping[str, Any]) -> StudySection:
    key = "study"
    _no_unknown(d, ("name", "seed", "device", "workers"), key)
    name = d.get("name", "study")
    if not isinstance(name, str) or not name.strip():
        raise StudyConfigError(f"study.name: must be a non-empty string, got {name!r}")
    return StudySection(name=name, seed=_int(d, "seed", key, 0, minimum=0),  # type: ignore[arg-type]
                        device=_choice(d, "device", key, "auto", DEVICES),  # type: ignore[arg-type]
                        workers=_int(d, "workers", key, 1, minimum=1))  # type: ignore[arg-type]


def _phantom(d: Mapping[str, Any], key: str, cohort_name: str, seed: int) -> PhantomSpec:
    _no_unknown(d, ("cohort", "n", "seed", "size", "format", "followup", "overrides"), key)
    default_cohort = cohort_name if cohort_name in PHANTOM_COHORTS else None
    cohort = _choice(d, "cohort", key, default_cohort, PHANTOM_COHORTS)
    if cohort is None:
        raise StudyConfigError(f"{key}.cohort: required when the cohort name is not one of "
                               f"{', '.join(PHANTOM_COHORTS)}")
    size = _int(d, "size", key, 512, minimum=64)
    followup = d.get("followup")
    if followup is not None and not isinstance(followup, bool):
        raise StudyConfigError(f"{key}.followup: must be true or false, got {followup!r}")
    overrides = dict(_mapping(d.get("overrides"), f"{key}.overrides"))
    return PhantomSpec(cohort=cohort, n=_int(d, "n", key, None, minimum=2), seed=_int(d, "seed", key, seed, minimum=0),  # type: ignore[arg-type]
                       size=size, format=_choice(d, "format", key, "png", ("png", "dicom")),  # type: ignore[arg-type]
                       followup=followup, overrides=overrides)


def _cohorts(d: Any, seed: int, base: Path | None) -> tuple[CohortConfig, ...]:
    cohorts = _mapping(d, "cohorts")
    if not cohorts:
        raise StudyConfigError("cohorts: required (one training cohort and at least one test cohort)")
    out = []
    for name, spec in cohorts.items():
        key = f"cohorts.{name}"
        spec = _mapping(spec, key)
        _no_unknown(spec, ("role", "phantom", "manifest"), key)
        role = _choice(spec, "role", key, "train" if name == "proof" else "test", ROLES)
        has_phantom, has_manifest = spec.get("phantom") is not None, spec.get("manifest") is not None
        if has_phantom == has_manifest:
            raise StudyConfigError(f"{key}: give exactly one of 'phantom' or 'manifest'")
        phantom = _phantom(_mapping(spec["phantom"], f"{key}.phantom"), f"{key}.phantom", str(name), seed) \
            if has_phantom else None
        out.append(CohortConfig(name=str(name), role=role, phantom=phantom,  # type: ignore[arg-type]
                                manifest=_path(spec, "manifest", key, base)))
    n_train = sum(c.role == "train" for c in out)
    if n_train != 1:
        raise StudyConfigError(f"cohorts: exactly one cohort must have role 'train', found {n_train}")
    if not any(c.role == "test" for c in out):
        raise StudyConfigError("cohorts: at least one cohort must have role 'test'")
    return tuple(out)


def _segmenter(d: Mapping[str, Any], base: Path | None) -> SegmenterConfig:
    key = "segmenter"
    _no_unknown(d, ("model", "train"), key)
    if (d.get("model") is None) == (d.get("train") is None):
        raise StudyConfigError("segmenter: give exactly one of 'model' (a model folder) or 'train' (settings)")
    if d.get("model") is not None:
        return SegmenterConfig(model=_path(d, "model", key, base))
    t = _mapping(d["train"], "segmenter.train")
    k = "segmenter.train"
    _no_unknown(t, ("arch", "epochs", "size", "batch_size", "lr", "max_images", "devices", "augment",
                    "extra_manifest", "extra_weight", "ct_route"), k)
    size = _int(t, "size", k, D("size"), minimum=16)
    if size % 8:  # type: ignore[operator]
        raise StudyConfigError(f"{k}.size: must be a multiple of 8, got {size}")
    train = SegmenterTrain(arch=_choice(t, "arch", k, D("arch"), SEGMENTER_ARCHS),  # type: ignore[arg-type]
                           epochs=_int(t, "epochs", k, D("epochs"), minimum=1), size=size,  # type: ignore[arg-type]
                           batch_size=_int(t, "batch_size", k, D("batch_size"), minimum=1),  # type: ignore[arg-type]
                           lr=_float(t, "lr", k, D("lr"), low=1e-8, high=10.0),
                           max_images=_int(t, "max_images", k, D("max_images"), minimum=2),
                           devices=_int(t, "devices", k, D("devices"), minimum=1),  # type: ignore[arg-type]
                           augment=_choice(t, "augment", k, D("augment"), AUGMENT_LEVELS),  # type: ignore[arg-type]
                           extra_manifest=_path(t, "extra_manifest", k, base),
                           extra_weight=_float(t, "extra_weight", k, D("extra_weight"), low=0.01, high=0.99),
                           ct_route=_ct_route(t.get("ct_route"), f"{k}.ct_route", base))
    if train.extra_manifest is not None and train.ct_route is not None:
        raise StudyConfigError(f"{k}: give extra_manifest or ct_route, not both")
    if "extra_weight" in t and train.extra_manifest is None and train.ct_route is None:
        raise StudyConfigError(f"{k}.extra_weight: only meaningful with {k}.extra_manifest or {k}.ct_route")
    return SegmenterConfig(train=train)


def _case_path(value: Any, key: str, base: Path | None) -> str:
    """A CT case folder: relative ones resolve against the config's folder, else the current directory.

    (So one config text serves both ``sijscan demo``, embedded, run from the repository, and
    ``sijscan study configs/demo.yaml``.) A folder found in neither place keeps the first reading.
    """
    first = str(_path({"case": value}, "case", key, base))
    if Path(first).is_dir() or Path(str(value)).expanduser().is_absolute():
        return first
    here = Path.cwd() / Path(str(value)).expanduser()
    return str(here) if here.is_dir() else first


def _ct_route(value: Any, key: str, base: Path | None) -> CTRouteSpec | None:
    if value is None:
        return None
    d = _mapping(value, key)
    _no_unknown(d, ("cases", "n", "size", "if_missing"), key)
    cases = d.get("cases")
    if isinstance(cases, (str, os.PathLike)):
        cases = [cases]
    if not isinstance(cases, (list, tuple)) or not cases:
        raise StudyConfigError(f"{key}.cases: must be a list of CT case folders, got {cases!r}")
    paths = tuple(_case_path(c, f"{key}.cases", base) for c in cases)
    size = _int(d, "size", key, CTRouteSpec.size, minimum=64)
    return CTRouteSpec(cases=paths, n=_int(d, "n", key, CTRouteSpec.n, minimum=1),  # type: ignore[arg-type]
                       size=size,  # type: ignore[arg-type]
                       if_missing=_choice(d, "if_missing", key, "error", ("error", "skip")))  # type: ignore[arg-type]


def _classifiers(d: Mapping[str, Any], base: Path | None) -> ClassifierConfig:
    k = "classifiers"
    _no_unknown(d, ("recipe", "arch", "init", "init_weights", "devices", "num_nodes", "max_images", "epochs"), k)
    return ClassifierConfig(recipe=_choice(d, "recipe", k, "quick", RECIPES),  # type: ignore[arg-type]
                            arch=_choice(d, "arch", k, None, CLASSIFIER_ARCHS),
                            init=_choice(d, "init", k, "imagenet", INITS),  # type: ignore[arg-type]
                            init_weights=_path(d, "init_weights", k, base),
                            devices=_int(d, "devices", k, 1, minimum=1),  # type: ignore[arg-type]
                            num_nodes=_int(d, "num_nodes", k, 1, minimum=1),  # type: ignore[arg-type]
                            max_images=_int(d, "max_images", k, None, minimum=2),
                            epochs=_int(d, "epochs", k, None, minimum=1))


def _predict(d: Mapping[str, Any]) -> PredictConfig:
    _no_unknown(d, ("batch_size", "gradcam_examples"), "predict")
    return PredictConfig(batch_size=_int(d, "batch_size", "predict", 8, minimum=1),  # type: ignore[arg-type]
                         gradcam_examples=_int(d, "gradcam_examples", "predict", 4, minimum=0))  # type: ignore[arg-type]


def _evaluate(d: Mapping[str, Any]) -> EvaluateConfig:
    k = "evaluate"
    _no_unknown(d, ("n_bootstrap", "confident", "progression_bootstrap", "cam_share_images"), k)
    return EvaluateConfig(n_bootstrap=_int(d, "n_bootstrap", k, 1000, minimum=0),  # type: ignore[arg-type]
                          confident=_float(d, "confident", k, 0.7, low=0.0, high=1.0),
                          progression_bootstrap=_int(d, "progression_bootstrap", k, 1000, minimum=0),  # type: ignore[arg-type]
                          cam_share_images=_int(d, "cam_share_images", k, 60, minimum=0))  # type: ignore[arg-type]


SECTIONS = ("study", "cohorts", "segmenter", "classifiers", "predict", "evaluate")


def config_from_dict(data: Any, *, base_dir: str | os.PathLike[str] | None = None,
                     source: str | None = None) -> StudyConfig:
    """Validate a parsed YAML document; relative paths resolve against ``base_dir``."""
    top = _mapping(data, "config")
    _no_unknown(top, SECTIONS, "")
    base = Path(base_dir) if base_dir is not None else None
    study = _study(_mapping(top.get("study"), "study"))
    return StudyConfig(
        study=study, cohorts=_cohorts(top.get("cohorts"), study.seed, base),
        segmenter=_segmenter(_mapping(top.get("segmenter"), "segmenter"), base),
        classifiers=_classifiers(_mapping(top.get("classifiers"), "classifiers"), base),
        predict=_predict(_mapping(top.get("predict"), "predict")),
        evaluate=_evaluate(_mapping(top.get("evaluate"), "evaluate")), source=source,
    )


def load_config(path: str | os.PathLike[str]) -> StudyConfig:
    """Read and validate a study YAML file."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise StudyConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        first = str(exc).replace("\n", " ")
        raise StudyConfigError(f"{p}: not valid YAML ({first})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyConfigError(f"{p}: cannot read ({exc})") from exc
    return config_from_dict(data, base_dir=p.resolve().parent, source=str(p.resolve()))
