"""The verdict on a trained classifier: is it usable, and what the validation set can and cannot say.

Refused before training (``ClassifierInputError``, exit 2): a training split with one class only.
Flagged after training (``model.json`` ``provenance.verdict`` and the console), each with a code:

* ``constant_predictions``: every validation image on the same side of the cut-off, or
  probabilities spanning less than 0.01;
* ``mcc_zero``: validation MCC at the cut-off <= 0 (no better than a constant answer);
* ``temperature_at_bound``: the calibration temperature hit its search bound (the logits carry no
  usable ranking; calibrated probabilities collapse towards 0.5);
* ``val_auc_undefined``: one class only in validation (no AUC, cut-off chosen on one class);
* ``val_auc_below_chance``: validation AUC <= 0.5;
* ``tiny_validation``: fewer than 20 validation images or 5 of either class (cut-off and
  temperature are then chance-driven);
* ``patients_in_train_and_val``: patients with radiographs on both sides (validation figures,
  cut-off and temperature come out optimistic).

``degenerate`` is true when any of the first four holds: the model should not be used.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from sijscan.classify.calibration import T_BOUNDS
from sijscan.classify.errors import ClassifierInputError

DEGENERATE = ("constant_predictions", "mcc_zero", "temperature_at_bound", "val_auc_undefined")
MIN_VAL_IMAGES, MIN_VAL_PER_CLASS = 20, 5


@dataclass
class Verdict:
    """What the validation split says about the model (``to_json`` goes into ``model.json``)."""

    val_n: int
    val_n_positive: int
    val_auc: float | None
    val_mcc: float
    val_accuracy: float
    cutoff: float
    temperature: float
    flags: dict[str, str] = field(default_factory=dict)
    """code -> one-line explanation."""

    @property
    def degenerate(self) -> bool:
        return any(code in self.flags for code in DEGENERATE)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "degenerate": self.degenerate}


def check_training_labels(labels: Sequence[int] | pd.Series, *, split: str = "training") -> None:
    """Refuse a split with one class only: no classifier can be learned (or judged) from it."""
    values = pd.to_numeric(pd.Series(list(labels)), errors="coerce").dropna().astype(int)
    present = sorted(set(values))
    if len(present) < 2:
        what = f"only label {present[0]}" if present else "no labels"
        raise ClassifierInputError(f"the {split} split has {len(values)} image(s) with {what}: a classifier needs "
                                   "both positives (label 1) and negatives (label 0)")


def mcc(y: np.ndarray, decision: np.ndarray) -> float:
    tp = float(np.sum((y == 1) & (decision == 1)))
    tn = float(np.sum((y == 0) & (decision == 0)))
    fp = float(np.sum((y == 0) & (decision == 1)))
    fn = float(np.sum((y == 1) & (decision == 0)))
    denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if denom == 0 else (tp * tn - fp * fn) / denom


def judge(*, y: np.ndarray, probability: np.ndarray, cutoff: float, temperature: float, val_auc: float | None,
          leaked_patients: Sequence[str] = ()) -> Verdict:
    """The :class:`Verdict` of a model from its validation labels, raw probabilities, cut-off and temperature."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(probability, dtype=float)
    decision = (p >= cutoff).astype(int)
    n_pos = int(y.sum())
    m = mcc(y, decision)
    v = Verdict(val_n=int(len(y)), val_n_positive=n_pos, val_auc=val_auc, val_mcc=round(m, 4),
                val_accuracy=float(np.mean(decision == y)) if len(y) else float("nan"), cutoff=float(cutoff),
                temperature=float(temperature))
    if len(set(decision.tolist())) < 2 or (len(p) and float(p.max() - p.min()) < 0.01):
        v.flags["constant_predictions"] = (f"every validation image gets the same decision (probabilities "
                                           f"{p.min():.3f}-{p.max():.3f})")
    if m <= 0:
        v.flags["mcc_zero"] = f"validation MCC at the cut-off is {m:.3f}: no better than a constant answer"
    lo, hi = T_BOUNDS
    if temperature <= lo * 1.01 or temperature >= hi * 0.99:
        v.flags["temperature_at_bound"] = (f"calibration temperature {temperature:.4g} is at its search bound "
                                           f"[{lo}, {hi}]: calibrated probabilities carry no information")
    if val_auc is None or not math.isfinite(val_auc):
        v.flags["val_auc_undefined"] = (f"validation has one class only ({n_pos} positive of {len(y)}): no AUC, "
                                        "and the cut-off is chosen on one class")
    elif val_auc <= 0.5:
        v.flags["val_auc_below_chance"] = f"validation AUC {val_auc:.3f} is not above chance"
    if len(y) < MIN_VAL_IMAGES or min(n_pos, len(y) - n_pos) < MIN_VAL_PER_CLASS:
        v.flags["tiny_validation"] = (f"validation has {len(y)} image(s), {n_pos} positive: cut-off and "
                                      f"temperature are chance-driven (want >= {MIN_VAL_IMAGES} images and "
                                      f">= {MIN_VAL_PER_CLASS} per class)")
    if leaked_patients:
        shown = ", ".join(list(leaked_patients)[:5]) + (" ..." if len(leaked_patients) > 5 else "")
        v.flags["patients_in_train_and_val"] = (f"{len(leaked_patients)} patient(s) have radiographs in both "
                                                f"train and val ({shown}): validation figures, cut-off and "
                                                "temperature are optimistic")
    return v


def verdict_lines(card_provenance: dict[str, Any], *, where: str) -> list[str]:
    """The console lines of a trained classifier's verdict (from its card's provenance)."""
    v = card_provenance.get("verdict") or {}
    if not v:
        return [f"model folder written: {where}"]
    auc = "undefined" if v.get("val_auc") is None else f"{v['val_auc']:.3f}"
    lines = [f"model folder written: {where}",
             f"validation: {v['val_n']} images ({v['val_n_positive']} positive), AUC {auc}, MCC {v['val_mcc']:.3f}, "
             f"accuracy {v['val_accuracy']:.3f} at cut-off {v['cutoff']:.3f}, temperature {v['temperature']:.3g}"]
    for code, text in v.get("flags", {}).items():
        lines.append(f"warning: {code}: {text}")
    if v.get("degenerate"):
        lines.append("warning: this model is DEGENERATE (see the warnings above): do not use it for predictions")
    return lines
