"""Sim-to-real benchmark (issue 17): segmenters trained without a real CT, tested on radiographs of it.

Leave one real CT out at a time (``../shared/real-ct/pengwin/00N``, relative to the repository root):

* ``transfer`` (the improved recipe): procedural phantom ``proof`` + CT-route renders of the OTHER
  CTs (``--extra-manifest``, weight ``extra_weight``), ``--augment strong``;
* ``phantom_only`` (today's default recipe, ``--augment basic``, on the procedural phantom only,
  same size / epochs / data seed): it never sees a CT-route render;
* ``phantom_strong`` (``--augment strong`` on the procedural phantom only): it separates what the
  augmentation does from what the CT-route images do.

The procedural phantom's hip bones and sacrum are mixes of real CT bones (``sijscan/data/phantom_shapes.npz``,
made from these same CTs), so each fold simulates its own phantom from its training CTs only
(``ct_members``; session 17: before it, every fold's phantom mixed all three CTs, the held-out one
included) and trains its own phantom-only arms on it.

Every arm is tested on radiographs rendered from the held-out CT (random 3-D pose per image, several
hospital profiles, random sacroiliitis grades). Reported per fold and model: mean Dice per
structure (sacrum, hip bone image-left / image-right, at the test image's resolution) and, per
joint, the share of the true SIJ box's area inside the predicted SIJ crop box (mean, minimum and
the share of images with >= 90% inside). Nothing is tuned on the held-out CT: the recipe and every
size below are fixed before a run and the held-out renders are only segmented.

Sizes: ``--quick`` (smoke test, seconds per model), default = ``--full`` (the measurement): the
transfer arm is the DEMO's segmenter recipe read from ``sijscan/study/demo.yaml`` (epochs, size,
batch, lr, augmentation, CT-route renders per CT, their size and realism preset, mixing share; the procedural cohort
has the demo's training size, rendered at 256 px), with the held-out CT's renders left out; the
two phantom-only arms train with the same size and epochs. ``--full`` trains the transfer arm of
each fold with three seeds (``--train-seeds``) and reports the pooled figures (mean of the seeds'
means, worst image of any seed, each seed's mean) beside each seed's own.
Prints ONE JSON line on stdout (logs on stderr).

    PYTHONPATH=src python benchmarks/sim_to_real.py --full --work /tmp/s2r > s2r.json
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CT_ROOT = REPO.parent / "shared" / "real-ct" / "pengwin"


def demo_recipe() -> dict[str, Any]:
    """The demo's segmenter recipe (``sijscan/study/demo.yaml``): what ``--full`` trains, one source."""
    from sijscan.anatomy.train_config import train_default
    from sijscan.study.demo import demo_config

    cfg = demo_config()
    t = cfg.segmenter.train
    if t is None or t.ct_route is None:
        raise SystemExit("demo.yaml's segmenter.train has no ct_route: nothing to measure")
    proof = next(c for c in cfg.cohorts if c.role == "train")
    return dict(phantom_n=proof.phantom.n if proof.phantom else 400, ct_train_n=t.ct_route.n,
                ct_size=t.ct_route.size, ct_realism=t.ct_route.realism, ct_variants=t.ct_route.variants,
                ct_vary=tuple(t.ct_route.vary), epochs=t.epochs, size=t.size,
                batch_size=t.batch_size, lr=t.lr,
                augment=t.augment, extra_weight=t.extra_weight, visible_only=t.visible_only, border=t.border,
                # not study keys: benchmark candidates (stress_ct --collimate, --border-in-training)
                collimate=train_default("collimate"), border_in_training=train_default("border_in_training"))


MODES: dict[str, dict[str, Any]] = {
    # phantom: procedural proof cohort; ct_train: CT-route renders per training CT; test: per profile
    "quick": dict(phantom_n=10, phantom_size=128, ct_train_n=3, ct_size=128, ct_realism="off", ct_variants=1,
                  ct_vary=("proportions", "density"), test_n=1,
                  test_profiles=("proof_a", "damact"), epochs=1, size=64, batch_size=4, lr=3e-3,
                  augment="strong", extra_weight=0.5, visible_only=False, collimate=0.0, border="fill",
                  border_in_training=False),
    # the rest (epochs, size, CT renders per CT, their realism, mixing share, augmentation) is the demo's recipe
    "full": dict(phantom_size=256, test_n=6, test_profiles=("proof_a", "gespic", "damact")),
}
SEEDS = {"phantom": 11, "ct_train": 1, "ct_test": 2, "train": 0}
FULL_TRAIN_SEEDS = (0, 1, 2)
"""--full trains the transfer arm of every fold with these seeds and judges the target on the mean of
their figures: one training run's figure on 18 test images depends on its seed and on the machine's
float kernels, so a single run can pass or miss by chance."""
TARGET_DICE = 0.85
ARMS = ("phantom_only", "phantom_strong", "transfer")
log = logging.getLogger("sim_to_real")


