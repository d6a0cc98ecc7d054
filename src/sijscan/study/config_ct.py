"""The CT route's part of a study configuration: ``ct_route`` (segmenter and classifiers) and a cohort's
``ct`` (real anatomy to test on): which CTs, how many renders, realism and anatomy variants."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from sijscan.study.config_fields import StudyConfigError, as_mapping, case_path, no_unknown, read_choice, read_int

REALISM_LEVELS = ("off", "varied", "stress")  # phantom.ct.realism.REALISM_PRESETS (not imported: keep config light)
ANATOMY_VARY = ("proportions", "density")  # phantom.ct.proportions.VARY (likewise)


@dataclass(frozen=True)
class CTRouteSpec:
    """CT-route renders of real CTs: mixed into a model's training (``segmenter.train.ct_route``,
    ``classifiers.ct_route``) or a test cohort of real anatomy (``cohorts.NAME.ct``)."""

    cases: tuple[str, ...]
    """CT case folders (any layout ``sijscan simulate --from-ct`` reads)"""
    n: int = 40
    """radiographs per CT"""
    size: int = 256
    """render size (long side, px)"""
    if_missing: str = "error"
    """a case folder that does not exist: ``error`` (the stage fails) or ``skip`` (logged, in the report)"""
    realism: str = "off"
    """acquisition and body realism drawn per render (:data:`sijscan.phantom.ct.realism.REALISM_PRESETS`):
    ``off`` (plain renders), ``varied`` (a broad spread: slice thickness, metal, field of view, table,
    habitus, bowel gas, spine) or ``stress`` (the hardest settings)"""
    variants: int = 1
    """anatomy variants per CT (:mod:`sijscan.phantom.ct.proportions`): 1 renders each CT as scanned; k > 1
    adds k - 1 variants of other proportions and bone density (render j shows variant j % k)"""
    vary: tuple[str, ...] = ANATOMY_VARY
    """what the variants vary: some of ``proportions``, ``density``"""


def parse_ct_route(value: Any, key: str, base: Path | None) -> CTRouteSpec | None:
    if value is None:
        return None
    d = as_mapping(value, key)
    no_unknown(d, ("cases", "n", "size", "if_missing", "realism", "variants", "vary"), key)
    cases = d.get("cases")
    if isinstance(cases, (str, os.PathLike)):
        cases = [cases]
    if not isinstance(cases, (list, tuple)) or not cases:
        raise StudyConfigError(f"{key}.cases: must be a list of CT case folders, got {cases!r}")
    paths = tuple(case_path(c, f"{key}.cases", base) for c in cases)
    size = read_int(d, "size", key, CTRouteSpec.size, minimum=64)
    return CTRouteSpec(cases=paths, n=read_int(d, "n", key, CTRouteSpec.n, minimum=1),  # type: ignore[arg-type]
                       size=size,  # type: ignore[arg-type]
                       if_missing=read_choice(d, "if_missing", key, "error", ("error", "skip")),  # type: ignore[arg-type]
                       realism=parse_realism(d, key),
                       variants=read_int(d, "variants", key, CTRouteSpec.variants, minimum=1),  # type: ignore[arg-type]
                       vary=_vary(d, key))


def _vary(d: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """``vary``: a list (or one name) of :data:`ANATOMY_VARY`."""
    value = d.get("vary", list(ANATOMY_VARY))
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names or any(n not in ANATOMY_VARY for n in names):
        raise StudyConfigError(f"{key}.vary: must be a list of some of {', '.join(ANATOMY_VARY)}, got {value!r}")
    return tuple(dict.fromkeys(names))


def parse_realism(d: Mapping[str, Any], key: str) -> str:
    """``realism``; YAML reads an unquoted ``off`` (or ``no``, ``false``) as False: that is "off" too."""
    if d.get("realism") is False or d.get("realism") is None:
        return "off"
    return str(read_choice(d, "realism", key, "off", REALISM_LEVELS))
