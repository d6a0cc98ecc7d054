"""sijscan.stats: the pure statistics that classifier training and evaluation share.

Functions on arrays, no files but a model card's cut-off, no other sijscan package below them:
``metrics`` (AUC by mid-ranks, rates at a cut-off), ``delong`` (DeLong AUC variance and paired
test), ``bootstrap`` (percentile CIs), ``mcnemar`` (paired decisions), ``cutoff`` (choosing and
reading cut-offs), ``calibration`` (Brier score, calibration error and curve). ``sijscan.classify`` picks its
cut-off with them; ``sijscan.evaluate`` builds the study's tables from them.
"""
from __future__ import annotations

__all__ = ["bootstrap", "calibration", "cutoff", "delong", "mcnemar", "metrics"]
