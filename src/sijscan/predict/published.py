"""Import the authors' two published files (Zenodo record 11116990) as one ready-to-use pipeline folder.

``import_published(segmentation=S, classification=C, out=OUT)`` writes ``OUT/segmenter``,
``OUT/classifier`` and ``OUT/pipeline.json`` naming both, so ``sijscan predict X --model OUT``,
``serve --model OUT`` and ``export-onnx --model OUT`` work at once. With one file only, ``OUT`` is
that model folder itself. ``sources`` (from ``fetch-published``: URL, size, sha256 per file) is
recorded in each model card's provenance.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping

from sijscan.errors import InputError
from sijscan.pipelinefolder import write_pipeline_folder

log = logging.getLogger(__name__)


def import_published(*, out: str | os.PathLike[str], segmentation: str | os.PathLike[str] | None = None,
                     classification: str | os.PathLike[str] | None = None, allow_unknown_objects: bool = False,
                     sources: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Convert the published file(s) into sijscan model folder(s); return the folder to pass as ``--model``.

    ``allow_unknown_objects``: accept a classifier checkpoint whose pickle names globals outside the
    allow-list of what real Lightning/torch checkpoints carry (they are still never executed).
    ``sources``: ``{"segmentation": {...}, "classification": {...}}`` download records for provenance.
    """
    if segmentation is None and classification is None:
        raise InputError("give the segmentation file and/or the classification file")
    root = Path(out)
    both = segmentation is not None and classification is not None
    src = dict(sources or {})
    seg_dir = clf_dir = None
    if segmentation is not None:
        from sijscan.anatomy.published import import_published_segmenter  # lazy: torch

        seg_dir = import_published_segmenter(segmentation, root / "segmenter" if both else root,
                                             download=src.get("segmentation"))
    if classification is not None:
        from sijscan.classify.published import import_published_classifier  # lazy: torch

        clf_dir = import_published_classifier(classification, root / "classifier" if both else root,
                                              allow_unknown_objects=allow_unknown_objects,
                                              download=src.get("classification"))
    if both:
        write_pipeline_folder(root, classifier=clf_dir, segmenter=seg_dir)
        log.info("pipeline folder written: %s (segmenter + classifier)", root)
    return root
