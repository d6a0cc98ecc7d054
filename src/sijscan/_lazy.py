"""Lazy re-exports for package ``__init__`` files, so importing a package does not import torch.

Usage in a package's ``__init__.py``::

    __getattr__, __all__ = lazy_exports(__name__, {"Pipeline": "sijscan.predict.pipeline"})
"""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], list[str]]:
    """Return a module ``__getattr__`` importing ``name`` from ``exports[name]`` on first use, and ``__all__``."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(exports)
