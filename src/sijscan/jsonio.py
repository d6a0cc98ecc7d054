"""Valid JSON only: every JSON text sijscan writes goes through :func:`dumps`.

Python's ``json`` writes ``NaN``/``Infinity`` for non-finite floats, which is not JSON (RFC 8259):
other readers (JavaScript, ``jq``, R's ``jsonlite`` in strict mode) refuse the whole file. Here
every non-finite float becomes ``null``, numpy scalars and arrays become Python numbers and lists,
paths become strings, and ``allow_nan=False`` makes any value that slipped through an error
instead of a broken file. (``sijscan.evaluate.report.strict`` does the same for the evaluation
outputs and adds a ``<key>_reason`` next to each null.)
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Callable

import numpy as np


def plain(obj: Any, *, default: Callable[[Any], Any] | None = None) -> Any:
    """``obj`` as plain JSON data: NaN/inf -> None, numpy -> Python, tuples/sets -> lists, paths -> str."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, (str, int, float, bool)) and k is not None else k:
                plain(v, default=default) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [plain(v, default=default) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist(), default=default)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if default is not None:
        return plain(default(obj), default=default)
    return obj  # json.dumps raises TypeError naming the type


def dumps(obj: Any, *, default: Callable[[Any], Any] | None = None, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`plain` ``(obj)``: never a bare ``NaN`` or ``Infinity``."""
    return json.dumps(plain(obj, default=default), allow_nan=False, **kwargs)
