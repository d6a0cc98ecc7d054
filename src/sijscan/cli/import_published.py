"""``sijscan import-published``: turn the authors' published weights into sijscan model folders."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sijscan.errors import InputError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import-published", help="import the published segmentation/classification weights",
        description="Convert segmentation_model.pt and/or classification_model.ckpt (Zenodo 11116990) into "
                    "sijscan model folders. Files are read with an allow-list; nothing in them is executed.",
    )
    p.add_argument("--segmentation", metavar="FILE", help="the authors' segmentation_model.pt")
    p.add_argument("--classification", metavar="FILE", help="the authors' classification_model.ckpt")
    p.add_argument("--out", required=True, help="output folder (with both files: OUT/segmenter, OUT/classifier)")
    p.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    if not args.segmentation and not args.classification:
        raise InputError("give --segmentation FILE and/or --classification FILE")
    out = Path(args.out)
    both = bool(args.segmentation and args.classification)
    if args.segmentation:
        from sijscan.anatomy.published import import_published_segmenter

        folder = import_published_segmenter(args.segmentation, out / "segmenter" if both else out)
        print(f"segmenter model folder written: {folder}")
    if args.classification:
        try:
            from sijscan.classify.published import import_published_classifier
        except ImportError as exc:
            raise InputError(
                f"importing the published classifier is not available in this sijscan build ({exc})"
            ) from exc
        folder = import_published_classifier(args.classification, out / "classifier" if both else out)
        print(f"classifier model folder written: {folder}")
    return 0