def _combine(manifests: list[Path], out: Path) -> Path:
    """One manifest (absolute paths) from several."""
    import pandas as pd

    from sijscan.io import read_manifest
    from sijscan.io.manifest import write_manifest

    frames = [read_manifest(m) for m in manifests]
    df = pd.concat(frames, ignore_index=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_manifest(df, out)


MODELS: dict[str, dict[str, Any]] = {}


def _train(manifest: Path, out: Path, *, p: dict[str, Any], augment: str, extra: Path | None,
           seed: int = SEEDS["train"]) -> tuple[Path, float]:
    from sijscan.anatomy.train import TrainConfig, train_segmenter
    from sijscan.modelfolder import read_card

    cfg = TrainConfig(arch="unet-default", epochs=p["epochs"], batch_size=p["batch_size"], size=p["size"],
                      lr=p["lr"], accelerator="cpu", seed=seed, augment=augment,
                      extra_manifest=None if extra is None else str(extra), extra_weight=p["extra_weight"],
                      visible_only=bool(p.get("visible_only", False)),
                      collimate=float(p.get("collimate", 0.0)) if augment == "strong" else 0.0,
                      border=str(p.get("border", "keep")), border_in_training=bool(p.get("border_in_training")))
    t = time.perf_counter()
    folder = train_segmenter(manifest=manifest, out_dir=out, config=cfg, overwrite=True)  # models always retrain
    secs = time.perf_counter() - t
    prov = read_card(folder).provenance
    MODELS[out.name] = {"train_s": round(secs, 1), "val_dice": prov.get("val_dice"), "n_train": prov.get("n_train"),
                        "n_train_extra": prov.get("n_train_extra", 0), "n_val": prov.get("n_val")}
    return folder, secs


_scoring_spec = importlib.util.spec_from_file_location("segmenter_scoring", Path(__file__).resolve().parent /
                                                       "segmenter_scoring.py")
_scoring = importlib.util.module_from_spec(_scoring_spec)
_scoring_spec.loader.exec_module(_scoring)  # type: ignore[union-attr]
evaluate, pool_seeds = _scoring.evaluate, _scoring.pool_seeds
TARGET_INSIDE = _scoring.TARGET_INSIDE
"""Segment a manifest and score it; pool seeds (benchmarks/segmenter_scoring.py; re-exported here)."""


def _met(ev: dict[str, Any]) -> bool:
    dice_ok = all(ev["dice"][k]["mean"] >= TARGET_DICE for k in ("sacrum", "hip_image_left", "hip_image_right"))
    box_ok = all(ev["sij_inside_crop"][k]["mean"] >= TARGET_INSIDE for k in ("image_left", "image_right"))
    return bool(dice_ok and box_ok)


def run(*, mode: str, ct_root: Path, cases: list[str], holdout: list[str], work: Path,
        reuse: bool = False, arms: tuple[str, ...] = ARMS, train_seeds: tuple[int, ...] = (SEEDS["train"],),
        overrides: dict[str, Any] | None = None, models_dir: Path | None = None,
        test_realism: str | None = None) -> dict[str, Any]:
    """One leave-one-CT-out measurement; renders in ``work``, models in ``models_dir`` (default ``work``).

    ``test_realism`` (a preset of ``sijscan.phantom.ct.realism``, e.g. "stress"; benchmarks/stress_ct.py):
    the held-out CT is also rendered under it (same seeds, profiles and counts) and every arm is
    tested on those renders too, as ``<arm>_<preset>`` beside the plain figures.

    ``overrides`` replaces entries of the recipe (e.g. ``ct_train_n``; benchmarks/sim_to_real_nested.py);
    ``arms`` without ``phantom_only`` skips the phantom-only baseline (the nested benchmark's inner folds),
    without ``transfer`` the transfer arm (models always retrain: an arm left out keeps its folders as they are)."""
    from sijscan.phantom.ct import load_ct_case, render_ct_cohort
    from sijscan.phantom.simulate import simulate_cohort

    p = dict(MODES[mode], **(demo_recipe() if mode == "full" else {}))
    unknown = set(overrides or {}) - set(p)
    if unknown:
        raise ValueError(f"unknown recipe entries: {', '.join(sorted(unknown))}")
    p.update(overrides or {})
    models_dir = work if models_dir is None else models_dir
    MODELS.clear()
    t_all = time.perf_counter()
    load0 = os.getloadavg()
    code = _code_state()  # before anything runs: the sources as they were imported
    work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    def made(folder: Path, what: dict[str, Any], make: Any) -> Path:
        """``make()`` unless ``reuse`` and ``folder`` holds a manifest made with the same ``what``."""
        stamp = folder / "sim_to_real_made.json"
        if reuse and stamp.is_file() and json.loads(stamp.read_text()) == what:
            log.info("reusing %s", folder)
            return folder / "manifest.csv"
        manifest = Path(make())
        stamp.write_text(json.dumps(what))
        return manifest

    t = time.perf_counter()
    phantoms: dict[str, Path] = {}
    for h in holdout:  # the procedural phantom's bones are built from the real CTs: never from the held-out one
        members = sorted(c for c in cases if c != h)
        folder = work / f"phantom-{'-'.join(members)}"
        what = {"cohort": "proof", "n": p["phantom_n"], "seed": SEEDS["phantom"], "size": p["phantom_size"],
                "ct_members": members}
        phantoms[h] = made(folder, what, lambda folder=folder, members=members: simulate_cohort(
            "proof", n=p["phantom_n"], seed=SEEDS["phantom"], out_dir=folder, size=p["phantom_size"],
            fmt="png", followup=False, workers=1, overrides={"ct_members": members}))
    timings["phantom_simulate_s"] = round(time.perf_counter() - t, 1)

    loaded: dict[str, Any] = {}

    def case(c: str) -> Any:
        if c not in loaded:
            loaded[c] = load_ct_case(ct_root / c)
        return loaded[c]

    t = time.perf_counter()
    train_sets = {}
    for c in cases:
        what = {"case": c, "n": p["ct_train_n"], "seed": SEEDS["ct_train"], "size": p["ct_size"], "profile": None,
                "realism": p["ct_realism"]}
        if p["ct_variants"] > 1:  # renders made before variants existed keep their stamp (and --reuse)
            what.update(variants=p["ct_variants"], vary=list(p["ct_vary"]))
        folder = work / "ct-train" / _train_folder(c, p)
        train_sets[c] = made(folder, what, lambda c=c, folder=folder: render_ct_cohort(
            [case(c)], folder, n=p["ct_train_n"], size=p["ct_size"], seed=SEEDS["ct_train"],
            profile=None, split="train", realism=p["ct_realism"], variants=p["ct_variants"], vary=p["ct_vary"]))
    timings["ct_train_render_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    test_sets = {}
    for c in holdout:
        parts = []
        for prof in p["test_profiles"]:
            what = {"case": c, "n": p["test_n"], "seed": SEEDS["ct_test"], "size": p["ct_size"], "profile": prof}
            parts.append(made(work / "ct-test" / c / prof, what, lambda c=c, prof=prof: render_ct_cohort(
                [case(c)], work / "ct-test" / c / prof, n=p["test_n"], size=p["ct_size"], seed=SEEDS["ct_test"],
                profile=prof, split="test")))
        test_sets[c] = _combine(parts, work / "ct-test" / c / "manifest.csv")
    hard_sets = {c: _realism_test_set(c, p, work, test_realism, made, case) for c in holdout} if test_realism else {}
    timings["ct_render_test_s"] = round(time.perf_counter() - t, 1)

    folds: dict[str, Any] = {}
    for h in holdout:
        others = [c for c in cases if c != h]
        phantom = phantoms[h]
        baseline = strong = None  # the phantom-only arms: one per fold, as their phantom is
        if "phantom_only" in arms:
            baseline, secs = _train(phantom, models_dir / f"seg-phantom-only-without-{h}", p=p, augment="basic",
                                    extra=None)
            timings[f"train_phantom_only_without_{h}_s"] = round(secs, 1)
        if "phantom_strong" in arms:
            strong, secs = _train(phantom, models_dir / f"seg-phantom-strong-without-{h}", p=p, augment="strong",
                                  extra=None)
            timings[f"train_phantom_strong_without_{h}_s"] = round(secs, 1)
        extra = _combine([train_sets[c] for c in others], models_dir / f"ct-train-without-{h}.csv")
        per_seed: dict[int, dict[str, Any]] = {}
        hard_seed: dict[int, dict[str, Any]] = {}
        eval_s = 0.0
        # models always retrain (into models_dir): an arm not asked for is neither trained nor overwritten
        for s in train_seeds if "transfer" in arms else ():
            name = transfer_model_name(h, s)
            model, secs = _train(phantom, models_dir / name, p=p, augment=p["augment"], extra=extra, seed=s)
            timings[f"train_{name.removeprefix('seg-').replace('-', '_')}_s"] = round(secs, 1)
            t = time.perf_counter()
            per_seed[s] = evaluate(model, test_sets[h])
            if h in hard_sets:
                hard_seed[s] = evaluate(model, hard_sets[h])
            eval_s += time.perf_counter() - t
        t = time.perf_counter()
        folds[h] = {"trained_on_ct": others}
        if per_seed:
            folds[h]["transfer"] = per_seed[train_seeds[0]] if len(train_seeds) == 1 else pool_seeds(per_seed)
        if hard_seed:
            folds[h][f"transfer_{test_realism}"] = (hard_seed[train_seeds[0]] if len(train_seeds) == 1
                                                   else pool_seeds(hard_seed))
        for arm, model in (("phantom_only", baseline), ("phantom_strong", strong)):
            if model is not None and h in hard_sets:
                folds[h][f"{arm}_{test_realism}"] = evaluate(model, hard_sets[h])
        if baseline is not None:
            folds[h]["phantom_only"] = evaluate(baseline, test_sets[h])
        if len(per_seed) > 1:
            folds[h]["transfer_per_seed"] = {str(s): per_seed[s] for s in train_seeds}
        if strong is not None:
            folds[h]["phantom_strong"] = evaluate(strong, test_sets[h])
        timings[f"eval_{h}_s"] = round(eval_s + time.perf_counter() - t, 1)
        log.info("held out %s: %s", h, json.dumps(folds[h]))
    timings["total_s"] = round(time.perf_counter() - t_all, 1)
    return {
        "benchmark": "sim_to_real", "mode": mode, "ct_root": str(ct_root), "cases": cases, "held_out": holdout,
        "reused_renders": reuse, "test_realism": test_realism, "arms": [m for m in ARMS if m in arms],
        "data": {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()}, "seeds": SEEDS,
                 "transfer_train_seeds": list(train_seeds),
                 "phantom_cohort": "proof, its bones built from the fold's training CTs only (ct_members)",
                 "test_pose": "random per image (profile's positioning spread)",
                 "test_grades": "random per image (mNY-positive ~50%)"},
        "recipes": {"phantom_only": "unet-default, augment basic, procedural phantom only",
                    "phantom_strong": "unet-default, augment strong, procedural phantom only",
                    "transfer": f"unet-default, augment {p['augment']}, phantom + CT-route renders of the other CTs "
                                f"(realism {p['ct_realism']}, extra_weight {p['extra_weight']}"
                                + (f", {p['ct_variants']} anatomy variants per CT ({' and '.join(p['ct_vary'])})"
                                   if p["ct_variants"] > 1 else "")
                                + (f", random collimation of {p['collimate']:.0%} of the images" if p["collimate"] else "")
                                + f", border {p.get('border', 'keep')}"
                                + (" (training images filled too)" if p.get("border_in_training") else "")
                                + ")",
                    "source": "sijscan/study/demo.yaml segmenter.train (the demo's segmenter, one CT left out)"
                              if mode == "full" else "quick smoke sizes"},
        "targets": {"dice_each_structure": TARGET_DICE, "sij_box_share_inside_crop_each_joint": TARGET_INSIDE},
        "folds": folds,
        "targets_met": {h: {m: _met(f[m]) for m in ARMS if m in f} for h, f in folds.items()},
        "models": MODELS,
        "timings": timings,
        "code": code,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                    "load_start": [round(v, 2) for v in load0],
                    "load_end": [round(v, 2) for v in os.getloadavg()]},
    }


