"""``sijscan evaluate``, ``sijscan compare`` and ``sijscan progression``: statistics of predictions."""
from __future__ import annotations

import argparse
import shlex
import sys

from sijscan._progress import add_progress_flag

CUTOFF_METHODS = ("max_accuracy", "max_balanced_accuracy", "youden")


def _command_line(args: argparse.Namespace) -> str:
    """The command as parsed (rebuilt from the Namespace, so it is right however main() was called)."""
    parts = ["sijscan", args.command]
    for key, value in vars(args).items():
        if key in ("command", "handler", "verbose") or value is None:
            continue
        flag = "--" + key.replace("_", "-")
        for v in value if isinstance(value, list) else [value]:
            parts += [flag, str(v)]
    return " ".join(shlex.quote(p) for p in parts)


def _check(args: argparse.Namespace) -> None:
    """Value checks done here (not by argparse types) so bad values give one line and exit code 2."""
    from sijscan.stats.cutoff import check_cutoff  # lazy: cli
    from sijscan.evaluate.errors import EvaluationInputError  # lazy: cli

    for name in ("cutoff", "cutoff_a", "cutoff_b", "confident"):
        value = getattr(args, name, None)
        if value is not None:
            check_cutoff(value, where="--" + name.replace("_", "-"))
    minimum = 0 if args.command == "progression" else 1
    if args.bootstrap < minimum:
        raise EvaluationInputError(f"--bootstrap must be an integer >= {minimum}, got {args.bootstrap}")


def register(subparsers: argparse._SubParsersAction) -> None:
    ev = subparsers.add_parser("evaluate", help="metrics with CIs, figures and a report for one model's predictions",
                               description="AUC (DeLong and bootstrap CIs), threshold metrics with bootstrap CIs, "
                                           "calibration, figures, report.md/report.html and metrics.json.")
    ev.add_argument("--predictions", required=True, help="CSV with columns image, probability[, decision]")
    ev.add_argument("--manifest", required=True, help="manifest CSV (labels, cohorts, splits)")
    g = ev.add_mutually_exclusive_group()
    g.add_argument("--cutoff", type=float, help="decision cut-off (positive when probability >= cut-off)")
    g.add_argument("--model", help="sijscan model folder; its model.json 'cutoff' is used")
    g.add_argument("--cutoff-method", choices=CUTOFF_METHODS,
                   help="choose the cut-off on these same cases (optimistic; flagged in the outputs)")
    ev.add_argument("--cohort", help="only rows of this cohort")
    ev.add_argument("--split", help="only rows of this split (e.g. test)")
    ev.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    ev.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    ev.add_argument("--out", required=True, help="output folder")
    add_progress_flag(ev)
    ev.set_defaults(handler=_evaluate)

    cp = subparsers.add_parser("compare", help="compare two models: DeLong, McNemar, Table-2-like table",
                               description="Per cohort (cohort column, else one per manifest) and pooled: both "
                                           "models' metrics, DeLong's test, McNemar's test, CIs of differences.")
    cp.add_argument("--a", required=True, help="predictions CSV of model A")
    cp.add_argument("--b", required=True, help="predictions CSV of model B")
    cp.add_argument("--manifest", required=True, action="append", help="manifest CSV (repeat for several cohorts)")
    cp.add_argument("--name-a", default="A", help="display name of model A (e.g. standard)")
    cp.add_argument("--name-b", default="B", help="display name of model B (e.g. anatomy-aware)")
    cp.add_argument("--cutoff-a", type=float)
    cp.add_argument("--cutoff-b", type=float)
    cp.add_argument("--model-a", help="model folder of A (cut-off from model.json)")
    cp.add_argument("--model-b", help="model folder of B (cut-off from model.json)")
    cp.add_argument("--split", help="only rows of this split")
    cp.add_argument("--bootstrap", type=int, default=1000)
    cp.add_argument("--seed", type=int, default=0)
    cp.add_argument("--out", required=True)
    add_progress_flag(cp)
    cp.set_defaults(handler=_compare)

    pg = subparsers.add_parser("progression", help="do confident false positives progress? (paper's follow-up analysis)",
                               description="Among baseline negatives with follow-up: confident false positives, "
                                           "the paper's ratio, odds ratio and relative risk with CIs, Fisher's p.")
    pg.add_argument("--predictions", required=True, help="predictions CSV (model A)")
    pg.add_argument("--manifest", required=True, help="manifest with label and followup_label")
    pg.add_argument("--confident", type=float, default=0.7, help="confidence threshold (default 0.7)")
    pg.add_argument("--b", help="predictions CSV of a second model (adds McNemar on follow-up labels)")
    pg.add_argument("--name-a", default="A")
    pg.add_argument("--name-b", default="B")
    pg.add_argument("--cutoff", type=float, help="cut-off of model A (for McNemar with --b)")
    pg.add_argument("--cutoff-b", type=float, help="cut-off of model B (for McNemar with --b)")
    pg.add_argument("--model", help="model folder of A (cut-off from model.json)")
    pg.add_argument("--model-b", help="model folder of B (cut-off from model.json)")
    pg.add_argument("--cohort")
    pg.add_argument("--split")
    pg.add_argument("--bootstrap", type=int, default=0, help="bootstrap CIs with N resamples (default off)")
    pg.add_argument("--seed", type=int, default=0)
    pg.add_argument("--out", required=True)
    pg.set_defaults(handler=_progression)


