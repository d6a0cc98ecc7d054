"""``sijscan export-onnx``: write a model folder's network as ONNX for ``sijscan predict --backend onnx``."""
from __future__ import annotations

import argparse
import logging

from sijscan.errors import InputError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export-onnx", help="export a segmenter/classifier/pipeline folder to ONNX (for --backend onnx)",
        description="Write MODEL/onnx/network.onnx (dynamic batch; dynamic height/width where the network allows) "
                    "for a segmenter or classifier folder, or for both folders a pipeline.json names. The file's "
                    "sha256, opset and the max |onnx - torch| on a fixed random input are recorded in model.json.",
    )
    p.add_argument("--model", metavar="DIR", help="segmenter, classifier or pipeline folder")
    p.add_argument("--classifier", metavar="DIR", help="classifier folder (instead of, or besides, --model)")
    p.add_argument("--segmenter", metavar="DIR", help="segmenter folder (instead of, or besides, --model)")
    p.add_argument("--out", metavar="DIR", help="write here instead of MODEL/onnx (pipeline: DIR/segmenter, "
                                                "DIR/classifier); the card records the path relative to MODEL")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 20)")
    p.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo",
                   help="torch exporter: dynamo (default, torch.export-based) or torchscript (legacy, faster)")
    p.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from sijscan.export.onnx_export import DEFAULT_OPSET, export_any  # lazy: cli, torch

    opset = DEFAULT_OPSET if args.opset is None else int(args.opset)
    if not 7 <= opset <= 30:
        raise InputError(f"--opset must be an ONNX opset number (e.g. 18-20), got {opset}")
    folders = [f for f in (args.model, args.segmenter, args.classifier) if f]
    if not folders:
        raise InputError("give --model DIR (a segmenter, classifier or pipeline folder), or --segmenter DIR and/or "
                         "--classifier DIR")
    if args.out and len(folders) > 1:
        raise InputError("--out takes one model folder: export --segmenter and --classifier in separate calls")
    exports = [done for folder in folders for done in export_any(folder, out_dir=args.out, opset=opset,
                                                                 exporter=args.exporter)]
    for done in exports:
        dyn = ",".join(str(i) for i in done.dynamic_axes.get("image", []))
        print(f"{done.kind}: {done.path} (opset {done.opset}, {done.exporter} exporter, dynamic input axes {dyn}; "
              f"max |onnx - torch| = {done.max_abs_diff:.3g} on a random {tuple(done.check_shape)} input)")
    return 0