def transfer_model_name(held_out: str, seed: int) -> str:
    """Folder of a fold's transfer segmenter; seed 0 keeps the name of the runs before --train-seeds."""
    return f"seg-transfer-without-{held_out}" + ("" if seed == SEEDS["train"] else f"-seed{seed}")


def _train_folder(c: str, p: dict[str, Any]) -> str:
    """The training renders' folder of CT ``c``: recipes with other counts, realism or anatomy variants keep
    their own (the plain renders keep the name they had before realism existed, one variant the name it had
    before variants existed)."""
    name = f"{c}-n{p['ct_train_n']}" + ("" if p["ct_realism"] == "off" else f"-realism-{p['ct_realism']}")
    if p["ct_variants"] > 1:
        name += f"-v{p['ct_variants']}-" + "-".join(p["ct_vary"])
    return name


def _realism_test_set(c: str, p: dict[str, Any], work: Path, preset: str, made: Any, case: Any) -> Path:
    """The held-out CT ``c`` rendered under realism ``preset``: the plain test set's seeds, profiles, counts."""
    from sijscan.phantom.ct import render_ct_cohort

    parts = []
    for prof in p["test_profiles"]:
        folder = work / f"ct-test-{preset}" / c / prof
        what = {"case": c, "n": p["test_n"], "seed": SEEDS["ct_test"], "size": p["ct_size"], "profile": prof,
                "realism": preset}
        parts.append(made(folder, what, lambda prof=prof, folder=folder: render_ct_cohort(
            [case(c)], folder, n=p["test_n"], size=p["ct_size"], seed=SEEDS["ct_test"], profile=prof,
            split="test", realism=preset)))
    return _combine(parts, work / f"ct-test-{preset}" / c / "manifest.csv")


