"""sijscan.evaluate: statistics, figures and tables of a diagnostic-accuracy study.

Pure functions on arrays (``metrics``, ``delong``, ``bootstrap``, ``cutoff``, ``calibration``,
``mcnemar``, ``progression``) and three file-level calls in ``api``:
:func:`evaluate_predictions`, :func:`compare_models`, :func:`progression_report`.
Import them from their modules (``from sijscan.evaluate.api import evaluate_predictions``);
nothing heavy is imported here.
"""
from __future__ import annotations

__all__ = ["api", "bootstrap", "calibration", "cutoff", "delong", "mcnemar", "metrics", "progression"]
