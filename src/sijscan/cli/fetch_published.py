"""``sijscan fetch-published``: download the authors' weights (Zenodo 11116990) and import them."""
from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fetch-published", help="download the published weights (Zenodo 11116990) and import them",
        description="Download segmentation_model.pt and classification_model.ckpt of Zenodo record 11116990 "
                    "(resumable; cached), record URL, size and sha256 in the model cards, and import them as a "
                    "pipeline folder: `sijscan predict X --model OUT` then works. Cache folder: --cache, else "
                    "$SIJSCAN_CACHE, else ~/.cache/sijscan. Offline: download both files by hand and use "
                    "`sijscan import-published`.",
    )
    p.add_argument("--out", help="pipeline folder to write (default: CACHE/published-11116990)")
    p.add_argument("--cache", metavar="DIR", help="cache folder (default: $SIJSCAN_CACHE, else ~/.cache/sijscan)")
    p.add_argument("--base-url", metavar="URL",
                   help="a mirror holding both files (default: https://zenodo.org/records/11116990/files)")
    p.add_argument("--sha256-segmentation", metavar="HEX", help="refuse segmentation_model.pt unless its sha256 is HEX")
    p.add_argument("--sha256-classification", metavar="HEX",
                   help="refuse classification_model.ckpt unless its sha256 is HEX")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (none is shown when not a terminal)")
    p.add_argument("--allow-unknown-objects", action="store_true",
                   help="as for import-published: accept (never execute) objects outside the allow-list")
    p.set_defaults(handler=run_fetch)


def run_fetch(args: argparse.Namespace) -> int:
    from sijscan.predict.fetch import fetch_published  # lazy: cli

    sha = {k: v for k, v in (("segmentation", args.sha256_segmentation),
                             ("classification", args.sha256_classification)) if v}
    out = fetch_published(out=args.out, cache=args.cache, base_url=args.base_url, sha256=sha,
                          progress=False if args.no_progress else None,
                          allow_unknown_objects=args.allow_unknown_objects)
    print(f"pipeline folder written: {out}  (use: sijscan predict X --model {out})")
    return 0
