"""Nested leave-one-CT-out sim-to-real benchmark: choose a segmenter recipe without the held-out CT.

benchmarks/sim_to_real.py measures ONE recipe (the demo's) on each held-out real CT. Choosing between
recipes by those figures would tune on the held-out CT. Here each outer fold (one CT held out)
chooses its recipe by an INNER leave-one-out over the other two CTs only: train on the phantom + one
of them, test on radiographs of the other, both ways round; the held-out CT is rendered and
segmented only by the chosen recipe's models, after the choice.

Candidates (:data:`CANDIDATES`, fixed before a run; each is the demo's recipe with a few entries
replaced) and the rule (:func:`choose`): the score of a candidate is, averaged over its inner tests,
the lowest of the three structures' mean Dice (the issue's target is on every structure); the
highest score wins unless it beats the incumbent (``demo``, the shipped recipe) by less than
:data:`TIE_MARGIN`, in which case the incumbent stays.

The OUTER figures of each fold are those of the chosen candidate, trained with the seeds of
``--train-seeds`` and pooled as sim_to_real.py pools them: that is the nested estimate of how the
selection procedure does on a CT it never saw. The outer figures of every candidate are reported
too (``outer_all``), as plain leave-one-out figures: they are what a recipe for a model trained on
all three CTs (the demo's) is chosen by, and they are NOT an unbiased estimate for the winner.

    PYTHONPATH=src python benchmarks/sim_to_real_nested.py --work /tmp/s2r > nested.json

Prints ONE JSON line on stdout (logs on stderr).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
import time
from itertools import permutations
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("sim_to_real", HERE / "sim_to_real.py")
s2r = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s2r)  # type: ignore[union-attr]

CANDIDATES: dict[str, dict[str, Any]] = {
    "demo": {},
    # twice the CT-route renders per training CT, and 70% (not 50%) of each epoch's draws from them
    "more_ct": {"ct_train_n": 100, "extra_weight": 0.7},
}
INCUMBENT = "demo"
TIE_MARGIN = 0.005
STRUCTURES = ("sacrum", "hip_image_left", "hip_image_right")
log = logging.getLogger("sim_to_real_nested")


def worst_structure(ev: dict[str, Any]) -> float:
    """The lowest of the three structures' mean Dice of one evaluation."""
    return min(float(ev["dice"][k]["mean"]) for k in STRUCTURES)


def choose(scores: dict[str, float], *, incumbent: str = INCUMBENT, margin: float = TIE_MARGIN) -> str:
    """The best-scoring candidate; the incumbent unless another beats it by at least ``margin``."""
    best = max(scores, key=lambda k: scores[k])
    if incumbent in scores and scores[best] - scores[incumbent] < margin:
        return incumbent
    return best


def _outer_from_json(path: Path, *, cases: list[str], seeds: tuple[int, ...]) -> dict[str, Any]:
    """A candidate's outer figures from an earlier ``sim_to_real.py --full`` run of the demo's recipe."""
    res = json.loads(Path(path).read_text().strip().splitlines()[-1])
    recipe = s2r.demo_recipe()
    data = res.get("data", {})
    diff = {k: (data.get(k), v) for k, v in recipe.items()
            if data.get(k) != (list(v) if isinstance(v, tuple) else v)}  # JSON keeps tuples as lists
    if res.get("mode") != "full" or diff:
        raise SystemExit(f"{path}: not a --full run of today's demo recipe (differs: {diff})")
    if data.get("transfer_train_seeds") != list(seeds) or sorted(res.get("held_out", [])) != sorted(cases):
        raise SystemExit(f"{path}: trained with seeds {data.get('transfer_train_seeds')} on folds "
                         f"{res.get('held_out')}; need seeds {list(seeds)} on {cases}")
    return {"folds": {h: res["folds"][h]["transfer"] for h in cases},
            "targets_met": {h: res["targets_met"][h]["transfer"] for h in cases},
            "models": res["models"], "recipe": data, "from": str(path), "code": res.get("code")}


