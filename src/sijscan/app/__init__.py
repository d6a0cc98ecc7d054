"""sijscan.app: the Gradio web app (``sijscan serve``); ``build_app(pipeline, *, max_upload_mb)``."""
from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("build_app", "launch_app"):
        from sijscan.app import app

        return getattr(app, name)
    raise AttributeError(f"module 'sijscan.app' has no attribute {name!r}")
