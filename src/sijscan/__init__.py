"""sijscan: anatomy-aware detection of radiographic sacroiliitis on AP pelvis radiographs.

Research software, not a medical device. Heavy submodules (torch, MONAI) are imported lazily,
so ``import sijscan`` stays cheap.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["Pipeline", "Prediction", "__version__"]

_LAZY = {"Pipeline": "sijscan.predict.pipeline", "Prediction": "sijscan.predict.pipeline"}


def __getattr__(name: str) -> Any:
    """Import ``Pipeline``/``Prediction`` (torch) only when first asked for."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sijscan' has no attribute {name!r}")
