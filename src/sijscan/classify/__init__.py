"""sijscan.classify: the standard (whole radiograph) and anatomy-aware (SIJ crop) classifiers.

Public entry points (imported lazily so ``import sijscan.classify`` stays light):
``train_classifier`` (train.py; api.py wraps it as ``sijscan.train_classifier``, the call behind
``sijscan train-classifier``, returning a ``TrainedClassifier``), ``classify_views`` / ``load_classifier`` (predict.py),
``import_published_classifier`` (published.py), ``preprocess_view`` (preprocess.py).
"""
from __future__ import annotations

from sijscan._lazy import lazy_exports

_LAZY = {
    "train_classifier": "sijscan.classify.train",
    "classify_views": "sijscan.classify.predict",
    "load_classifier": "sijscan.classify.predict",
    "import_published_classifier": "sijscan.classify.published",
    "preprocess_view": "sijscan.classify.preprocess",
    "clahe_qiu": "sijscan.classify.preprocess",
}
__getattr__, __all__ = lazy_exports(__name__, _LAZY)
