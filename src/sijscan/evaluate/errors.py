"""Errors raised by ``sijscan.evaluate``. Each message is one line and says what is allowed."""
from __future__ import annotations

from sijscan.errors import InputError
from sijscan.stats.cutoff import CutoffError  # noqa: F401  raised by sijscan.stats.cutoff, caught by evaluate's callers

MAX_LISTED = 10
"""How many offending keys/rows an error message names before it gives only the count."""


class EvaluationInputError(InputError):
    """Base class: the predictions, manifest or options cannot be evaluated."""


class PredictionsError(EvaluationInputError):
    """A predictions CSV is missing, empty, malformed, or holds invalid probabilities/duplicates."""


class KeyMismatchError(EvaluationInputError):
    """Predictions name images that the manifest does not hold (or two prediction files differ)."""


class NoFollowupError(EvaluationInputError):
    """The progression analysis found no baseline-negative patient with a follow-up label."""


def list_some(items: list[str], *, limit: int = MAX_LISTED) -> str:
    """Return ``'a, b, c (+N more; M in all)'``-style text naming the first ``limit`` items."""
    shown = ", ".join(str(i) for i in items[:limit])
    if len(items) > limit:
        return f"{shown} (+{len(items) - limit} more; {len(items)} in all)"
    return f"{shown} ({len(items)} in all)"
