"""sijscan.app: the Gradio web app (``sijscan serve``); ``build_app(pipeline, *, max_upload_mb)``."""
from __future__ import annotations

from sijscan._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {"build_app": "sijscan.app.app", "launch_app": "sijscan.app.app"})
