"""``sijscan predict``: a thin shell over :func:`sijscan.predict.batch.run_batch`."""
from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict", help="predict sacroiliitis on radiographs (CSV, JSON, overlays, Grad-CAM, report)",
        description="Run segmenter + classifier on files, folders (recursive) or a manifest CSV. Writes "
                    "OUT/predictions.csv (one row per image; failures have a one-line reason in 'error'), "
                    "OUT/images/<name>.json and overlays. Resumable: images already predicted are skipped "
                    "unless --overwrite. Exit 0 all ok, 1 some inputs failed, 2 usage error. "
                    "Research use only, not a medical device.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="radiograph files, folders or a manifest CSV")
    p.add_argument("--model", help="model folder: pipeline.json naming segmenter + classifier, or a classifier")
    p.add_argument("--segmenter", help="segmenter model folder (instead of --model)")
    p.add_argument("--classifier", help="classifier model folder (instead of --model)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--gradcam", action="store_true", help="also write Grad-CAM PNGs (evidence for sacroiliitis)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--batch-size", type=int, default=8, help="classifier batch size (default 8)")
    p.add_argument("--workers", type=int, default=1, help="threads reading files ahead (default 1)")
    p.add_argument("--report", action="store_true", help="write OUT/report.html (self-contained)")
    p.add_argument("--overwrite", action="store_true", help="redo images already in predictions.csv")
    p.add_argument("--progress", action="store_true", help="progress bar even when stderr is not a terminal")
    p.add_argument("--hash-names", action="store_true", help="name images by a content hash, not the file name")
    p.set_defaults(handler=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    if args.batch_size < 1 or args.workers < 1:
        print("sijscan predict: error: --batch-size and --workers must be >= 1", file=sys.stderr)
        return 2
    if bool(args.model) == bool(args.classifier):
        print("sijscan predict: error: give --model DIR, or --classifier DIR (with --segmenter DIR for the "
              "SIJ-crop model)", file=sys.stderr)
        return 2
    from sijscan.predict.batch import run_batch
    from sijscan.predict.pipeline import Pipeline

    if args.model:
        pipeline = Pipeline.from_folder(args.model, device=args.device)
    else:
        pipeline = Pipeline.from_dirs(classifier=args.classifier, segmenter=args.segmenter, device=args.device)
    summary = run_batch(pipeline, inputs=args.inputs, out_dir=args.out, gradcam=args.gradcam,
                        batch_size=args.batch_size, overwrite=args.overwrite, workers=args.workers,
                        report=args.report, progress=True if args.progress else None, hash_names=args.hash_names)
    for image, reason in summary.failures:
        print(f"sijscan predict: {reason if reason.startswith(image) else f'{image}: {reason}'}", file=sys.stderr)
    print(f"predicted {summary.done}, skipped {summary.skipped} already done, {summary.withheld} withheld by QC, "
          f"{summary.failed} failed -> {args.out}")
    return summary.exit_code
