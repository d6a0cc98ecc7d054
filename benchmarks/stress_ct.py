"""Stress benchmark (issue 24): the held-out real CT rendered under the hardest CT-route settings.

Leave one real CT out exactly as ``benchmarks/sim_to_real.py`` does (its ``run``: the same recipe,
renders, seeds and training; nothing is tuned on the held-out CT), and test every trained model on
the held-out CT's renders twice: plain (today's figures) and under the realism preset ``stress``
(``sijscan.phantom.ct.realism``: obese body, gas loops over the SIJs, 3-5 mm slices, a hip
implant or iliosacral screws, the abdomen's field of view, a table, L1-L5 and the lower ribs). Reports
per fold and arm: mean and minimum Dice per structure (sacrum, hip bone image-left / image-right),
per joint the share of the true SIJ box inside the predicted crop, and the share of renders with
BOTH joints >= 90% inside, against the issue's targets (Dice >= 0.90 each structure, both joints
>= 90% inside in >= 95% of the renders). Phantom renders only: not clinical performance.

Prints ONE JSON line on stdout (logs on stderr); the full ``sim_to_real`` result is under ``detail``.

    PYTHONPATH=src python benchmarks/stress_ct.py --quick --work /tmp/stress_ct > stress.json
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
from pathlib import Path
from typing import Any

from sijscan.anatomy.train_config import BORDER_MODES  # numpy-free: the parser's choices

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("sim_to_real", HERE / "sim_to_real.py")
s2r = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s2r)  # type: ignore[union-attr]

PRESET = "stress"
TARGET_DICE, TARGET_INSIDE, TARGET_RENDER_SHARE = 0.90, 0.90, 0.95
"""Issue 24's "done when", per held-out CT under the hardest settings."""
STRUCTURES = ("sacrum", "hip_image_left", "hip_image_right")


