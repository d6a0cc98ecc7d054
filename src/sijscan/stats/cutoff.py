"""Choosing a cut-off on labelled data (the paper: maximum accuracy on the validation set).

Candidates: with the distinct probabilities sorted, ``s_1 < ... < s_k``, every cut-off in
``(s_{i-1}, s_i]`` gives the same decisions (``probability >= cutoff``), so sijscan takes the
midpoint of each gap, ``(s_{i-1} + s_i) / 2``, plus ``s_1 / 2`` (all called positive) and
``(s_k + 1) / 2`` (all called negative; a value just above 1 when ``s_k == 1``).
Ties between candidates with the same best value: the LOWEST tied cut-off is chosen (it favours
sensitivity); the full tied range is reported as ``tied_low``/``tied_high``.
Maximum balanced accuracy and Youden's J (sensitivity + specificity - 1) rank cut-offs
identically (J = 2 * balanced accuracy - 1), so they pick the same cut-off; both are offered so
outputs can be labelled with the criterion actually used.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sijscan.errors import InputError
from sijscan.stats.metrics import rates_from_counts


class CutoffError(InputError):
    """A cut-off is invalid or cannot be read from a model folder (one line)."""


CUTOFF_METHODS = ("max_accuracy", "max_balanced_accuracy", "youden")


@dataclass(frozen=True)
class CutoffChoice:
    cutoff: float
    cutoff_method: str
    value: float
    """The criterion's value at the chosen cut-off (accuracy, balanced accuracy or J)."""
    n_tied: int
    tied_low: float
    tied_high: float


def candidate_cutoffs(probability: np.ndarray) -> np.ndarray:
    """Midpoints between adjacent distinct probabilities, plus one cut-off below and one above all."""
    s = np.unique(np.asarray(probability, dtype=float))
    top = (s[-1] + 1.0) / 2.0 if s[-1] < 1.0 else float(np.nextafter(1.0, 2.0))
    return np.concatenate([[s[0] / 2.0], (s[1:] + s[:-1]) / 2.0, [top]])


def select_cutoff(*, y_true: np.ndarray, probability: np.ndarray, method: str = "max_accuracy") -> CutoffChoice:
    """The cut-off that maximises ``method`` (one of :data:`CUTOFF_METHODS`) on these cases."""
    if method not in CUTOFF_METHODS:
        raise CutoffError(f"unknown cut-off method {method!r}; use one of {', '.join(CUTOFF_METHODS)}")
    y = np.asarray(y_true).astype(int)
    p = np.asarray(probability, dtype=float)
    if y.size == 0:
        raise CutoffError("cannot choose a cut-off on zero cases")
    if method != "max_accuracy" and (y.min() == y.max()):
        raise CutoffError(f"{method} needs both classes; all {y.size} cases have label {int(y[0])}")
    cands = candidate_cutoffs(p)
    # counts of positives/negatives with probability >= each candidate, via sorting
    ps, ns = np.sort(p[y == 1]), np.sort(p[y == 0])
    tp = ps.size - np.searchsorted(ps, cands, side="left")
    fp = ns.size - np.searchsorted(ns, cands, side="left")
    r = rates_from_counts(tp=tp, fp=fp, tn=ns.size - fp, fn=ps.size - tp)
    crit = {"max_accuracy": r["accuracy"], "max_balanced_accuracy": r["balanced_accuracy"],
            "youden": r["sensitivity"] + r["specificity"] - 1.0}[method]
    best = np.nanmax(crit)
    tied = np.flatnonzero(np.isclose(crit, best, rtol=0.0, atol=1e-12))
    return CutoffChoice(cutoff=float(cands[tied[0]]), cutoff_method=method, value=float(best),
                        n_tied=int(tied.size), tied_low=float(cands[tied[0]]), tied_high=float(cands[tied[-1]]))


@dataclass(frozen=True)
class CutoffSpec:
    """The cut-off used for decisions and where it came from."""

    cutoff: float
    cutoff_method: str
    """'fixed' (given), 'model.json' (or the method stored there), 'default' or a CUTOFF_METHODS name."""
    source: str
    warning: str | None = None


DEFAULT_CUTOFF = 0.5


def cutoff_from_model(model_dir: str | Path) -> CutoffSpec:
    """Read ``cutoff`` (a number in [0, 1]) from ``<model_dir>/model.json``."""
    import json

    path = Path(model_dir) / "model.json"
    if not path.is_file():
        raise CutoffError(f"no model.json in model folder {model_dir} (need it for the cut-off, or pass --cutoff)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CutoffError(f"{path} is not valid JSON: {exc}") from exc
    value = meta.get("cutoff") if isinstance(meta, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CutoffError(f"{path} has no numeric 'cutoff' key (found {value!r}); pass --cutoff instead")
    check_cutoff(float(value), where=str(path))
    method = meta.get("cutoff_method") if isinstance(meta.get("cutoff_method"), str) else None
    label = f"model.json ({method})" if method else "model.json"
    return CutoffSpec(cutoff=float(value), cutoff_method=label, source=str(path.resolve()))


def check_cutoff(value: float, *, where: str = "--cutoff") -> float:
    if not (np.isfinite(value) and 0.0 <= value <= 1.0):
        raise CutoffError(f"{where}: cut-off must be a number in [0, 1], got {value!r}")
    return value


def resolve_cutoff(*, cutoff: float | None = None, model_dir: str | Path | None = None,
                   method: str | None = None, y_true: np.ndarray | None = None,
                   probability: np.ndarray | None = None) -> CutoffSpec:
    """Pick the cut-off: a given number, a model folder's, one selected by ``method`` on these
    (labelled) cases - optimistic, since chosen on the data it is judged on - or 0.5 with a warning."""
    given = [x is not None for x in (cutoff, model_dir, method)]
    if sum(given) > 1:
        raise CutoffError("give at most one of a cut-off, a model folder, or a cut-off method")
    if cutoff is not None:
        return CutoffSpec(cutoff=check_cutoff(float(cutoff)), cutoff_method="fixed", source="command line")
    if model_dir is not None:
        return cutoff_from_model(model_dir)
    if method is not None:
        if y_true is None or probability is None:
            raise CutoffError("a cut-off method needs labelled predictions")
        choice = select_cutoff(y_true=y_true, probability=probability, method=method)
        return CutoffSpec(cutoff=choice.cutoff, cutoff_method=method, source="selected on the evaluated cases",
                          warning=f"cut-off chosen by {method} on the same cases it is evaluated on: "
                                  "metrics at this cut-off are optimistic")
    return CutoffSpec(cutoff=DEFAULT_CUTOFF, cutoff_method="default", source="default",
                      warning="no cut-off given (--cutoff or --model): the default 0.5 was used, "
                              "not a cut-off chosen on validation data")
