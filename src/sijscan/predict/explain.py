"""Words that make a result explain itself (the report and the web app say the same things).

* :data:`OVERLAY_LEGEND`: what each colour of the segmentation overlay is, with whose side;
* :func:`agreement_note`: the classifier's decision and the grade head's per-side grades, said in
  words when they disagree (a decision 0 next to grades 2/2 is otherwise a riddle);
* :data:`EMPTY_CAM`: the caption of a Grad-CAM with no positive evidence anywhere;
* :func:`model_line`: the model's name and sha256, from a ``run.json`` identity or a loaded card.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

OVERLAY_LEGEND = ("Overlay colours: yellow = sacrum; blue = hip bone on the image's left (the patient's right); "
                  "purple = hip bone on the image's right (the patient's left); green boxes = each sacroiliac "
                  "joint's region; red box = the crop the classifier sees.")
SIDES_NOTE = "Grades are per joint, named by the patient's side (the patient's left joint is on the image's right)."
EMPTY_CAM = "empty map: no evidence for sacroiliitis (nothing in the image pushed the model towards 'positive')"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def agreement_note(*, decision: Any, grade_left: Any, grade_right: Any, mny: Any) -> str | None:
    """A sentence when the decision and the grade head's modified New York result disagree, else None."""
    d, left, right, m = _int(decision), _int(grade_left), _int(grade_right), _int(mny)
    if d is None or m is None or d == m:
        return None
    grades = f"{left}/{right} (patient's left/right)"
    if d == 0:
        return (f"The decision is negative (probability below the cut-off), but the grade head's grades {grades} "
                "meet the modified New York criterion: the model's two outputs disagree; read the radiograph.")
    return (f"The decision is positive (probability at or above the cut-off), but the grade head's grades {grades} "
            "do not meet the modified New York criterion: the model's two outputs disagree; read the radiograph.")


def cam_is_empty(cam: np.ndarray | None) -> bool:
    return cam is not None and float(np.max(cam)) <= 0.0


def model_line(identity: Mapping[str, Any]) -> str:
    """"classifier NAME (arch, sha256 0123456789ab); segmenter NAME (...)" from a run.json identity."""
    parts = []
    for role in ("classifier", "segmenter"):
        m = identity.get(role)
        if isinstance(m, Mapping):
            name = Path(str(m.get("path", ""))).name or "?"
            parts.append(f"{role} {name} ({m.get('arch', '?')}, sha256 {str(m.get('sha256', ''))[:12]})")
    return "; ".join(parts) or "model unknown"


def pipeline_identity(pipeline: Any) -> dict[str, Any]:
    """The run.json-style identity of a loaded pipeline (classifier and segmenter cards)."""
    out: dict[str, Any] = {}
    for role, model in (("classifier", pipeline.classifier), ("segmenter", pipeline.segmenter)):
        card = getattr(model, "card", None)
        if card is not None:
            out[role] = {"path": str(card.path or ""), "arch": card.arch, "sha256": card.sha256}
    return out
