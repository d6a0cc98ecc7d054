"""``sijscan predict``: a thin shell over :func:`sijscan.predict.batch.run_batch`."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

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
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                   help="run the networks in torch (default) or onnxruntime (needs `sijscan export-onnx` first; "
                        "no --gradcam)")
    p.add_argument("--fast", action="store_true",
                   help="segment in one pass over the working image instead of the recipe's sliding windows "
                        "(published model: ~4x fewer FLOPs). NOT the published arithmetic, and on a network "
                        "trained on crops its masks disagreed badly with the exact mode: see docs/performance.md")
    p.add_argument("--batch-size", type=int, default=8, help="classifier batch size (default 8)")
    p.add_argument("--workers", type=int, default=1, help="threads reading files ahead (default 1)")
    p.add_argument("--report", action="store_true", help="write OUT/report.html (self-contained)")
    p.add_argument("--overwrite", action="store_true", help="redo images already in predictions.csv")
    p.add_argument("--progress", action="store_true", help="progress bar even when stderr is not a terminal")
    p.add_argument("--hash-names", action="store_true", help="name images by a content hash, not the file name")
    scale = p.add_argument_group("scale-out (Lightning Trainer.predict, DDP; used when devices x nodes > 1 or "
                                 "--loader-workers is given)")
    scale.add_argument("--devices", type=int, default=1, help="processes (GPUs) per node (default 1)")
    scale.add_argument("--num-nodes", type=int, default=1, help="nodes; OUT must be on a shared file system")
    scale.add_argument("--accelerator", choices=("cpu", "gpu", "auto"), default=None,
                       help="default: from --device (cpu -> cpu, cuda -> gpu, auto -> auto)")
    scale.add_argument("--loader-workers", type=int, default=None, metavar="K",
                       help="DataLoader processes decoding files per device (0: in the main process; "
                            "default min(4, cores / devices) when devices x nodes > 1)")
    p.set_defaults(handler=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    if args.batch_size < 1 or args.workers < 1:
        print("sijscan predict: error: --batch-size and --workers must be >= 1", file=sys.stderr)
        return 2
    if bool(args.model) == bool(args.classifier):
        print("sijscan predict: error: give --model DIR, or --classifier DIR (with --segmenter DIR for the "
              "SIJ-crop model)", file=sys.stderr)
        return 2
    if args.gradcam and args.backend == "onnx":
        print("sijscan predict: error: --gradcam needs gradients: use --backend torch (ONNX runs inference only)",
              file=sys.stderr)
        return 2
    if args.devices != 1 or args.num_nodes != 1 or args.loader_workers is not None:
        return _run_scaleout(args)
    from sijscan.predict.batch import run_batch
    from sijscan.predict.pipeline import Pipeline

    if args.model:
        pipeline = Pipeline.from_folder(args.model, device=args.device, backend=args.backend, fast=args.fast)
    else:
        pipeline = Pipeline.from_dirs(classifier=args.classifier, segmenter=args.segmenter, device=args.device,
                                      backend=args.backend, fast=args.fast)
    summary = run_batch(pipeline, inputs=args.inputs, out_dir=args.out, gradcam=args.gradcam,
                        batch_size=args.batch_size, overwrite=args.overwrite, workers=args.workers,
                        report=args.report, progress=True if args.progress else None, hash_names=args.hash_names)
    return _print_summary(summary, out=args.out)


def _print_summary(summary: Any, *, out: str) -> int:
    for image, reason in summary.failures:
        print(f"sijscan predict: {reason if reason.startswith(image) else f'{image}: {reason}'}", file=sys.stderr)
    print(f"predicted {summary.done}, skipped {summary.skipped} already done, {summary.withheld} withheld by QC, "
          f"{summary.failed} failed -> {out}")
    return int(summary.exit_code)


def _run_scaleout(args: argparse.Namespace) -> int:
    """The Lightning path (sijscan.predict.distributed); ranks other than 0 print nothing and exit 0."""
    import os

    if args.devices < 1 or args.num_nodes < 1 or (args.loader_workers is not None and args.loader_workers < 0):
        print("sijscan predict: error: --devices and --num-nodes must be >= 1, --loader-workers >= 0", file=sys.stderr)
        return 2
    if getattr(args, "fast", False):
        print("sijscan predict: error: --fast is not available on the scale-out path (--devices, --num-nodes, "
              "--loader-workers)", file=sys.stderr)
        return 2
    if getattr(args, "backend", "torch") != "torch":
        print("sijscan predict: error: the scale-out path (--devices, --num-nodes, --loader-workers) runs torch "
              "networks: use --backend torch", file=sys.stderr)
        return 2
    if args.device not in ("auto", "cpu", "cuda"):
        print(f"sijscan predict: error: with --devices/--loader-workers, --device must be auto, cpu or cuda "
              f"(choose GPUs with CUDA_VISIBLE_DEVICES), got {args.device!r}", file=sys.stderr)
        return 2
    accelerator = args.accelerator or {"cpu": "cpu", "cuda": "gpu"}.get(args.device, "auto")
    workers = args.loader_workers if args.loader_workers is not None else min(4, (os.cpu_count() or 1) // args.devices)
    from sijscan.predict.distributed import run_distributed
    from sijscan.predict.pipeline import Pipeline

    if args.model:
        pipeline = Pipeline.from_folder(args.model, device="cpu")
    else:
        pipeline = Pipeline.from_dirs(classifier=args.classifier, segmenter=args.segmenter, device="cpu")
    summary = run_distributed(
        pipeline, inputs=args.inputs, out_dir=args.out, devices=args.devices, num_nodes=args.num_nodes,
        accelerator=accelerator, loader_workers=workers, batch_size=args.batch_size, gradcam=args.gradcam,
        overwrite=args.overwrite, report=args.report, progress=True if args.progress else None,
        hash_names=args.hash_names)
    if summary is None:  # not global rank 0: rank 0 merges and reports
        return 0
    return _print_summary(summary, out=args.out)