def _check_pair(args: argparse.Namespace, cut: str, model: str) -> None:
    from sijscan.evaluate.errors import CutoffError  # lazy: cli

    for side in ("a", "b"):
        if getattr(args, f"{cut}_{side}", None) is not None and getattr(args, f"{model}_{side}", None) is not None:
            raise CutoffError(f"give --cutoff-{side} or --model-{side}, not both")


def _evaluate(args: argparse.Namespace) -> int:
    _check(args)
    from sijscan.evaluate.api import evaluate_predictions  # lazy: cli, pandas
    from sijscan.evaluate.report import fmt, fmt_ci  # lazy: cli

    r = evaluate_predictions(predictions=args.predictions, manifest=args.manifest, cutoff=args.cutoff,
                             model_dir=args.model, cutoff_method=args.cutoff_method, cohort=args.cohort,
                             split=args.split, n_bootstrap=args.bootstrap, seed=args.seed, out_dir=args.out,
                             command_line=_command_line(args), progress=args.progress)
    print(f"n={r['n']} (positive {r['n_positive']})  AUC {fmt_ci(r['auc'], r['auc_ci'])}  "
          f"cut-off {fmt(r['cutoff'], 4)} ({r['cutoff_method']})")
    for k in ("balanced_accuracy", "sensitivity", "specificity"):
        print(f"  {k}: {fmt_ci(r[k], r[k + '_ci'])}")
    q = r["qc_excluded"]
    if q["n_qc_withheld_excluded"]:
        print(f"QC-withheld images excluded: n={q['n']} ({q['n_qc_withheld_excluded']} left out)  "
              f"AUC {fmt_ci(q['auc'], q.get('auc_ci', [float('nan')] * 2))} (all images above: the main analysis)")
    for w in r["warnings"]:
        print(f"WARNING: {w}", file=sys.stderr)
    print(f"wrote {args.out}/metrics.json, report.md, report.html and 4 figures")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from sijscan.evaluate.api import compare_models  # lazy: cli, pandas
    from sijscan.evaluate.comparison import table2_markdown  # lazy: cli, pandas

    _check(args)
    _check_pair(args, "cutoff", "model")
    r = compare_models(predictions_a=args.a, predictions_b=args.b, manifests=args.manifest, name_a=args.name_a,
                       name_b=args.name_b, cutoff_a=args.cutoff_a, cutoff_b=args.cutoff_b, model_a=args.model_a,
                       model_b=args.model_b, split=args.split, n_bootstrap=args.bootstrap, seed=args.seed,
                       out_dir=args.out, command_line=_command_line(args), progress=args.progress)
    print(table2_markdown(r))
    for w in r["warnings"]:
        print(f"WARNING: {w}", file=sys.stderr)
    return 0


def _progression(args: argparse.Namespace) -> int:
    from sijscan.evaluate.api import progression_report  # lazy: cli, pandas
    from sijscan.evaluate.followup import HEADERS, progression_rows  # lazy: cli, pandas
    from sijscan.evaluate.report import markdown_table  # lazy: cli
    from sijscan.evaluate.errors import CutoffError  # lazy: cli

    _check(args)
    if args.cutoff is not None and args.model is not None:
        raise CutoffError("give --cutoff or --model, not both")
    if args.cutoff_b is not None and args.model_b is not None:
        raise CutoffError("give --cutoff-b or --model-b, not both")
    r = progression_report(predictions=args.predictions, manifest=args.manifest, confident=args.confident,
                           predictions_b=args.b, name_a=args.name_a, name_b=args.name_b, cutoff_a=args.cutoff,
                           cutoff_b=args.cutoff_b, model_a=args.model, model_b=args.model_b, cohort=args.cohort,
                           split=args.split, n_bootstrap=args.bootstrap, seed=args.seed, out_dir=args.out,
                           command_line=_command_line(args))
    print(markdown_table(HEADERS, progression_rows(r)))
    if "mcnemar_followup" in r:
        m = r["mcnemar_followup"]
        print(f"McNemar on follow-up labels: p = {m['mcnemar_p']:.4g} ({m['method']}, n = {m['n']})")
    for w in r["warnings"]:
        print(f"WARNING: {w}", file=sys.stderr)
    return 0