def _code_state() -> dict[str, Any]:
    """The commit, and a hash of the CT route's and the trainer's sources, the demo recipe and these benchmarks."""
    import hashlib
    import subprocess

    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    h = hashlib.sha256()
    files = sorted((REPO / "src/sijscan/phantom/ct").glob("*.py")) + [REPO / "src/sijscan/anatomy/train.py",
                                                                      REPO / "src/sijscan/anatomy/augment.py",
                                                                      REPO / "src/sijscan/study/demo.yaml",
                                                                      REPO / "benchmarks/sim_to_real.py",
                                                                      REPO / "benchmarks/sim_to_real_nested.py"]
    for f in files:
        if f.is_file():
            h.update(f.read_bytes())
    return {"commit": commit, "sources_sha256": h.hexdigest()[:16]}


def parse_cases(ap: argparse.ArgumentParser, a: argparse.Namespace) -> tuple[list[str], list[str]]:
    """``--cases`` and ``--holdout`` (default: every case) checked against ``--ct-root``; ap.error otherwise."""
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    holdout = cases if a.holdout is None else [c.strip() for c in a.holdout.split(",") if c.strip()]
    if len(cases) < 2 or not set(holdout) <= set(cases):
        ap.error("need >= 2 --cases and --holdout among them")
    missing = [c for c in cases if not (a.ct_root / c).is_dir()]
    if missing:
        ap.error(f"CT case folders not found under {a.ct_root}: {', '.join(missing)}")
    return cases, holdout


