"""The study's two models and how its evaluation sets are named (one place for every stage)."""
from __future__ import annotations

MODELS = {"standard": "full", "anatomy": "sij"}
"""model name -> classifier view"""
MODEL_TITLES = {"standard": "standard (whole radiograph)", "anatomy": "anatomy-aware (SIJ crop)"}
VAL_SUFFIX = "-val"
"""the training cohort's validation rows form the evaluation set ``<cohort>-val``"""
