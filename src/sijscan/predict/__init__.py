"""sijscan.predict: use a trained pipeline on new radiographs.

The one call behind ``sijscan predict`` is ``predict_files`` (api.py). ``Pipeline`` (pipeline.py)
and ``Prediction`` (prediction.py) predict one radiograph or a list; the paths for many inputs are
named for what they serve: many files in one process with a resumable table (many_files.py, the
table in table.py, names in names.py, the folder and its lock in outdir.py), batches on an
accelerator (device_batches.py, fed by file_loader.py) and several processes/GPUs/nodes
(scale_out.py). Grad-CAM (gradcam.py), input QC (qc.py), the HTML report (report.py), pictures
(overlay.py), the published files (published.py, fetch.py). Imported lazily so that
``import sijscan.predict`` needs no torch.
"""
from __future__ import annotations

from sijscan._lazy import lazy_exports

_LAZY = {
    "Pipeline": "sijscan.predict.pipeline",
    "Prediction": "sijscan.predict.prediction",
    "predict_files": "sijscan.predict.api",
    "run_batch": "sijscan.predict.many_files",
    "run_distributed": "sijscan.predict.scale_out",
    "assess": "sijscan.predict.qc",
    "forward_with_cam": "sijscan.predict.gradcam",
    "write_report": "sijscan.predict.report",
}
__getattr__, __all__ = lazy_exports(__name__, _LAZY)
