"""sijscan.export: model folders to other formats (ONNX, see onnx_export.py). Imported lazily (no torch)."""
from __future__ import annotations

from sijscan._lazy import lazy_exports

_LAZY = {
    "export_model": "sijscan.export.onnx_export",
    "export_any": "sijscan.export.onnx_export",
}
__getattr__, __all__ = lazy_exports(__name__, _LAZY)
