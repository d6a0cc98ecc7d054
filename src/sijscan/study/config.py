"""A study's configuration: typed, validated dataclasses read from YAML.

Every problem is a :class:`StudyConfigError` whose one-line message names the bad key as a dotted
path (``segmenter.train.epochs: must be an integer >= 1, got 'ten'``). Unknown keys are errors too
(a typo must not silently fall back to a default).

Layout (see ``configs/demo.yaml`` and ``configs/paper.yaml``)::

    study:       {name, seed, device: auto|cpu|gpu, workers, precision: auto|32|bf16}
    cohorts:     {NAME: {role: train|test, phantom: {cohort, n, seed, size, format, followup, overrides}}
                  | {role, manifest: PATH}           # exactly one training cohort (split train/val)
                  | {role: test, ct: {cases: [DIR...], n, size, if_missing, realism}}}  # CT-route renders of real CTs
    segmenter:   {model: DIR} | {train: {arch, epochs, size, batch_size, lr, max_images, devices,
                                     augment: none|basic|strong, extra_manifest: CSV, extra_weight,
                                     ct_route: {cases: [DIR...], n, size, if_missing: error|skip,
                                                realism: off|varied|stress}, visible_only: bool}}
    classifiers: {recipe: quick|paper|cpu, arch, init: imagenet|random, init_weights, devices, num_nodes,
                  max_images, epochs, crop: box|joints|joints_span|joints_wide, appearance, elastic, joint_mix, processing: bool,
                  anatomy_adversarial, grade_pool: global|sides,
                  seeds: [INT...], extra_weight,
                  ct_route: {cases: [DIR...], n, size, if_missing, realism, variants, vary}}
    predict:     {batch_size, gradcam_examples, cam_share_images}
    evaluate:    {n_bootstrap, confident, progression_bootstrap}
"""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from sijscan.anatomy.train_config import BORDER_MODES, train_default as D  # one source of the segmenter's defaults
from sijscan.devices import PRECISIONS
from sijscan.phantom.shape_set import shape_case_ids
from sijscan.study.config_classifiers import ClassifierConfig, parse_classifiers
from sijscan.study.config_ct import ANATOMY_VARY, REALISM_LEVELS, CTRouteSpec, parse_ct_route
from sijscan.study.config_fields import (StudyConfigError, as_mapping, no_unknown, read_choice,
                                         read_bool, read_float, read_int, read_path)

__all__ = ["ANATOMY_VARY", "REALISM_LEVELS", "CTRouteSpec", "StudyConfig", "StudyConfigError", "config_from_dict",
           "load_config"]

log = logging.getLogger(__name__)

PHANTOM_COHORTS = ("proof", "gespic", "optiref", "damact")
ROLES = ("train", "test")
DEVICES = ("auto", "cpu", "gpu")
SEGMENTER_ARCHS = ("unet-default", "unet-paper")
AUGMENT_LEVELS = ("none", "basic", "strong")  # sijscan.anatomy.augment (not imported: keep config light)


# --- sections ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudySection:
    name: str = "study"
    seed: int = 0
    device: str = "auto"
    workers: int = 1
    precision: str = "auto"  # the segmenter's and classifiers' training arithmetic (sijscan.devices.PRECISIONS)


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
    ct: CTRouteSpec | None = None


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
    visible_only: bool = D("visible_only")
    """labels outside a row's exposed field (``field_box``, written by sijscan's phantom) become background"""
    border: str = D("border")
    """keep | fill: a flat collimated border (white or black) filled from the field's edge (sijscan.anatomy.border)"""


@dataclass(frozen=True)
class SegmenterConfig:
    model: str | None = None
    train: SegmenterTrain | None = None


@dataclass(frozen=True)
class PredictConfig:
    batch_size: int = 8
    gradcam_examples: int = 4
    cam_share_images: int = 60
    """Grad-CAM share inside the true SIJ boxes: at most this many positives per evaluation set with
    known boxes (phantom cohorts) are run with Grad-CAM here; the evaluate stage summarises; 0: off"""


@dataclass(frozen=True)
class EvaluateConfig:
    n_bootstrap: int = 1000
    confident: float = 0.7
    progression_bootstrap: int = 1000


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
    no_unknown(d, ("name", "seed", "device", "workers", "precision"), key)
    name = d.get("name", "study")
    if not isinstance(name, str) or not name.strip():
        raise StudyConfigError(f"study.name: must be a non-empty string, got {name!r}")
    return StudySection(name=name, seed=read_int(d, "seed", key, 0, minimum=0),  # type: ignore[arg-type]
                        device=read_choice(d, "device", key, "auto", DEVICES),  # type: ignore[arg-type]
                        workers=read_int(d, "workers", key, 1, minimum=1),  # type: ignore[arg-type]
                        precision=read_choice(d, "precision", key, "auto", PRECISIONS))  # type: ignore[arg-type]