def parse_train_seeds(ap: argparse.ArgumentParser, text: str | None, *, quick: bool) -> tuple[int, ...]:
    """``--train-seeds`` as distinct ints in their order; None: seed 0 with ``--quick``, else FULL_TRAIN_SEEDS."""
    if text is None:
        return (SEEDS["train"],) if quick else FULL_TRAIN_SEEDS
    try:
        seeds = tuple(dict.fromkeys(int(x) for x in text.split(",") if x.strip()))
    except ValueError:
        ap.error(f"--train-seeds: comma-separated integers, got {text!r}")
    if not seeds:
        ap.error("--train-seeds: at least one seed")
    return seeds


def parse_arms(ap: argparse.ArgumentParser, text: str) -> tuple[str, ...]:
    """``--arms``: comma-separated names of :data:`ARMS`, at least one (a usage error otherwise)."""
    arms = tuple(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    bad = [x for x in arms if x not in ARMS]
    if bad or not arms:
        ap.error(f"--arms: some of {','.join(ARMS)}, got {text!r}")
    return arms


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="tiny smoke run (seconds per model)")
    size.add_argument("--full", action="store_true", help="the measurement (default)")
    ap.add_argument("--ct-root", type=Path, default=DEFAULT_CT_ROOT, help="folder of the CT case folders")
    ap.add_argument("--cases", default="001,002,003", help="comma-separated case folders under --ct-root")
    ap.add_argument("--holdout", default=None, help="cases to hold out, one fold each (default: every case)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/sim_to_real"), help="scratch folder")
    ap.add_argument("--arms", default=",".join(ARMS),
                    help=f"models to train and test, some of {','.join(ARMS)} (default all); models in --work are "
                         "always trained again, so an arm left out keeps its models there untouched")
    ap.add_argument("--train-seeds", default=None,
                    help="comma-separated training seeds of the transfer arm; with more than one, each fold's "
                         "figures are pooled over them (mean of the seeds' means; default: 0,1,2 with --full, "
                         "0 with --quick)")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse renders already in --work that were made with the same settings (models are retrained)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    cases, holdout = parse_cases(ap, a)
    seeds = parse_train_seeds(ap, a.train_seeds, quick=a.quick)
    result = run(mode="quick" if a.quick else "full", ct_root=a.ct_root, cases=cases, holdout=holdout, work=a.work,
                 reuse=a.reuse, arms=parse_arms(ap, a.arms), train_seeds=seeds)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
