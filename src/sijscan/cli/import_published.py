"""``sijscan import-published``: turn the authors' published weights into a sijscan pipeline folder."""
from __future__ import annotations

import argparse
import logging

from sijscan.errors import InputError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import-published", help="import the published segmentation/classification weights",
        description="Convert segmentation_model.pt and/or classification_model.ckpt (Zenodo 11116990) into "
                    "sijscan model folders. With both files OUT is a pipeline folder (OUT/segmenter, "
                    "OUT/classifier, OUT/pipeline.json): `sijscan predict X --model OUT` then works. Files are "
                    "read with an allow-list; nothing in them is executed; a file holding any other object is "
                    "refused.",
    )
    p.add_argument("--segmentation", metavar="FILE", help="the authors' segmentation_model.pt")
    p.add_argument("--classification", metavar="FILE", help="the authors' classification_model.ckpt")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--allow-unknown-objects", action="store_true",
                   help="accept a checkpoint naming objects outside sijscan's allow-list (kept as inert "
                        "placeholders, never executed); by default such a file is refused")
    p.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    if not args.segmentation and not args.classification:
        raise InputError("give --segmentation FILE and/or --classification FILE")
    from sijscan.predict.published import import_published  # lazy: cli

    out = import_published(out=args.out, segmentation=args.segmentation, classification=args.classification,
                           allow_unknown_objects=args.allow_unknown_objects)
    both = bool(args.segmentation and args.classification)
    print(f"{'pipeline' if both else 'model'} folder written: {out}" + (f"  (use: sijscan predict X --model {out})"
                                                                        if both else ""))
    return 0