def _phantom(d: Mapping[str, Any], key: str, cohort_name: str, seed: int) -> PhantomSpec:
    no_unknown(d, ("cohort", "n", "seed", "size", "format", "followup", "overrides"), key)
    default_cohort = cohort_name if cohort_name in PHANTOM_COHORTS else None
    cohort = read_choice(d, "cohort", key, default_cohort, PHANTOM_COHORTS)
    if cohort is None:
        raise StudyConfigError(f"{key}.cohort: required when the cohort name is not one of "
                               f"{', '.join(PHANTOM_COHORTS)}")
    size = read_int(d, "size", key, 512, minimum=64)
    followup = d.get("followup")
    if followup is not None and not isinstance(followup, bool):
        raise StudyConfigError(f"{key}.followup: must be true or false, got {followup!r}")
    overrides = dict(as_mapping(d.get("overrides"), f"{key}.overrides"))
    return PhantomSpec(cohort=cohort, n=read_int(d, "n", key, None, minimum=2), seed=read_int(d, "seed", key, seed, minimum=0),  # type: ignore[arg-type]
                       size=size, format=read_choice(d, "format", key, "png", ("png", "dicom")),  # type: ignore[arg-type]
                       followup=followup, overrides=overrides)


def _cohorts(d: Any, seed: int, base: Path | None) -> tuple[CohortConfig, ...]:
    cohorts = as_mapping(d, "cohorts")
    if not cohorts:
        raise StudyConfigError("cohorts: required (one training cohort and at least one test cohort)")
    out = []
    for name, spec in cohorts.items():
        key = f"cohorts.{name}"
        spec = as_mapping(spec, key)
        no_unknown(spec, ("role", "phantom", "manifest", "ct"), key)
        role = read_choice(spec, "role", key, "train" if name == "proof" else "test", ROLES)
        if sum(spec.get(k) is not None for k in ("phantom", "manifest", "ct")) != 1:
            raise StudyConfigError(f"{key}: give exactly one of 'phantom', 'manifest' or 'ct'")
        phantom = _phantom(as_mapping(spec["phantom"], f"{key}.phantom"), f"{key}.phantom", str(name), seed) \
            if spec.get("phantom") is not None else None
        ct = parse_ct_route(spec.get("ct"), f"{key}.ct", base)
        if ct is not None and role != "test":
            raise StudyConfigError(f"{key}.ct: a CT-route cohort can only be a test cohort (role: test)")
        out.append(CohortConfig(name=str(name), role=role, phantom=phantom,  # type: ignore[arg-type]
                                manifest=read_path(spec, "manifest", key, base), ct=ct))
    n_train = sum(c.role == "train" for c in out)
    if n_train != 1:
        raise StudyConfigError(f"cohorts: exactly one cohort must have role 'train', found {n_train}")
    if not any(c.role == "test" for c in out):
        raise StudyConfigError("cohorts: at least one cohort must have role 'test'")
    return tuple(out)


def _segmenter(d: Mapping[str, Any], base: Path | None) -> SegmenterConfig:
    key = "segmenter"
    no_unknown(d, ("model", "train"), key)
    if (d.get("model") is None) == (d.get("train") is None):
        raise StudyConfigError("segmenter: give exactly one of 'model' (a model folder) or 'train' (settings)")
    if d.get("model") is not None:
        return SegmenterConfig(model=read_path(d, "model", key, base))
    t = as_mapping(d["train"], "segmenter.train")
    k = "segmenter.train"
    no_unknown(t, ("arch", "epochs", "size", "batch_size", "lr", "max_images", "devices", "augment",
                    "extra_manifest", "extra_weight", "ct_route", "visible_only", "border"), k)
    size = read_int(t, "size", k, D("size"), minimum=16)
    if size % 8:  # type: ignore[operator]
        raise StudyConfigError(f"{k}.size: must be a multiple of 8, got {size}")
    train = SegmenterTrain(arch=read_choice(t, "arch", k, D("arch"), SEGMENTER_ARCHS),  # type: ignore[arg-type]
                           epochs=read_int(t, "epochs", k, D("epochs"), minimum=1), size=size,  # type: ignore[arg-type]
                           batch_size=read_int(t, "batch_size", k, D("batch_size"), minimum=1),  # type: ignore[arg-type]
                           lr=read_float(t, "lr", k, D("lr"), low=1e-8, high=10.0),
                           max_images=read_int(t, "max_images", k, D("max_images"), minimum=2),
                           devices=read_int(t, "devices", k, D("devices"), minimum=1),  # type: ignore[arg-type]
                           augment=read_choice(t, "augment", k, D("augment"), AUGMENT_LEVELS),  # type: ignore[arg-type]
                           extra_manifest=read_path(t, "extra_manifest", k, base),
                           extra_weight=read_float(t, "extra_weight", k, D("extra_weight"), low=0.01, high=0.99),
                           ct_route=parse_ct_route(t.get("ct_route"), f"{k}.ct_route", base),
                           visible_only=read_bool(t, "visible_only", k, D("visible_only")),
                           border=read_choice(t, "border", k, D("border"), BORDER_MODES))
    if train.extra_manifest is not None and train.ct_route is not None:
        raise StudyConfigError(f"{k}: give extra_manifest or ct_route, not both")
    if "extra_weight" in t and train.extra_manifest is None and train.ct_route is None:
        raise StudyConfigError(f"{k}.extra_weight: only meaningful with {k}.extra_manifest or {k}.ct_route")
    return SegmenterConfig(train=train)


