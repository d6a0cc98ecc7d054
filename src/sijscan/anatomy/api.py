"""``sijscan.segment``: the one typed call behind ``sijscan segment``.

Segments radiographs with a segmenter model folder (:func:`sijscan.anatomy.run.segment_files`);
returns a :class:`~sijscan.anatomy.run.SegmentRun` whose ``images`` hold each radiograph's
label map (0 background, 1 sacrum, 2 hip bone on the image's left = patient's right, 3 on the
image's right), SIJ location, crop and the files written for it.
"""
from __future__ import annotations

import os
from typing import Sequence

from sijscan.anatomy.run import SegmentedImage, SegmentRun, segment_files

PathLike = str | os.PathLike[str]
__all__ = ["SegmentRun", "SegmentedImage", "segment"]


def segment(images: PathLike | Sequence[PathLike], *, model: PathLike, out: PathLike | None = None,
            nifti: bool = False, dicom_seg: bool = False, manifest: PathLike | None = None, paper_crop: bool = False,
            device: str = "cpu", keep: bool = True) -> SegmentRun:
    """Segment ``images`` (files or folders; none: the ``manifest``'s images) with the segmenter ``model``.

    ``out=DIR`` writes what ``sijscan segment --out DIR`` writes (``<stem>_mask.png``, overlay, crop,
    JSON; ``nifti`` and ``dicom_seg`` add NIfTI and DICOM SEG masks); without ``out`` nothing is
    written. ``keep`` (default): the results stay in memory, ``run.images[i].labels`` and
    ``.segmentation``, in input order; files that cannot be read are in ``run.failed`` as
    (path, reason). ``manifest`` with masks: Dice and SIJ-box hit rate in ``run.metrics``.
    A missing model folder raises ``ModelError``, bad arguments ``InputError`` (one line each).
    """
    paths = [images] if isinstance(images, (str, os.PathLike)) else list(images)
    return segment_files(paths, model_dir=model, out_dir=out, nifti=nifti, manifest=manifest, paper_crop=paper_crop,
                         device=device, dicom_seg=dicom_seg, keep=keep)
