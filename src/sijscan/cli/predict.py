"""``sijscan predict``: a thin shell over :func:`sijscan.predict.api.predict_files`."""
from __future__ import annotations

import argparse
import logging
import sys

from sijscan._progress import add_progress_flag

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict", help="predict sacroiliitis on radiographs (CSV, JSON, overlays, Grad-CAM, report)",
        description="Run segmenter + classifier on files, folders (recursive) or a manifest CSV. Writes "
                    "OUT/predictions.csv (one row per image; failures have a one-line reason in 'error'), "
                    "OUT/images/<name>.json and overlays. Resumable: images already predicted whose file is "
                    "unchanged are skipped; failed and changed ones are redone. One run at a time per OUT "
                    "(locked). Exit 0 all ok, 1 some inputs failed, 2 usage error. "
                    "Research use only, not a medical device.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="radiograph files, folders or a manifest CSV")
    p.add_argument("--model", help="model folder: pipeline.json naming segmenter + classifier, or a classifier")
    p.add_argument("--segmenter", help="segmenter model folder (with --classifier, or to replace --model's)")
    p.add_argument("--masks", metavar="DIR",
                   help="your own label maps (0 bg, 1 sacrum, 2/3 hip bones), named like the images (or <stem>_mask);"
                        " images with one skip the segmenter. A manifest's mask column is used too")
    p.add_argument("--ignore-manifest-masks", dest="manifest_masks", action="store_false",
                   help="segment every image, even those whose manifest row names a mask (true masks flatter the "
                        "anatomy-aware model)")
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
    p.add_argument("--overwrite", action="store_true", help="redo the images named here even if already in predictions.csv (other rows are kept)")
    add_progress_flag(p)
    p.add_argument("--hash-names", action="store_true",
                   help="de-identified outputs: name images by a content hash, not the file name, and leave out "
                        "their paths and DICOM UIDs (evaluate still matches them by content)")
    scale = p.add_argument_group("scale-out (several processes/GPUs/nodes with Lightning Fabric, DDP; "
                                 "every other option works there too)")
    scale.add_argument("--devices", type=int, default=1, help="processes (GPUs) per node (default 1)")
    scale.add_argument("--num-nodes", type=int, default=1, help="nodes; OUT must be on a shared file system")
    scale.add_argument("--accelerator", choices=("cpu", "gpu", "auto"), default=None,
                       help="default: from --device (cpu -> cpu, cuda -> gpu, auto -> auto)")
    scale.add_argument("--loader-workers", type=int, default=None, metavar="K",
                       help="DataLoader processes decoding files per device (0: in the main process; "
                            "default min(4, cores / devices) when devices x nodes > 1)")
    p.set_defaults(handler=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    from sijscan.predict.api import predict_files  # lazy: cli
    from sijscan.predict.options import PredictOptions  # lazy: cli

    summary = predict_files(args.inputs, args.out, model=args.model, classifier=args.classifier,
                            segmenter=args.segmenter, options=PredictOptions.from_namespace(args))
    if summary is None:  # a scale-out rank other than 0: rank 0 merges and reports
        return 0
    for image, reason in summary.failures:
        print(f"sijscan predict: {reason if reason.startswith(image) else f'{image}: {reason}'}", file=sys.stderr)
    print(f"predicted {summary.done}, skipped {summary.skipped} already done, {summary.withheld} withheld by QC, "
          f"{summary.failed} failed -> {args.out}")
    return int(summary.exit_code)