def _predict(d: Mapping[str, Any], *, cam_share_from: str = "predict") -> PredictConfig:
    no_unknown(d, ("batch_size", "gradcam_examples", "cam_share_images"), "predict")
    return PredictConfig(batch_size=read_int(d, "batch_size", "predict", 8, minimum=1),  # type: ignore[arg-type]
                         gradcam_examples=read_int(d, "gradcam_examples", "predict", 4, minimum=0),  # type: ignore[arg-type]
                         cam_share_images=read_int(d, "cam_share_images", cam_share_from, 60, minimum=0))  # type: ignore[arg-type]


def _evaluate(d: Mapping[str, Any]) -> EvaluateConfig:
    k = "evaluate"
    no_unknown(d, ("n_bootstrap", "confident", "progression_bootstrap"), k)
    return EvaluateConfig(n_bootstrap=read_int(d, "n_bootstrap", k, 1000, minimum=0),  # type: ignore[arg-type]
                          confident=read_float(d, "confident", k, 0.7, low=0.0, high=1.0),
                          progression_bootstrap=read_int(d, "progression_bootstrap", k, 1000, minimum=0))  # type: ignore[arg-type]


def _moved_cam_share(predict: Mapping[str, Any], evaluate: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """``evaluate.cam_share_images`` (its place before the predict stage ran the Grad-CAMs) is read as
    ``predict.cam_share_images``; both at once is a usage error."""
    predict, evaluate = dict(predict), dict(evaluate)
    if "cam_share_images" not in evaluate:
        return predict, evaluate, "predict"
    if "cam_share_images" in predict:
        raise StudyConfigError("cam_share_images: give it once, under predict (evaluate.cam_share_images is its old place)")
    log.warning("evaluate.cam_share_images is now predict.cam_share_images (the predict stage runs the Grad-CAMs); read as such")
    predict["cam_share_images"] = evaluate.pop("cam_share_images")
    return predict, evaluate, "evaluate"


SECTIONS = ("study", "cohorts", "segmenter", "classifiers", "predict", "evaluate")


def config_from_dict(data: Any, *, base_dir: str | os.PathLike[str] | None = None,
                     source: str | None = None) -> StudyConfig:
    """Validate a parsed YAML document; relative paths resolve against ``base_dir``."""
    top = as_mapping(data, "config")
    no_unknown(top, SECTIONS, "")
    base = Path(base_dir) if base_dir is not None else None
    study = _study(as_mapping(top.get("study"), "study"))
    pred_d, eval_d, where = _moved_cam_share(as_mapping(top.get("predict"), "predict"),
                                            as_mapping(top.get("evaluate"), "evaluate"))
    cfg = StudyConfig(
        study=study, cohorts=_cohorts(top.get("cohorts"), study.seed, base),
        segmenter=_segmenter(as_mapping(top.get("segmenter"), "segmenter"), base),
        classifiers=parse_classifiers(as_mapping(top.get("classifiers"), "classifiers"), base),
        predict=_predict(pred_d, cam_share_from=where),
        evaluate=_evaluate(eval_d), source=source,
    )
    _check_held_out(cfg)
    return cfg


def _case_id(path: str) -> str:
    return Path(path).resolve().name


def _check_held_out(cfg: StudyConfig) -> None:
    """A CT-route test cohort's CTs must be in no model's training (else it measures nothing held out)."""
    trained: dict[str, str] = {}
    seg = cfg.segmenter.train.ct_route if cfg.segmenter.train is not None else None
    for where, spec in (("segmenter.train.ct_route", seg), ("classifiers.ct_route", cfg.classifiers.ct_route)):
        for c in spec.cases if spec is not None else ():
            trained.setdefault(_case_id(c), where)
    tests = [(cohort.name, _case_id(c)) for cohort in cfg.cohorts for c in (cohort.ct.cases if cohort.ct else ())]
    for name, case in tests:
        if case in trained:
            raise StudyConfigError(f"cohorts.{name}.ct: CT {case} is also trained on "
                                   f"({trained[case]}); a test cohort must be kept out of training")
    train_phantoms = [c for c in cfg.cohorts if c.role == "train" and c.phantom is not None]
    if not tests or not train_phantoms:
        return
    # the procedural phantom's bones are mixes of real CT bones: a training cohort must not mix a test CT's
    shapes = shape_case_ids()
    for cohort in train_phantoms:
        members = cohort.phantom.overrides.get("ct_members")
        mixed = [str(m) for m in members] if members else list(shapes)
        for name, case in tests:
            if case in mixed:
                keep = [s for s in shapes if s not in {t for _, t in tests}]
                raise StudyConfigError(
                    f"cohorts.{name}.ct: CT {case}'s bones are in the training cohort {cohort.name} (the phantom "
                    f"mixes the CT shapes {', '.join(mixed)}); set cohorts.{cohort.name}.phantom.overrides."
                    f"ct_members to CTs the test cohorts do not hold, e.g. {keep}")


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
