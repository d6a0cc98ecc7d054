"""sijscan.predict: use a trained pipeline on new radiographs.

The package is also callable: ``sijscan.predict(inputs, model=DIR)`` is
:func:`sijscan.predict.api.predict` (one row per image as a ``pandas.DataFrame``), while
``sijscan.predict.runner`` and the other submodules import as usual. The module's class is
swapped for a callable subclass of ``ModuleType`` (below), so ``import sijscan.predict.x`` in
any order leaves ``sijscan.predict`` this same callable package.

The one call behind ``sijscan predict`` is ``predict_files`` (api.py), its settings one frozen
``PredictOptions`` (options.py). ``Pipeline`` (pipeline.py) and ``Prediction`` (prediction.py)
predict one radiograph or a list. Many inputs go through ONE runner (runner.py), on one process or
several GPUs/nodes alike: the reader (file_loader.py: threads or a DataLoader), the batched
predictor (device_batches.py), the writer (in runner.py, with the inputs and per-image files of
many_files.py, the table in table.py, names in names.py, the folder and its lock in outdir.py).
Grad-CAM (gradcam.py), input QC (qc.py), the HTML report (report.py), pictures (overlay.py), the
published files (published.py, fetch.py). Imported lazily so that
``import sijscan.predict`` needs no torch.
"""
from __future__ import annotations

import sys
import types
from typing import Any

from sijscan._lazy import lazy_exports

_LAZY = {
    "Pipeline": "sijscan.predict.pipeline",
    "Prediction": "sijscan.predict.prediction",
    "predict_files": "sijscan.predict.api",
    "load_pipeline": "sijscan.predict.api",
    "PredictOptions": "sijscan.predict.options",
    "run_prediction": "sijscan.predict.runner",
    "assess": "sijscan.predict.qc",
    "forward_with_cam": "sijscan.predict.gradcam",
    "write_report": "sijscan.predict.report",
}
__getattr__, __all__ = lazy_exports(__name__, _LAZY)


class _CallablePackage(types.ModuleType):
    """``sijscan.predict(...)`` runs :func:`sijscan.predict.api.predict`; attributes stay the package's."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from sijscan.predict.api import predict  # lazy: package

        return predict(*args, **kwargs)

    @property
    def __signature__(self) -> Any:  # inspect.signature / help(): the function's, not (*args, **kwargs)
        import inspect

        from sijscan.predict.api import predict  # lazy: package

        return inspect.signature(predict)


sys.modules[__name__].__class__ = _CallablePackage