def run(*, mode: str, ct_root: Path, cases: list[str], work: Path, train_seeds: tuple[int, ...],
        candidates: dict[str, dict[str, Any]], reuse: bool, outer_from: dict[str, Path] | None = None) -> dict[str, Any]:
    t_all = time.perf_counter()
    code = s2r._code_state()
    inner: dict[str, Any] = {}
    chosen: dict[str, str] = {}
    for h in cases:
        others = [c for c in cases if c != h]
        inner[h] = {}
        for name, ov in candidates.items():
            tests = {}
            for a, b in permutations(others, 2):
                res = s2r.run(mode=mode, ct_root=ct_root, cases=[a, b], holdout=[b], work=work, reuse=reuse,
                              arms=("transfer",), train_seeds=(train_seeds[0],), overrides=ov,
                              models_dir=work / "nested" / name / f"inner-{a}-to-{b}")
                tests[f"{a}->{b}"] = {"dice": {k: res["folds"][b]["transfer"]["dice"][k]["mean"] for k in STRUCTURES},
                                      "sij_inside_crop": {k: v["mean"] for k, v in
                                                          res["folds"][b]["transfer"]["sij_inside_crop"].items()},
                                      "worst_structure": worst_structure(res["folds"][b]["transfer"]),
                                      "train_s": next(iter(res["models"].values()))["train_s"]}
            score = sum(t["worst_structure"] for t in tests.values()) / len(tests)
            inner[h][name] = {"tests": tests, "score": round(score, 4)}
        chosen[h] = choose({n: v["score"] for n, v in inner[h].items()})
        log.info("held out %s: inner scores %s -> %s", h, {n: v["score"] for n, v in inner[h].items()}, chosen[h])
    outer_all: dict[str, dict[str, Any]] = {}
    for name, ov in candidates.items():
        if name in (outer_from or {}):
            outer_all[name] = _outer_from_json(outer_from[name], cases=cases, seeds=train_seeds)
            continue
        res = s2r.run(mode=mode, ct_root=ct_root, cases=cases, holdout=cases, work=work, reuse=reuse,
                      arms=("transfer",), train_seeds=train_seeds, overrides=ov, models_dir=work / "nested" / name / "outer")
        outer_all[name] = {"folds": {h: res["folds"][h]["transfer"] for h in cases},
                           "targets_met": {h: res["targets_met"][h]["transfer"] for h in cases},
                           "models": res["models"], "recipe": res["data"]}
    nested = {h: {"chosen": chosen[h], **outer_all[chosen[h]]["folds"][h],
                  "target_met": outer_all[chosen[h]]["targets_met"][h]} for h in cases}
    loo = {n: round(sum(worst_structure(v["folds"][h]) for h in cases) / len(cases), 4) for n, v in outer_all.items()}
    return {
        "benchmark": "sim_to_real_nested", "mode": mode, "ct_root": str(ct_root), "cases": cases,
        "candidates": candidates, "incumbent": INCUMBENT, "tie_margin": TIE_MARGIN,
        "rule": "inner score = mean over inner tests of the lowest structure's mean Dice; highest wins "
                "unless it beats the incumbent by less than tie_margin",
        "train_seeds": list(train_seeds), "inner": inner, "chosen": chosen, "nested": nested,
        "nested_targets_met": {h: v["target_met"] for h, v in nested.items()},
        "outer_all": outer_all,
        "loo_worst_structure_mean": loo, "recipe_for_all_cts": choose(loo),
        "targets": {"dice_each_structure": s2r.TARGET_DICE, "sij_box_share_inside_crop_each_joint": s2r.TARGET_INSIDE},
        "timings": {"total_s": round(time.perf_counter() - t_all, 1)},
        "code": code,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (seconds per model)")
    ap.add_argument("--ct-root", type=Path, default=s2r.DEFAULT_CT_ROOT, help="folder of the CT case folders")
    ap.add_argument("--cases", default="001,002,003", help="comma-separated case folders under --ct-root (>= 3)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/sim_to_real"), help="scratch folder (renders are shared "
                    "with sim_to_real.py's)")
    ap.add_argument("--train-seeds", default=None, help="outer training seeds (default 0,1,2; 0 with --quick); "
                    "inner folds train with the first")
    ap.add_argument("--reuse", action="store_true", help="reuse renders already in --work made with the same settings")
    ap.add_argument("--incumbent-outer", type=Path, default=None,
                    help="JSON of a sim_to_real.py --full run (same seeds, every case held out): the incumbent's "
                         "outer figures are taken from it instead of being trained again")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    if len(cases) < 3:
        ap.error("need >= 3 --cases (each outer fold needs two CTs for its inner leave-one-out)")
    missing = [c for c in cases if not (a.ct_root / c).is_dir()]
    if missing:
        ap.error(f"CT case folders not found under {a.ct_root}: {', '.join(missing)}")
    seeds = s2r.parse_train_seeds(ap, a.train_seeds, quick=a.quick)
    cands = CANDIDATES
    if a.quick:  # the quick sizes with the candidates' counts scaled down
        cands = {"demo": {}, "more_ct": {"ct_train_n": 4, "extra_weight": 0.7}}
    result = run(mode="quick" if a.quick else "full", ct_root=a.ct_root, cases=cases, work=a.work,
                 train_seeds=seeds, candidates=cands, reuse=a.reuse,
                 outer_from={INCUMBENT: a.incumbent_outer} if a.incumbent_outer else None)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
