"""sijscan: anatomy-aware detection of radiographic sacroiliitis on AP pelvis radiographs.

Research software, not a medical device. Heavy submodules (torch, MONAI) are imported lazily,
so ``import sijscan`` stays cheap.
"""
from __future__ import annotations

from sijscan._lazy import lazy_exports

__version__ = "0.1.0"

# Pipeline/Prediction import torch: only when first asked for.
__getattr__, _lazy_all = lazy_exports(__name__, {"Pipeline": "sijscan.predict.pipeline", "Prediction": "sijscan.predict.pipeline"})
__all__ = [*_lazy_all, "__version__"]
