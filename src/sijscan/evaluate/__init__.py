"""sijscan.evaluate: statistics, figures and tables of a diagnostic-accuracy study.

Built on the pure statistics of :mod:`sijscan.stats` (``metrics``, ``delong``, ``bootstrap``,
``cutoff``, ``calibration``, ``mcnemar``), which classifier training uses too; here: the
progression analysis, grades, tables, figures and three file-level calls in ``api``:
:func:`evaluate_predictions`, :func:`compare_models`, :func:`progression_report`.
Import them from their modules (``from sijscan.evaluate.api import evaluate_predictions``);
nothing heavy is imported here.
"""
from __future__ import annotations

__all__ = ["api", "cam_inside_sij", "comparison", "figures", "followup", "grades", "predictions", "progression",
           "report", "summary"]
