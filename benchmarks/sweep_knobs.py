"""Issue #8: explain the phantom study's findings from the phantom's knobs with a small sweep.

Runs small phantom studies through ``run_study``, varying

(a) the training cohort's (proof) ``shortcut_strength`` (default 0.0, 0.4, 0.8), test cohorts fixed;
(b) cohort shift: each test cohort (gespic, optiref; same seed, so the same patients) is rendered
    twice, with its own acquisition profile and with the training site's (``proof_a``) acquisition
    profile, through the phantom's ``overrides={"profiles": {site: {field: value}}}`` (acquisition
    fields only; the patient mix is sampled from the cohort's own profile either way).

One segmenter is trained in the first run and reused by the others (``segmenter: {model: DIR}``).
Per run and test set it records the standard and anatomy-aware AUC with the DeLong p and the
Grad-CAM share inside the true SIJ boxes. Prints ONE JSON line; writes OUT/sweep.md (the table) and
OUT/sweep.json.

    python benchmarks/sweep_knobs.py --out /tmp/sweep            # ~10-25 min on a 2-core CPU
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

SHIFT_SITE = "proof_a"
PATIENT_MIX = {"name", "female_fraction", "age_mean", "age_sd", "habitus_mean", "habitus_sd", "bowel_gas_mean",
               "tilt_sd_deg", "axial_rotation_sd_deg", "inplane_rotation_sd_deg", "offset_sd"}
TESTS = {"gespic": "gespic", "optiref": "optiref"}  # cohort -> its own site profile


def acquisition_of(site: str) -> dict[str, Any]:
    """Every acquisition field of a profile (patient-mix fields left out), JSON-able."""
    from sijscan.phantom.profiles import get_profile

    d = get_profile(site).to_dict()
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items() if k not in PATIENT_MIX}


def study_config(*, strength: float, a: argparse.Namespace, segmenter: dict[str, Any]) -> dict[str, Any]:
    cohorts: dict[str, Any] = {
        "proof": {"role": "train", "phantom": {"n": a.n_train, "size": a.size, "seed": a.seed,
                                               "overrides": {"shortcut_strength": strength}}},
    }
    shifted = acquisition_of(SHIFT_SITE)
    for cohort, site in TESTS.items():
        base = {"cohort": cohort, "n": a.n_test, "size": a.size, "seed": a.seed + 1, "followup": False}
        cohorts[cohort] = {"role": "test", "phantom": dict(base)}
        cohorts[f"{cohort}@{SHIFT_SITE}"] = {"role": "test", "phantom": {**base, "overrides": {"profiles": {site: shifted}}}}
    return {
        "study": {"name": f"sweep shortcut_strength={strength}", "seed": a.seed, "device": "cpu", "workers": a.workers},
        "cohorts": cohorts,
        "segmenter": segmenter,
        "classifiers": {"recipe": "quick", "arch": "tiny-resnet", "init": "random", "epochs": a.epochs},
        "predict": {"batch_size": 16, "gradcam_examples": 0},
        "evaluate": {"n_bootstrap": a.n_bootstrap, "confident": 0.7, "progression_bootstrap": 0,
                     "cam_share_images": a.cam_images},
    }


def cam_counts(csv: str | None) -> dict[str, list[int]]:
    """Per model [positives with a share, all-zero CAMs, no CAM] from the per-image CSV of the evaluate stage."""
    import pandas as pd

    if not csv or not Path(csv).is_file():
        return {}
    t = pd.read_csv(csv)
    out = {}
    for model in ("standard", "anatomy"):
        share, chance = t[f"{model}_share"].notna(), t[f"{model}_chance"].notna()
        out[model] = [int(share.sum()), int((~share & chance).sum()), int((~chance).sum())]
    return out


def _row(strength: float, name: str, summary: dict[str, Any], cam: dict[str, Any]) -> dict[str, Any]:
    cohort, _, site = name.partition("@")
    models = cam.get("models", {})
    counts = cam_counts(cam.get("csv"))
    return {
        "cam_counts": counts,
        "shortcut_strength": strength, "set": name, "cohort": cohort,
        "acquisition": site or ("proof_a/proof_b" if cohort == "proof-val" else "own"),
        "n": summary.get("n"), "auc_standard": summary.get("auc_standard"), "auc_anatomy": summary.get("auc_anatomy"),
        "auc_difference_ci": summary.get("auc_difference_ci"), "delong_p": summary.get("delong_p"),
        "cam_n_standard": models.get("standard", {}).get("n"), "cam_n_anatomy": models.get("anatomy", {}).get("n"),
        "cam_standard": models.get("standard", {}).get("mean"), "cam_standard_ci": models.get("standard", {}).get("mean_ci"),
        "cam_anatomy": models.get("anatomy", {}).get("mean"), "cam_anatomy_ci": models.get("anatomy", {}).get("mean_ci"),
        "chance_image": models.get("standard", {}).get("chance_image"),
        "chance_crop": models.get("anatomy", {}).get("chance_region"),
    }


def _finite(v: Any) -> bool:
    return v is not None and math.isfinite(float(v))


def _f(v: Any, d: int = 3) -> str:
    return f"{float(v):.{d}f}" if _finite(v) else "n/a"


def _ci(v: Any, ci: Any) -> str:
    if not _finite(v):
        return "n/a"
    if not ci or not (_finite(ci[0]) and _finite(ci[1])):
        return _f(v)
    return f"{_f(v)} ({_f(ci[0])} to {_f(ci[1])})"


def _p(p: Any) -> str:
    return "n/a" if not _finite(p) else ("< 0.0001" if p < 1e-4 else f"{p:.4f}")


def markdown(rows: list[dict[str, Any]]) -> str:
    head = ["training shortcut strength", "test set", "acquisition", "n", "AUC standard", "AUC anatomy-aware",
            "AUC difference (95% CI)", "DeLong p", "positives: share / all-zero CAM / no CAM (standard; anatomy-aware)", "CAM share standard (95% CI)",
            "CAM share anatomy-aware (95% CI)", "chance: image", "chance: crop"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        diff = r["auc_anatomy"] - r["auc_standard"] if _finite(r["auc_anatomy"]) and _finite(r["auc_standard"]) else None
        out.append("| " + " | ".join([
            f"{r['shortcut_strength']:.1f}", r["set"], r["acquisition"], str(r["n"]), _f(r["auc_standard"]),
            _f(r["auc_anatomy"]), _ci(diff, r["auc_difference_ci"]), _p(r["delong_p"]),
            "; ".join("/".join(map(str, r["cam_counts"][m])) for m in ("standard", "anatomy")) if r["cam_counts"] else "n/a", _ci(r["cam_standard"], r["cam_standard_ci"]),
            _ci(r["cam_anatomy"], r["cam_anatomy_ci"]), _f(r["chance_image"]), _f(r["chance_crop"])]) + " |")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="/tmp/sijscan-sweep")
    ap.add_argument("--strengths", type=float, nargs="+", default=[0.0, 0.4, 0.8])
    ap.add_argument("--n-train", type=int, default=300)
    ap.add_argument("--n-test", type=int, default=100)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--n-bootstrap", type=int, default=200)
    ap.add_argument("--cam-images", type=int, default=60)
    ap.add_argument("--seg-epochs", type=int, default=10)
    ap.add_argument("--segmenter", default=None, help="a trained segmenter folder (default: train one in the first run)")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("lightning", "lightning.pytorch", "sijscan"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import torch

    from sijscan.study.config import config_from_dict
    from sijscan.study.run import run_study

    torch.set_num_threads(max(1, a.workers))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all, load_start = time.perf_counter(), os.getloadavg()
    seg: dict[str, Any] = ({"model": a.segmenter} if a.segmenter else
                           {"train": {"arch": "unet-default", "epochs": a.seg_epochs, "size": 128, "batch_size": 8, "lr": 0.003}})
    rows, runs = [], []
    for strength in a.strengths:
        run_dir = out / f"s{strength:.1f}"
        t0 = time.perf_counter()
        cfg = config_from_dict(study_config(strength=strength, a=a, segmenter=seg))
        res = run_study(cfg, out_dir=run_dir)
        seconds = time.perf_counter() - t0
        if "model" not in seg:  # reuse the first run's segmenter from now on
            seg = {"model": res.outputs["segmenter"]["model"]}
        summary = res.outputs["compare"]["summary"]
        cam = res.outputs["evaluate"].get("camshare", {})
        for name in summary:
            if name != "all":
                rows.append(_row(strength, name, summary[name], cam.get(name, {})))
        runs.append({"shortcut_strength": strength, "dir": str(run_dir), "wall_s": round(seconds, 1),
                     "stages_total_s": round(sum(res.seconds.values()), 1), "cached": res.skipped,
                     "stage_s": res.seconds, "segmenter": res.outputs["segmenter"]["model"],
                     "report": str(res.report)})
        print(f"shortcut_strength {strength}: {seconds:.0f} s", file=sys.stderr, flush=True)
    order = {"proof-val": 0}
    rows.sort(key=lambda r: (order.get(r["cohort"], 1), r["cohort"], r["acquisition"] != "own", r["shortcut_strength"]))
    table = markdown(rows)
    (out / "sweep.md").write_text(table, encoding="utf-8")
    result = {"bench": "sweep_knobs", "args": vars(a), "shift_site": SHIFT_SITE, "rows": rows, "runs": runs,
              "wall_s": round(time.perf_counter() - t_all, 1), "load_avg_start": [round(x, 2) for x in load_start],
              "load_avg_end": [round(x, 2) for x in os.getloadavg()], "cpu_count": os.cpu_count(),
              "machine": platform.platform(), "torch": torch.__version__, "table": str(out / "sweep.md")}
    (out / "sweep.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