def summary(ev: dict[str, Any]) -> dict[str, Any]:
    """Dice (mean, min) per structure and SIJ-in-crop shares of one ``sim_to_real.evaluate`` result
    (``both_joints_ge_90``: the share of renders with both joints >= 90% inside the crop). ``dice_visible``
    and ``targets_met_visible``: the same against the bone inside the exposed field only (the wide field
    of the stress preset leaves up to a third of a hip bone behind the collimator); ``targets_met`` stays
    judged on the whole label map, as since the benchmark began."""
    both = ev.get("both_joints_ge_90")
    joints_met = both is not None and both >= TARGET_RENDER_SHARE

    def group(name: str) -> tuple[dict[str, dict[str, float]], bool]:
        g = ev.get(name, {})
        dice = {k: {"mean": g[k]["mean"], "min": g[k]["min"]} for k in STRUCTURES if k in g}
        return dice, bool(dice) and all(d["mean"] >= TARGET_DICE for d in dice.values()) and joints_met

    dice, met = group("dice")
    dice_visible, met_visible = group("dice_visible")
    inside = {k: {"mean": v["mean"], "share_ge_90": v.get("share_ge_90")} for k, v in ev["sij_inside_crop"].items()}
    return {"n_images": ev["n_images"], "dice": dice, "dice_visible": dice_visible, "sij_inside_crop": inside,
            "both_joints_ge_90": both, "targets_met": met, "targets_met_visible": met_visible}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="tiny smoke run (seconds per model)")
    size.add_argument("--full", action="store_true", help="the measurement (default; the demo's recipe)")
    ap.add_argument("--ct-root", type=Path, default=s2r.DEFAULT_CT_ROOT, help="folder of the CT case folders")
    ap.add_argument("--cases", default="001,002,003", help="comma-separated case folders under --ct-root")
    ap.add_argument("--holdout", default=None, help="cases to hold out, one fold each (default: every case)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/stress_ct"), help="scratch folder")
    ap.add_argument("--arms", default="transfer",
                    help="sim_to_real arms to train and test, some of transfer,phantom_only,phantom_strong (default "
                         "transfer); models in --models are always trained again, an arm left out keeps its own")
    ap.add_argument("--train-seeds", default=None, help="as benchmarks/sim_to_real.py")
    ap.add_argument("--reuse", action="store_true", help="reuse renders in --work made with the same settings")
    ap.add_argument("--visible-only", action=argparse.BooleanOptionalAction, default=None,
                    help="train the segmenters on the bone inside each render's exposed field only, or not "
                         "(TrainConfig.visible_only; default: as the demo's recipe says)")
    ap.add_argument("--models", type=Path, default=None, help="where the models go (default --work): one folder per "
                                                              "training variant, the renders shared")
    ap.add_argument("--ct-variants", type=int, default=None,
                    help="anatomy variants per training CT (sijscan.phantom.ct.proportions; 1: as scanned; default: "
                         "as the demo's recipe says); their renders get a folder of their own")
    ap.add_argument("--collimate", type=float, default=None,
                    help="a candidate: the share of the transfer arm's training images given a random collimation "
                         "(sijscan.anatomy.augment; needs the recipe's strong augmentation and visible_only)")
    ap.add_argument("--border", choices=BORDER_MODES, default=None,
                    help="the segmenter recipe's border mode for every arm (sijscan.anatomy.border; default: as the "
                         "demo's recipe says)")
    ap.add_argument("--border-in-training", action="store_true",
                    help="fill the collimated border of the training images too (TrainConfig.border_in_training)")
    ap.add_argument("--ct-vary", default=None,
                    help="what the variants vary: comma-separated proportions,density (default: as the demo's recipe)")
    a = ap.parse_args(argv)
    if a.ct_variants is not None and a.ct_variants < 1:
        ap.error("--ct-variants: at least 1")
    overrides = {} if a.visible_only is None else {"visible_only": a.visible_only}
    if a.ct_variants is not None:
        overrides["ct_variants"] = a.ct_variants
    if a.collimate is not None:
        if not 0.0 <= a.collimate <= 1.0:
            ap.error(f"--collimate: a share within 0-1, got {a.collimate}")
        overrides["collimate"] = a.collimate
    if a.border is not None:
        overrides["border"] = a.border
    if a.border_in_training:
        overrides["border_in_training"] = True
    if a.ct_vary is not None:
        from sijscan.phantom.ct.proportions import VARY  # what an anatomy variant can vary

        vary = tuple(v.strip() for v in a.ct_vary.split(",") if v.strip())
        if not vary or set(vary) - set(VARY):
            ap.error(f"--ct-vary: some of {','.join(VARY)}, got {a.ct_vary!r}")
        overrides["ct_vary"] = vary
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    cases, holdout = s2r.parse_cases(ap, a)
    seeds = s2r.parse_train_seeds(ap, a.train_seeds, quick=a.quick)
    result = s2r.run(mode="quick" if a.quick else "full", ct_root=a.ct_root, cases=cases, holdout=holdout,
                     work=a.work, reuse=a.reuse, arms=s2r.parse_arms(ap, a.arms),
                     train_seeds=seeds, test_realism=PRESET, models_dir=a.models,
                     overrides=overrides or None)
    folds = {h: {arm: summary(ev) for arm, ev in f.items() if isinstance(ev, dict) and "dice" in ev}
             for h, f in result["folds"].items()}
    out = {"benchmark": "stress_ct", "mode": result["mode"], "preset": PRESET, "held_out": holdout,
           "targets": {"dice_each_structure": TARGET_DICE, "both_sij_inside_crop": TARGET_INSIDE,
                       "share_of_renders": TARGET_RENDER_SHARE},
           "folds": folds,
           "targets_met": {h: f.get(f"transfer_{PRESET}", {}).get("targets_met") for h, f in folds.items()},
           "timings": result["timings"], "code": result["code"], "detail": result}
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
