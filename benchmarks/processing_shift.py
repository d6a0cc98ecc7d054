"""Which acquisition setting moves the anatomy-aware classifier's probability on normal joints? (issue 22)

The demo's ensemble calls DAMACT's normal joints positive (mean probability 0.6 at max grade 0, GESPIC 0.15).
This renders the SAME phantom patients (cohort definition, seed, n fixed) under one site's acquisition
profile with one group of its settings changed, and predicts them with a trained pipeline: the change
in mean probability per max grade is what that setting does to the model. Groups (``--groups``):

* ``kvp75`` / ``kvp90`` / ``kvp105``: the GESPIC site with only its tube voltage changed;
* ``damact``: the DAMACT site as defined; ``damact_<group>``: DAMACT with that group set to GESPIC's values:
  ``noise`` (quanta, electronic noise), ``blur`` (detector blur), ``lut`` (sigmoid curve instead of
  gamma), ``unsharp`` (GESPIC's edge enhancement), ``processing`` (lut + unsharp), ``grid`` (no grid
  lines), ``all`` (the four).

``--from-ct CASE_DIR``: the patients are instead CT-route radiographs of that real CT (the same ``--n``
renders, poses and grades in every group; only the acquisition profile changes), i.e. real anatomy under
each site's processing. Prints ONE JSON line (rows: group, the transfer benchmark's scores, i.e. AUC, mean
probability per max grade, ECE and per-side kappa, and the mean probability of the negatives). Phantom
or CT-route data; a diagnostic of a trained model, not a performance figure.

    PYTHONPATH=src python benchmarks/processing_shift.py --model DEMO/classifiers/anatomy-ensemble \\
        --segmenter DEMO/segmenter/model --work /tmp/shift [--n 40] [--seed 77]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # classifier_scores, loaded by path too (tests)
import classifier_scores  # noqa: E402  (the transfer benchmark's scores: AUC, mean p per max grade, ECE, kappa)
from sijscan.io.manifest import read_manifest  # noqa: E402
from sijscan.phantom.ct.cohort import render_ct_cohort  # noqa: E402
from sijscan.phantom.profiles import get_profile  # noqa: E402
from sijscan.phantom.simulate import simulate_cohort  # noqa: E402
from sijscan.predict.pipeline import Pipeline  # noqa: E402

GESPIC_NOISE = dict(quanta_per_mm2=16000.0, electronic_noise=0.004)
GESPIC_BLUR = dict(detector_blur_mm=0.1)
GESPIC_LUT = dict(lut="sigmoid", lut_contrast=4.0, lut_center=0.76)
GESPIC_UNSHARP = dict(unsharp_amount=0.45)
NO_GRID = dict(grid_lines=0.0)
GROUPS: dict[str, tuple[str, dict[str, Any]]] = {
    "kvp75": ("gespic", dict(kvp=75.0)), "kvp90": ("gespic", dict(kvp=90.0)), "kvp105": ("gespic", dict(kvp=105.0)),
    "damact": ("damact", {}),
    "damact_noise": ("damact", GESPIC_NOISE), "damact_blur": ("damact", GESPIC_BLUR),
    "damact_lut": ("damact", GESPIC_LUT), "damact_unsharp": ("damact", GESPIC_UNSHARP),
    "damact_processing": ("damact", {**GESPIC_LUT, **GESPIC_UNSHARP}), "damact_grid": ("damact", NO_GRID),
    "damact_all": ("damact", {**GESPIC_NOISE, **GESPIC_BLUR, **GESPIC_LUT, **GESPIC_UNSHARP, **NO_GRID}),
}


def score(pipe: Pipeline, manifest: Path) -> dict[str, Any]:
    """:func:`classifier_scores.score` of the pipeline's predictions, plus the negatives' mean probability."""
    df = read_manifest(manifest)
    preds = pipe.predict_many([str(x) for x in df["image"]], batch_size=16, on_error="record")
    rows = [{"label": int(r["label"]), "grade_left": int(r["grade_left"]), "grade_right": int(r["grade_right"]),
             "p": p.probability, "pred_left": (p.grades or {}).get("left"),
             "pred_right": (p.grades or {}).get("right")}
            for (_, r), p in zip(df.iterrows(), preds) if p.error is None]
    negatives = [r["p"] for r in rows if r["label"] == 0]
    return {**classifier_scores.score(rows),
            "mean_p_negatives": round(float(np.mean(negatives)), 4) if negatives else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="anatomy-aware classifier (or pipeline) folder")
    ap.add_argument("--segmenter", default=None, help="segmenter folder (unless --model is a pipeline folder)")
    ap.add_argument("--work", default=None, help="where the renders go (default: a temporary folder)")
    ap.add_argument("--groups", default=",".join(GROUPS), help=f"comma-separated, of: {', '.join(GROUPS)}")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=77)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--from-ct", default=None, metavar="CASE_DIR", help="CT-route renders of this real CT instead")
    args = ap.parse_args()
    groups = [g for g in args.groups.split(",") if g]
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        raise SystemExit(f"unknown group(s) {bad}; known: {', '.join(GROUPS)}")
    work = Path(args.work or tempfile.mkdtemp(prefix="processing-shift-"))
    pipe = Pipeline.from_dirs(classifier=args.model, segmenter=args.segmenter, device="cpu")
    rows, t0 = [], time.time()
    for g in groups:
        site, changes = GROUPS[g]
        if args.from_ct:
            manifest = render_ct_cohort([args.from_ct], work / g, n=args.n, size=args.size, seed=args.seed,
                                        profile=get_profile(site, changes), split="test", workers=args.workers)
        else:
            manifest = simulate_cohort(site, n=args.n, seed=args.seed, out_dir=work / g, size=args.size,
                                       followup=False, workers=args.workers, overrides={"profiles": {site: changes}},
                                       progress=False)
        rows.append({"group": g, "site": site, "changes": changes, **score(pipe, manifest)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "processing_shift", "model": str(Path(args.model).resolve()), "n": args.n,
                      "seed": args.seed, "size": args.size, "from_ct": args.from_ct,
                      "seconds": round(time.time() - t0, 1), "rows": rows}))


if __name__ == "__main__":
    main()
