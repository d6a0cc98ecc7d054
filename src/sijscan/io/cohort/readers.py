"""Several readers' grades for one radiograph, made into one set of grades by an explicit rule.

Rules (``--readers``):

* ``first``: the first row of the table for that radiograph;
* ``max``: per side the highest grade any reader gave (the stricter reading; label from those grades);
* ``consensus``: the readers must agree on the modified New York label; per side the grade is kept
  where they all agree and left empty where they differ; a radiograph whose readers disagree on
  the label is left out and listed;
* any other word: that reader's row only (the table's ``reader`` column); radiographs without a
  row by that reader are left out and listed.

Without a rule, a radiograph with several grade rows is an error naming the rules.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from sijscan.mny import mny_positive

RULES = ("first", "max", "consensus")
SIDES = ("grade_left", "grade_right")


@dataclass
class Resolved:
    """One set of grades (None where unknown) and a note when the rule had to decide something."""

    grade_left: int | None
    grade_right: int | None
    label: int | None
    note: str | None = None
    """Why the radiograph is left out (``left_out``) or what the rule did."""
    left_out: bool = False


def _value(v: Any) -> int | None:
    return None if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)) else int(v)


def label_of(left: int | None, right: int | None, given: int | None) -> tuple[int | None, str | None]:
    """The label from both grades (modified New York), else the given one; a contradiction is a note."""
    if left is not None and right is not None:
        derived = mny_positive(left, right)
        if given is not None and given != derived:
            return None, f"label {given} contradicts grades {left}/{right} (modified New York gives {derived})"
        return derived, None
    return given, None


def _one(row: pd.Series) -> Resolved:
    left, right = _value(row.get("grade_left")), _value(row.get("grade_right"))
    label, problem = label_of(left, right, _value(row.get("label")))
    return Resolved(left, right, label, note=problem, left_out=problem is not None)


def resolve_readers(rows: pd.DataFrame, *, rule: str | None) -> Resolved:
    """One :class:`Resolved` from the grade rows of one radiograph (table order), by ``rule``."""
    if rule not in (None, *RULES):
        if "reader" not in rows.columns:
            return Resolved(None, None, None, note=f"--readers {rule}: the table has no reader column", left_out=True)
        rows = rows[rows["reader"].astype(str) == rule]
        if rows.empty:
            return Resolved(None, None, None, note=f"no grades by reader {rule}", left_out=True)
    if len(rows) == 1 or rule == "first" or (rule not in RULES and rule is not None):
        return _one(rows.iloc[0])
    readings = [_one(r) for _, r in rows.iterrows()]
    if any(r.left_out for r in readings):
        return next(r for r in readings if r.left_out)
    if rule == "max":
        sides = [max((g for g in (getattr(r, s) for r in readings) if g is not None), default=None) for s in SIDES]
        labels = [r.label for r in readings if r.label is not None]
        given = max(labels) if labels and None in sides else None
        label, _ = label_of(sides[0], sides[1], given)
        return Resolved(sides[0], sides[1], label, note=f"max of {len(readings)} readers")
    labels = {r.label for r in readings}
    if len(labels) > 1:
        return Resolved(None, None, None, note=f"{len(readings)} readers disagree on the label", left_out=True)
    sides = []
    for s in SIDES:
        values = {getattr(r, s) for r in readings}
        sides.append(values.pop() if len(values) == 1 else None)
    return Resolved(sides[0], sides[1], labels.pop(), note=f"consensus of {len(readings)} readers")
