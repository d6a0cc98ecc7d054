"""sijscan.predict: use a trained pipeline on new radiographs.

``Pipeline``/``Prediction`` (pipeline.py), Grad-CAM (gradcam.py), input QC (qc.py), batch runs with
a resumable CSV (batch.py), the HTML report (report.py) and pictures (overlay.py). Imported lazily
so that ``import sijscan.predict`` needs no torch.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Pipeline": "sijscan.predict.pipeline",
    "Prediction": "sijscan.predict.pipeline",
    "run_batch": "sijscan.predict.batch",
    "assess": "sijscan.predict.qc",
    "forward_with_cam": "sijscan.predict.gradcam",
    "write_report": "sijscan.predict.report",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sijscan.predict' has no attribute {name!r}")
