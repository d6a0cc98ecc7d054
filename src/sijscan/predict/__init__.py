"""sijscan.predict: use a trained pipeline on new radiographs.

``Pipeline``/``Prediction`` (pipeline.py), Grad-CAM (gradcam.py), input QC (qc.py), batch runs with
a resumable CSV (batch.py), across processes/GPUs (distributed.py),
the HTML report (report.py) and pictures (overlay.py). Imported lazily
so that ``import sijscan.predict`` needs no torch.
"""
from __future__ import annotations

from sijscan._lazy import lazy_exports

_LAZY = {
    "Pipeline": "sijscan.predict.pipeline",
    "Prediction": "sijscan.predict.pipeline",
    "run_batch": "sijscan.predict.batch",
    "run_distributed": "sijscan.predict.distributed",
    "assess": "sijscan.predict.qc",
    "forward_with_cam": "sijscan.predict.gradcam",
    "write_report": "sijscan.predict.report",
}
__getattr__, __all__ = lazy_exports(__name__, _LAZY)
