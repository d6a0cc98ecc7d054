"""sijscan.classify: the standard (whole radiograph) and anatomy-aware (SIJ crop) classifiers.

Public entry points (imported lazily so ``import sijscan.classify`` stays light):
``train_classifier`` (train.py), ``classify_views`` / ``load_classifier`` (predict.py),
``import_published_classifier`` (published.py), ``preprocess_view`` (preprocess.py).
"""
from __future__ import annotations

from typing import Any

_LAZY = {
    "train_classifier": "sijscan.classify.train",
    "classify_views": "sijscan.classify.predict",
    "load_classifier": "sijscan.classify.predict",
    "import_published_classifier": "sijscan.classify.published",
    "preprocess_view": "sijscan.classify.preprocess",
    "clahe_qiu": "sijscan.classify.preprocess",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sijscan.classify' has no attribute {name!r}")


__all__ = sorted(_LAZY)
