"""sijscan: anatomy-aware detection of radiographic sacroiliitis on AP pelvis radiographs.

Research software, not a medical device. Heavy submodules (torch, MONAI) are imported lazily,
so ``import sijscan`` stays cheap.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
