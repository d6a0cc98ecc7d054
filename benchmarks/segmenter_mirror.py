"""Mirrored test-time augmentation of the segmenter, measured on models already trained (no retraining).

Takes the leave-one-CT-out transfer segmenters of an earlier ``benchmarks/stress_ct.py`` (or
``sim_to_real.py --full``) run, three seeds per fold, and segments that run's own test sets of each
held-out CT, plain (``ct-test/<CT>``) and ``stress`` (``ct-test-stress/<CT>``), once with the mirror
off and once on (``Segmenter.load(mirror=...)``, whatever the cards say). Figures are pooled over the
seeds as sim_to_real.py pools them and summarised as stress_ct.py does. CT-route renders (real bone
shapes, simulated radiography and body): never clinical performance.

    PYTHONPATH=src python benchmarks/segmenter_mirror.py --work /tmp/stress_ct > mirror.json

Prints ONE JSON line on stdout.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


s2r, stress = _load("sim_to_real"), _load("stress_ct")


def measure(work: Path, models: Path, cases: list[str], seeds: tuple[int, ...]) -> dict[str, Any]:
    """``{CT: {"plain" | "plain_mirror" | "stress" | "stress_mirror": summary}}``."""
    folds: dict[str, Any] = {}
    for h in cases:
        folds[h] = {}
        for test, name in (("ct-test", "plain"), ("ct-test-stress", "stress")):
            manifest = work / test / h / "manifest.csv"
            if not manifest.is_file():
                raise SystemExit(f"{manifest} not found: run benchmarks/stress_ct.py with this --work first")
            for mirror in (False, True):
                per_seed = {s: s2r.evaluate(models / s2r.transfer_model_name(h, s), manifest, mirror=mirror)
                            for s in seeds}
                pooled = s2r.pool_seeds(per_seed) if len(seeds) > 1 else per_seed[seeds[0]]
                row = stress.summary(pooled)
                row["seed_means"] = {k: pooled["dice"][k].get("seed_means") for k in stress.STRUCTURES}
                folds[h][name + ("_mirror" if mirror else "")] = row
    return folds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="the stress_ct.py run's --work (its test renders)")
    ap.add_argument("--models", type=Path, default=None, help="folder of its seg-transfer-without-* models "
                    "(default: --work)")
    ap.add_argument("--cases", default="001,002,003", help="held-out CTs")
    ap.add_argument("--train-seeds", default=None, help="the run's training seeds (default 0,1,2)")
    a = ap.parse_args(argv)
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    seeds = s2r.parse_train_seeds(ap, a.train_seeds, quick=False)
    t0 = time.perf_counter()
    folds = measure(a.work, a.models or a.work, cases, seeds)
    print(json.dumps({"benchmark": "segmenter_mirror", "work": str(a.work), "models": str(a.models or a.work),
                      "train_seeds": list(seeds),
                      "data": "CT-route renders of each held-out shared CT, that run's plain and stress test sets",
                      "folds": folds, "eval_s": round(time.perf_counter() - t0, 1), "code": s2r._code_state()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
