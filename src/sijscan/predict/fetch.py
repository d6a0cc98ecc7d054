"""Download the authors' two published files (Zenodo record 11116990) and import them as a pipeline folder.

``fetch_published()`` fetches ``segmentation_model.pt`` and ``classification_model.ckpt`` into
``CACHE/zenodo-11116990/`` (resumable; see :mod:`sijscan.io.download`), records URL, size and
sha256 of each in its model card's provenance, and imports both with
:func:`sijscan.predict.published.import_published` into ``out`` (default
``CACHE/published-11116990``), ready for ``sijscan predict X --model OUT``.

sha256: Zenodo publishes MD5 checksums, not sha256, and sijscan was written without network access,
so no sha256 of the real files is pinned here (:data:`PINNED_SHA256` is empty on purpose). The
sha256 is computed and recorded; pass ``sha256={"segmentation": HEX, ...}`` to check known values.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping

from sijscan.errors import OfflineError
from sijscan.io.download import cache_dir, download
from sijscan.predict.published import import_published

log = logging.getLogger(__name__)

RECORD = "11116990"
BASE_URL = f"https://zenodo.org/records/{RECORD}/files"
FILES = {"segmentation": "segmentation_model.pt", "classification": "classification_model.ckpt"}
PINNED_SHA256: dict[str, str] = {}  # none known offline: see the module docstring


def published_urls(base_url: str | None = None) -> dict[str, str]:
    """``{"segmentation": URL, "classification": URL}`` under ``base_url`` (default: the Zenodo record)."""
    base = (base_url or BASE_URL).rstrip("/")
    suffix = "?download=1" if base_url is None else ""
    return {role: f"{base}/{name}{suffix}" for role, name in FILES.items()}


def fetch_published(*, out: str | os.PathLike[str] | None = None, cache: str | os.PathLike[str] | None = None,
                    base_url: str | None = None, sha256: Mapping[str, str] | None = None,
                    progress: bool | None = None, allow_unknown_objects: bool = False) -> Path:
    """Download (or find in the cache) both published files, import them; return the pipeline folder.

    Raises :class:`~sijscan.errors.OfflineError` (one line naming both URLs and the
    ``import-published`` command to use after a manual download) when the server cannot be reached.
    """
    root = cache_dir(cache)
    files_dir = root / f"zenodo-{RECORD}"
    target = Path(out) if out is not None else root / f"published-{RECORD}"
    urls = published_urls(base_url)
    known = {**PINNED_SHA256, **dict(sha256 or {})}
    got = {}
    try:
        for role, url in urls.items():
            got[role] = download(url, files_dir / FILES[role], sha256=known.get(role), progress=progress)
    except OfflineError as exc:
        raise OfflineError(
            f"cannot download the published weights ({exc}): download {urls['segmentation']} and "
            f"{urls['classification']} by hand, then run: sijscan import-published --segmentation "
            f"{FILES['segmentation']} --classification {FILES['classification']} --out {target}") from None
    sources = {role: {k: v for k, v in d.record().items() if k != "path"} | {"record": f"zenodo:{RECORD}"}
               for role, d in got.items()}
    log.info("importing %s and %s into %s", got["segmentation"].path, got["classification"].path, target)
    return import_published(out=target, segmentation=got["segmentation"].path,
                            classification=got["classification"].path,
                            allow_unknown_objects=allow_unknown_objects, sources=sources)
