"""Does the classifier see the baseline signal that carries progression? (issue 22 item 6; a diagnostic)

The paper's progression analysis counts "confident false positives" (probability >= 0.7 on a baseline
mNY-negative patient) and asks whether they progress more often within two years. In sijscan's phantom a
negative patient's progression risk pushes each joint's latent severity towards the upper edge of its
grade (sijscan.phantom.grading), so the truth carries a sub-threshold signal. This reads a finished study
(``sijscan demo`` / ``sijscan study`` output folder) and, among the follow-up cohort's baseline negatives with
a follow-up, reports how well each of these ranks the patients who progress (AUC): the true latent sum, the
true progression risk and the reader's baseline grade sum (what the phantom put in), and each model's
probability and, with a grade head, its predicted grade sum (what the model sees);
plus Spearman's rho of the probability with the latent sum, and how many negatives reach the confident
threshold. Phantom data: a diagnostic of the simulator and a trained model, not a performance figure.
Prints ONE JSON line.

    python benchmarks/progression_signal.py DEMO_OUT [--cohort gespic] [--confident 0.7]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

MODELS = ("anatomy", "standard")
TRUTH_COLUMNS = ("label", "followup_label", "latent_left", "latent_right", "progression_risk", "grade_left",
                 "grade_right")
"""The phantom's truth the diagnostic reads (a real cohort's manifest has no latents)."""


class NoFollowUpError(ValueError):
    """The cohort has no baseline-negative patient with a follow-up visit."""


def _auc(y: np.ndarray, s: np.ndarray) -> float | None:
    """sijscan's Mann-Whitney AUC, rounded; None when a class is empty."""
    from sijscan.stats.metrics import auc_midrank

    auc = auc_midrank(y_true=y, scores=s)
    return round(auc, 3) if np.isfinite(auc) else None


def signal(study: Path, *, cohort: str = "gespic", confident: float = 0.7) -> dict[str, Any]:
    import pandas as pd
    from scipy.stats import spearmanr

    folder = study / "cohorts" / cohort
    truth = pd.read_csv(folder / "manifest.csv")
    truth["image"] = [os.path.normpath(os.path.join(folder, x)) for x in truth["image"]]
    neg = truth[(truth["label"] == 0) & truth["followup_label"].notna()].copy()
    neg["latent_sum"] = neg["latent_left"] + neg["latent_right"]
    if neg.empty:
        raise NoFollowUpError(f"cohort {cohort!r} has no baseline-negative patient with a follow-up")
    progressed = (neg["followup_label"] == 1).to_numpy(int)
    out: dict[str, Any] = {"benchmark": "progression_signal", "study": str(study), "cohort": cohort,
                           "n_negatives_with_followup": int(len(neg)), "n_progressed": int(progressed.sum()),
                           "truth_auc": {"latent_sum": _auc(progressed, neg["latent_sum"].to_numpy()),
                                         "progression_risk": _auc(progressed, neg["progression_risk"].to_numpy()),
                                         "reader_grade_sum": _auc(progressed, (neg["grade_left"] + neg["grade_right"]).to_numpy())},
                           "models": {}}
    for model in MODELS:
        csv = study / "predict" / model / f"{cohort}.csv"
        if not csv.is_file():
            continue
        pred = pd.read_csv(csv)
        pred["image"] = [os.path.normpath(x) for x in pred["image"]]
        d = neg.merge(pred, on="image", how="inner", suffixes=("", "_predicted"))
        y, p = (d["followup_label"] == 1).to_numpy(int), d["probability"].to_numpy(float)
        graded = {"grade_left_predicted", "grade_right_predicted"} <= set(d.columns)
        out["models"][model] = {
            "n": int(len(d)), "auc_progression": _auc(y, p),
            "auc_progression_grade_sum": _auc(y, (d["grade_left_predicted"] + d["grade_right_predicted"]).to_numpy())
            if graded else None,
            "rho_latent_sum": round(float(spearmanr(p, d["latent_sum"])[0]), 3),
            "mean_p": round(float(p.mean()), 3), "max_p": round(float(p.max()), 3),
            "n_confident": int((p >= confident).sum()),
            "quantiles_p": {str(q): round(float(np.quantile(p, q)), 3) for q in (0.5, 0.9, 0.95)}}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("study", type=Path, help="a finished study's output folder (cohorts/, predict/)")
    ap.add_argument("--cohort", default="gespic")
    ap.add_argument("--confident", type=float, default=0.7)
    a = ap.parse_args(argv)
    manifest = a.study / "cohorts" / a.cohort / "manifest.csv"
    if not manifest.is_file():
        print(f"progression_signal: no cohort {a.cohort!r} under {a.study}", file=sys.stderr)
        return 2
    import pandas as pd

    missing = sorted(set(TRUTH_COLUMNS) - set(pd.read_csv(manifest, nrows=0).columns))
    if missing:
        print(f"progression_signal: {manifest} is not a phantom follow-up cohort (no {', '.join(missing)})",
              file=sys.stderr)
        return 2
    try:
        out = signal(a.study, cohort=a.cohort, confident=a.confident)
    except NoFollowUpError as exc:
        print(f"progression_signal: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
