"""``sijscan serve``: the web app on 127.0.0.1 (research use only)."""
from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve", help="web app: upload a radiograph, see probability, decision, anatomy and Grad-CAM",
        description="Start the Gradio web app. Binds 127.0.0.1 unless --host says otherwise. Nothing uploaded "
                    "is stored. Research use only, not a medical device.",
    )
    p.add_argument("--model", help="pipeline folder (pipeline.json; what train-classifier writes), or a classifier "
                                   "folder with --segmenter")
    p.add_argument("--classifier", metavar="DIR", help="classifier model folder (instead of --model)")
    p.add_argument("--segmenter", metavar="DIR", help="segmenter model folder (with --classifier, or to replace "
                                                      "--model's)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="largest upload accepted (default 50)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    if args.max_upload_mb <= 0 or not 0 < args.port < 65536:
        print("sijscan serve: error: --max-upload-mb must be > 0 and --port in 1..65535", file=sys.stderr)
        return 2
    from sijscan.app.app import check_port, private_temp_dir, remove_on_signals  # lazy: cli

    check_port(args.host, args.port)  # a busy port is one line, before anything heavy loads
    remove_on_signals(private_temp_dir())  # before gradio is imported; SIGTERM/SIGINT remove the uploads
    try:
        import gradio  # noqa: F401
    except ImportError:
        print("sijscan serve: error: the web app needs gradio: pip install 'sijscan[app]'", file=sys.stderr)
        return 2
    from sijscan.app.app import build_app, launch_app  # lazy: cli
    from sijscan.predict.api import load_pipeline  # lazy: cli

    pipeline = load_pipeline(model=args.model, classifier=args.classifier, segmenter=args.segmenter,
                             device=args.device)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"sijscan serve: warning: binding {args.host}: the app is reachable from other machines",
              file=sys.stderr)
    demo = build_app(pipeline, max_upload_mb=args.max_upload_mb)
    try:
        launch_app(demo, host=args.host, port=args.port, block=False)
    except OSError as exc:  # the port was taken between the check and the launch
        print(f"sijscan serve: error: cannot listen on {args.host}:{args.port}: {str(exc).splitlines()[0]}",
              file=sys.stderr)
        return 2
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"sijscan serve: open http://{shown}:{args.port}/ in a browser (Ctrl-C stops the app)", flush=True)
    demo.block_thread()
    return 0
