"""``sijscan study CONFIG --out DIR [--force STAGE ...]`` and ``sijscan demo [--out DIR]``."""
from __future__ import annotations

import argparse
import logging
import sys

from sijscan._progress import add_progress_flag

STAGES = ("cohorts", "segmenter", "classifiers", "predict", "evaluate", "compare", "progression", "report")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "study", help="run the paper's whole experiment from one YAML config (cached stages, report)",
        description="Run a study: cohorts -> segmenter -> classifiers (standard and anatomy-aware) -> predict -> "
        "evaluate -> compare (DeLong, McNemar) -> progression -> report. Finished stages are cached in "
        "OUT/<stage>/done.json and skipped on rerun; a failed stage is named and the exit code is 1.",
    )
    p.add_argument("config", help="study configuration (YAML; see configs/demo.yaml, configs/paper.yaml)")
    p.add_argument("--out", required=True, help="study folder (created; reused on rerun)")
    p.add_argument("--force", nargs="+", default=[], metavar="STAGE", choices=(*STAGES, "all"),
                   help=f"rerun these stages (and those downstream) even if cached: {', '.join(STAGES)}, all")
    add_progress_flag(p)
    p.set_defaults(handler=handle_study)
    d = subparsers.add_parser(
        "demo", help="run a small phantom study on the CPU (no data needed) and print where the report is",
        description="Simulate four small phantom cohorts (1024 px), train both models with the cpu recipe, evaluate "
        "and write the report. About 16 minutes on an idle 2-core CPU (measured 2026-12-07), more on a slower one (stages are cached: a rerun skips what is done).",
    )
    d.add_argument("--out", default="demo-out", help="output folder (default ./demo-out)")
    d.add_argument("--force", nargs="+", default=[], metavar="STAGE", choices=(*STAGES, "all"),
                   help="rerun these stages even if cached")
    add_progress_flag(d)
    d.set_defaults(handler=handle_demo)


def _finish(result: object, command: str) -> int:
    ran, skipped = getattr(result, "ran"), getattr(result, "skipped")
    print(f"sijscan {command}: ran {len(ran)} stage(s) ({', '.join(ran) or 'none'}), "
          f"cached {len(skipped)}", file=sys.stderr)
    for line in getattr(result, "findings", []):
        print(line)
    print(f"report: {getattr(result, 'report')}")
    return 0


def _run(command: str, call: object) -> int:
    from sijscan.study.context import StageFailedError  # lazy: cli

    logging.getLogger("sijscan.study").setLevel(logging.INFO)
    try:
        result = call()  # type: ignore[operator]
    except StageFailedError as exc:
        print(f"sijscan {command}: error: {exc}", file=sys.stderr)
        return 1
    return _finish(result, command)


def handle_study(args: argparse.Namespace) -> int:
    from sijscan.study.run import run_study  # lazy: cli

    return _run("study", lambda: run_study(args.config, out_dir=args.out, force=args.force,
                                                 progress=args.progress))


def handle_demo(args: argparse.Namespace) -> int:
    from sijscan.study.demo import run_demo  # lazy: cli

    return _run("demo", lambda: run_demo(out_dir=args.out, force=args.force, progress=args.progress))
