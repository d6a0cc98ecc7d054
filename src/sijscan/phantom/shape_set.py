"""What the packaged CT shape set is made of (``sijscan/data/phantom_shapes.json``, written by
``tools/shape_stats.py``): the real CT cases whose bones the procedural phantom's hip bones and sacrum are
mixed from. JSON only, so that a cohort or a study configuration can check ``ct_members`` without loading
the body model (:mod:`sijscan.phantom.body_model.ctshape` brings OpenCV and SciPy: about 0.3 s)."""
from __future__ import annotations

import functools
import json
from importlib import resources

from sijscan.errors import SijscanError

META_FILE = "phantom_shapes.json"


class ShapeDataError(SijscanError):
    """The packaged CT shape statistics are missing or malformed."""


@functools.lru_cache(maxsize=1)
def shape_meta() -> dict:
    """The shape set's description (members, layout, provenance), read once."""
    try:
        return json.loads((resources.files("sijscan") / "data" / META_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise ShapeDataError(f"cannot read sijscan/data/{META_FILE}: {exc}") from exc


def shape_case_ids() -> tuple[str, ...]:
    """The CT cases whose bones the shape set mixes (its members' case ids, e.g. "001"), in order."""
    meta = shape_meta()
    try:
        names = (*meta["hip_members"], *meta["sacrum_members"])
    except KeyError as exc:
        raise ShapeDataError(f"sijscan/data/{META_FILE} names no {exc} list") from exc
    return tuple(dict.fromkeys(str(n).split("_")[0] for n in names))
