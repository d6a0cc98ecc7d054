"""sijscan: anatomy-aware detection of radiographic sacroiliitis on AP pelvis radiographs.

Research software, not a medical device. The Python API, one call per stage, each the call behind
a command (the README's "Python API" shows them at work)::

    sijscan.predict(inputs, model=DIR, out=None, **options) -> pandas.DataFrame   # sijscan predict
    sijscan.segment(images, model=DIR, out=None) -> SegmentRun                    # sijscan segment
    sijscan.train_classifier(manifest, view="sij", out=DIR, ...) -> TrainedClassifier
                                                                   # sijscan train-classifier
    sijscan.Pipeline.from_folder(DIR).predict(image_or_array) -> Prediction       # one radiograph

``sijscan.predict`` is also the package ``sijscan/predict/`` (callable, see its docstring).
Everything is imported lazily, so ``import sijscan`` stays cheap (no torch).
"""
from __future__ import annotations

import importlib
from typing import Any

from sijscan._lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "Pipeline": "sijscan.predict.pipeline",
    "Prediction": "sijscan.predict.pipeline",
    "segment": "sijscan.anatomy.api",
    "train_classifier": "sijscan.classify.api",
}
_lazy_getattr, _lazy_all = lazy_exports(__name__, _LAZY)


def __getattr__(name: str) -> Any:
    if name == "predict":  # the callable package (importing it binds sijscan.predict for good)
        return importlib.import_module("sijscan.predict")
    return _lazy_getattr(name)


__all__ = sorted([*_lazy_all, "predict", "__version__"])
