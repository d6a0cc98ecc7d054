"""Classifier transfer benchmark (issue 22): does the classifier learn sacroiliitis or the simulator?

Leave one real CT out (``../shared/real-ct/pengwin/00N``): train the anatomy-aware (SIJ crop) and
standard (whole radiograph) classifiers WITHOUT that CT's anatomy, test them on CT-route radiographs
of it (random 3-D pose, hospital profile, body, gas and per-side grades per radiograph), and on an
external procedural cohort (``gespic``). Every procedural cohort of a fold is built from the other
CTs' bone shapes only (``ct_members``), so the held-out CT is in no training image.

Arms: ``procedural_only`` (recipe ``cpu`` on the procedural ``proof`` cohort) and the transfer
candidates (benchmarks/classifier_candidates.py, each fixed with its reason before its first run).

``--full`` chooses the transfer recipe per held-out CT by an inner leave-one-CT-out over the other
two CTs only (score: mean inner AUC of the anatomy-aware model on the inner held-out CT's renders;
the incumbent ``CANDIDATES[INCUMBENT]`` keeps ties within ``TIE_MARGIN``), then trains the chosen
recipe and ``procedural_only`` with each seed of ``--train-seeds`` on the outer fold and pools them.

Reported per held-out CT, arm and model: AUC with its DeLong 95% CI, mean probability per maximum
grade (0-4), ECE (10 bins, raw probability), per-side quadratic weighted kappa of the grade head and
the phantom gespic AUC; pooled over seeds = mean of the seeds' figures, each seed kept, and the seeds'
ensemble (``ct_ensemble``: their logits averaged, as ``classifiers.ensemble`` runs it). Crops are
cut on the TRUE label maps (``--crop-from-mask``): this measures the classifier, not the segmenter.
Prints ONE JSON line on stdout (logs on stderr).

    PYTHONPATH=src python benchmarks/classifier_transfer.py --full --work /tmp/ct-transfer > out.json
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

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CT_ROOT = REPO.parent / "shared" / "real-ct" / "pengwin"
log = logging.getLogger("classifier_transfer")

MODES: dict[str, dict[str, Any]] = {
    # proc: procedural training cohort (proof); ct_train: renders per training CT; test: renders of the
    # held-out CT; ext: external procedural test cohort (gespic)
    "quick": dict(proc_n=24, proc_size=256, ct_train_n=6, ct_size=256, test_n=8, ext_n=8, epochs=1),
    "full": dict(proc_n=400, proc_size=1024, ct_train_n=100, ct_size=1024, test_n=90, ext_n=150, epochs=None),
}
SEEDS = {"proc": 11, "ct_train": 1, "ct_test": 2, "ext": 3}
CT_VAL_EVERY = 7
"""Every 7th CT-route training render (per CT) is a validation row: the cut-off and temperature are
chosen on procedural and real-anatomy renders together."""


def _sibling(name: str) -> Any:
    """A module of this folder (benchmarks/ is no package), loaded by path."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


_cands = _sibling("classifier_candidates")
_scores = _sibling("classifier_scores")
score, pool, met, ensemble_rows = _scores.score, _scores.pool, _scores.met, _scores.ensemble_rows
CANDIDATES: dict[str, dict[str, Any]] = _cands.CANDIDATES  # the recipes, each with its reason
INCUMBENT: str = _cands.INCUMBENT
DEFAULT_CANDIDATES: tuple[str, ...] = _cands.DEFAULT_CANDIDATES
TIE_MARGIN = 0.005
TARGETS = _scores.TARGETS


# --- data -------------------------------------------------------------------------------------------


def _ct_dirs(ct_root: Path, cases: list[str]) -> dict[str, Path]:
    dirs = {c: ct_root / c for c in cases}
    missing = [str(d) for d in dirs.values() if not d.is_dir()]
    if missing:
        raise SystemExit(f"CT case folder(s) not found: {', '.join(missing)}")
    return dirs


def procedural(work: Path, *, cohort: str, members: list[str], p: dict[str, Any], n: int, seed: int,
               vendor_spread: float = 0.0) -> Path:
    """A procedural cohort built from ``members``' bone shapes only (cached by its parameters), its
    patients' imaging chains spread by ``vendor_spread`` (sijscan.phantom.vendor)."""
    from sijscan.phantom.simulate import simulate_cohort

    spread = f"-vs{vendor_spread:g}" if vendor_spread else ""
    out = work / f"proc-{cohort}-{'-'.join(sorted(members))}-n{n}-s{p['proc_size']}-seed{seed}{spread}"
    manifest = out / "manifest.csv"
    if manifest.is_file():
        return manifest
    return Path(simulate_cohort(cohort, n=n, seed=seed, out_dir=out, size=p["proc_size"], fmt="png",
                                workers=int(os.environ.get("SIJSCAN_WORKERS", "2")),
                                overrides={"ct_members": sorted(members), "vendor_spread": float(vendor_spread)}))


def variant_suffix(variants: int, vary: tuple[str, ...]) -> str:
    """A render set's name suffix: '' (as scanned), '-v10' (proportions: run 3's name), '-v10-density'."""
    if variants == 1:
        return ""
    return f"-v{variants}" + ("" if tuple(vary) == ("proportions",) else "".join(f"-{v}" for v in vary))


def ct_renders(work: Path, *, case: str, case_dir: Path, n: int, size: int, seed: int, split: str,
               variants: int = 1, vary: tuple[str, ...] = ("proportions",)) -> Path:
    """``n`` CT-route renders of one case (cached), of ``variants`` anatomy variants varying ``vary``;
    for 'train', every CT_VAL_EVERY-th row is 'val'."""
    from sijscan.io.manifest import read_manifest, write_manifest
    from sijscan.phantom.ct import render_ct_cohort

    out = work / f"ct-{case}-{split}-n{n}-s{size}-seed{seed}{variant_suffix(variants, vary)}"
    manifest = out / "manifest.csv"
    if not manifest.is_file():
        render_ct_cohort([case_dir], out, n=n, size=size, seed=seed, profile=None, split=split, variants=variants,
                         vary=vary, workers=int(os.environ.get("SIJSCAN_WORKERS", "1")))
        if split == "train":
            df = read_manifest(manifest)
            df.loc[df.index % CT_VAL_EVERY == CT_VAL_EVERY - 1, "split"] = "val"
            write_manifest(df, manifest)
    return manifest


def combine(manifests: list[Path], out: Path) -> Path:
    import pandas as pd

    from sijscan.io import read_manifest
    from sijscan.io.manifest import write_manifest

    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_manifest(pd.concat([read_manifest(m) for m in manifests], ignore_index=True), out)


# --- training ---------------------------------------------------------------------------------------


def recipe_for(candidate: str, p: dict[str, Any]):
    """The demo's classifier recipe (``cpu``), with what the candidate asks (augmentation, anatomy head,
    grade pool, input size, epochs)."""
    import dataclasses

    from sijscan.classify.recipe import get_recipe, with_augment

    c = CANDIDATES[candidate]
    rec = get_recipe("cpu", arch=c.get("arch"))
    rec = with_augment(rec, appearance=c["appearance"], elastic=c["elastic"], tile_mix=c.get("joint_mix", False))
    rec = dataclasses.replace(rec, domain_weight=float(c.get("domain_weight", 0.0)),
                              grade_pool=c.get("grade_pool", "global"))
    if "view_hw" in c:
        h, w = c["view_hw"]
        rec = dataclasses.replace(rec, stages=tuple(dataclasses.replace(s, height=h, width=w) for s in rec.stages))
    epochs = p["epochs"] if p["epochs"] is not None else c.get("epochs")
    if epochs is not None:
        stages = tuple(dataclasses.replace(s, head_epochs=0, all_epochs=epochs) for s in rec.stages)
        rec = dataclasses.replace(rec, stages=stages)
    return rec


def train(*, candidate: str, view: str, proc: Path, extra: Path | None, out: Path, seed: int,
          p: dict[str, Any]) -> tuple[Path, float]:
    from sijscan.classify.train import train_classifier

    model = out / "model.json"
    if model.is_file():
        return out, 0.0
    weight = CANDIDATES[candidate]["extra_weight"]
    t = time.perf_counter()
    train_classifier(manifest=proc, view=view, out_dir=out, recipe=recipe_for(candidate, p),
                     use_mask_crops=(view == "sij"), init="random", seed=seed, accelerator="cpu",
                     extra_manifest=extra if weight else None, extra_weight=weight or 0.5, progress=False,
                     crop=CANDIDATES[candidate]["crop"] if view == "sij" else "box")
    return out, time.perf_counter() - t


# --- evaluation -------------------------------------------------------------------------------------


def predict(model_dir: Path, manifest: Path, *, view: str) -> list[dict[str, Any]]:
    """Per row: probability, predicted grades (patient's sides) and the truth (crops on the true masks,
    cut as the model's card says)."""
    from sijscan.classify.data import crop_from_mask, read_image
    from sijscan.classify.predict import classify_views, load_classifier
    from sijscan.io import read_manifest

    model = load_classifier(model_dir)
    df = read_manifest(manifest)
    views = []
    for _, row in df.iterrows():
        img = read_image(row["image"])
        views.append(crop_from_mask(img, row, crop=model.recipe.crop) if view == "sij" else img)
    preds = classify_views(model, views, batch_size=16)
    rows = []
    for (_, row), pr in zip(df.iterrows(), preds):
        g = pr.grades or {}
        rows.append({"label": int(row["label"]), "grade_left": int(row["grade_left"]),
                     "grade_right": int(row["grade_right"]), "p": pr.probability, "decision": pr.decision,
                     "pred_left": g.get("left"), "pred_right": g.get("right")})
    return rows


# --- folds ------------------------------------------------------------------------------------------


def ct_train_n(candidate: str, p: dict[str, Any]) -> int:
    """CT-route training renders per training CT for ``candidate`` (the mode's, times ``ct_renders_x``)."""
    return int(p["ct_train_n"] * CANDIDATES[candidate].get("ct_renders_x", 1))


def ct_variants(candidate: str) -> tuple[int, tuple[str, ...]]:
    """Anatomy variants per training CT for ``candidate`` (1: the CT as scanned) and what they vary."""
    c = CANDIDATES[candidate]
    return int(c.get("ct_variants", 1)), tuple(c.get("ct_vary", ("proportions",)))


def ct_train_size(candidate: str, p: dict[str, Any]) -> int:
    """The CT-route training renders' size for ``candidate`` (the mode's unless it names ``ct_size``; the
    held-out CT's test renders keep the mode's size)."""
    return int(CANDIDATES[candidate].get("ct_size", p["ct_size"]))


def proc_spread(candidate: str) -> float:
    """The procedural training cohort's ``vendor_spread`` for ``candidate`` (0: its sites' own chains)."""
    return float(CANDIDATES[candidate].get("vendor_spread", 0.0))


def fold_data(*, work: Path, dirs: dict[str, Path], held_out: str, train_cases: list[str], p: dict[str, Any],
              external: bool, ct_n: int | None = None, variants: int = 1,
              vary: tuple[str, ...] = ("proportions",), vendor_spread: float = 0.0,
              ct_size: int | None = None) -> dict[str, Path | None]:
    """The renders of one fold (made once, then read from ``work``); ``ct_n`` CT-route renders per
    training CT (default: the mode's) of ``variants`` anatomy variants each, ``ct_size`` px (default: the
    mode's; the test renders are always of the CT as scanned, at the mode's size); ``vendor_spread``: the
    procedural training cohort's (the external gespic keeps its one imaging chain)."""
    n = int(ct_n or p["ct_train_n"])
    size = int(ct_size or p["ct_size"])
    proc = procedural(work, cohort="proof", members=train_cases, p=p, n=p["proc_n"], seed=SEEDS["proc"],
                      vendor_spread=vendor_spread)
    cts = [ct_renders(work, case=c, case_dir=dirs[c], n=n, size=size, seed=SEEDS["ct_train"],
                      split="train", variants=variants, vary=vary) for c in train_cases]
    suffix = (("" if n == p["ct_train_n"] else f"-n{n}") + ("" if size == p["ct_size"] else f"-s{size}")
              + variant_suffix(variants, vary))
    extra = combine(cts, work / f"ct-train-{'-'.join(sorted(train_cases))}{suffix}.csv")
    test = ct_renders(work, case=held_out, case_dir=dirs[held_out], n=p["test_n"], size=p["ct_size"],
                      seed=SEEDS["ct_test"], split="test")
    ext = procedural(work, cohort="gespic", members=train_cases, p=p, n=p["ext_n"], seed=SEEDS["ext"]) if external else None
    return {"proc": proc, "extra": extra, "test": test, "ext": ext}


def fold(*, work: Path, dirs: dict[str, Path], held_out: str, train_cases: list[str], p: dict[str, Any],
         candidates: list[str], seeds: list[int], views: tuple[str, ...], external: bool) -> dict[str, Any]:
    """Train each candidate (and seed, view) without ``held_out``; test on its renders (and gespic).
    ``procedural_only`` (today's recipe, the baseline) trains the anatomy-aware model only."""
    out: dict[str, Any] = {}
    for cand in candidates:
        n_variants, vary = ct_variants(cand)
        data = fold_data(work=work, dirs=dirs, held_out=held_out, train_cases=train_cases, p=p, external=external,
                         ct_n=ct_train_n(cand, p), variants=n_variants, vary=vary,
                         vendor_spread=proc_spread(cand), ct_size=ct_train_size(cand, p))
        proc, extra, test, ext = data["proc"], data["extra"], data["test"], data["ext"]
        out[cand] = {}
        for view in (("sij",) if cand == "procedural_only" else views):
            model_name = "anatomy" if view == "sij" else "standard"
            per_seed, per_seed_ext, secs, rows, rows_ext = {}, {}, [], {}, {}
            for s in seeds:
                folder = work / "models" / f"{held_out}-{'-'.join(sorted(train_cases))}" / f"{cand}-{view}-seed{s}"
                folder, t = train(candidate=cand, view=view, proc=proc, extra=extra, out=folder, seed=s, p=p)
                secs.append(round(t, 1))
                rows[s] = predict(folder, test, view=view)
                per_seed[s] = score(rows[s])
                if ext is not None:
                    rows_ext[s] = predict(folder, ext, view=view)
                    per_seed_ext[s] = score(rows_ext[s])
                log.info("held out %s, %s %s seed %d: AUC %s, mean p by max grade %s", held_out, cand, model_name, s,
                         per_seed[s]["auc"], per_seed[s]["mean_p_by_max_grade"])
            entry = {"ct": pool(per_seed), "ct_per_seed": per_seed, "train_s": secs}
            entry["ct"]["target_met"] = met(entry["ct"])
            if len(seeds) > 1:  # the seeds' ensemble (sijscan's classifiers.ensemble), from the same predictions
                entry["ct_ensemble"] = score(ensemble_rows(rows))
                entry["ct_ensemble"]["target_met"] = met(entry["ct_ensemble"])
            if ext is not None:
                entry["gespic"] = pool(per_seed_ext)
                if len(seeds) > 1:
                    entry["gespic_ensemble"] = score(ensemble_rows(rows_ext))
            out[cand][model_name] = entry
    return out


def choose(scores: dict[str, float], *, incumbent: str = INCUMBENT, margin: float = TIE_MARGIN) -> str:
    """The best-scoring candidate; the incumbent keeps the choice unless beaten by more than ``margin``."""
    best = max(scores, key=lambda k: scores[k])
    return incumbent if incumbent in scores and scores[best] - scores[incumbent] <= margin else best


def prepare(*, mode: str, ct_root: Path, cases: list[str], work: Path, nested: bool,
            candidates: list[str]) -> None:
    """Render every fold's data (outer, and inner when nested) once, so folds can then run in parallel."""
    p = MODES[mode]
    dirs = _ct_dirs(ct_root, cases)
    for k in cases:
        others = [c for c in cases if c != k]
        needs = {(ct_train_n(c, p), ct_variants(c), proc_spread(c), ct_train_size(c, p)) for c in candidates}
        for n, (v, vary), spread, size in sorted(needs):
            fold_data(work=work, dirs=dirs, held_out=k, train_cases=others, p=p, external=True, ct_n=n, variants=v,
                      vary=vary, vendor_spread=spread, ct_size=size)
            for j in others if nested and len(others) >= 2 else ():
                fold_data(work=work, dirs=dirs, held_out=j, train_cases=[c for c in others if c != j], p=p,
                          external=False, ct_n=n, variants=v, vary=vary, vendor_spread=spread, ct_size=size)


def run(*, mode: str, ct_root: Path, cases: list[str], work: Path, seeds: list[int], nested: bool,
        candidates: list[str], held_out: list[str] | None = None) -> dict[str, Any]:
    p = MODES[mode]
    dirs = _ct_dirs(ct_root, cases)
    result: dict[str, Any] = {"folds": {}}
    for k in held_out or cases:
        others = [c for c in cases if c != k]
        chosen, inner = candidates[-1], {}
        if nested and len(others) >= 2:
            scores = {}
            for cand in candidates:
                aucs = []
                for j in others:
                    rest = [c for c in others if c != j]
                    r = fold(work=work, dirs=dirs, held_out=j, train_cases=rest, p=p, candidates=[cand],
                             seeds=[seeds[0]], views=("sij",), external=False)
                    aucs.append(r[cand]["anatomy"]["ct"]["auc"] or 0.0)
                scores[cand] = round(float(np.mean(aucs)), 4)
                inner[cand] = {"inner_aucs": dict(zip(others, aucs)), "score": scores[cand]}
            chosen = choose(scores)
        arms = sorted({"procedural_only", chosen} if nested else {"procedural_only", *candidates})
        outer = fold(work=work, dirs=dirs, held_out=k, train_cases=others, p=p, candidates=arms, seeds=seeds,
                     views=("sij", "full"), external=True)
        result["folds"][k] = {"chosen": chosen, "inner": inner, "arms": outer}
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="renders and models (reused when present)")
    ap.add_argument("--ct-root", type=Path, default=DEFAULT_CT_ROOT)
    ap.add_argument("--cases", default="001,002,003")
    ap.add_argument("--held-out", default=None, help="only these outer folds (comma-separated); default all")
    ap.add_argument("--quick", action="store_true", help="smoke test: tiny images, one epoch")
    ap.add_argument("--full", action="store_true", help="the measurement (default)")
    ap.add_argument("--train-seeds", default="0,1,2")
    ap.add_argument("--no-nested", action="store_true",
                    help="skip the inner recipe choice: train every candidate on the outer folds")
    ap.add_argument("--candidates", default=",".join(DEFAULT_CANDIDATES))
    ap.add_argument("--prepare-only", action="store_true",
                    help="render every fold's data into --work and stop (then run folds in parallel with --held-out)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    mode = "quick" if a.quick else "full"
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    cands = [c.strip() for c in a.candidates.split(",") if c.strip()]
    bad = [c for c in cands if c not in CANDIDATES]
    if bad:
        raise SystemExit(f"unknown candidate(s) {bad}; known: {', '.join(CANDIDATES)}")
    t0 = time.perf_counter()
    if a.prepare_only:
        prepare(mode=mode, ct_root=a.ct_root, cases=cases, work=a.work, nested=not a.no_nested,
                candidates=["procedural_only", *cands])
        return 0
    res = run(mode=mode, ct_root=a.ct_root, cases=cases, work=a.work,
              seeds=[int(s) for s in a.train_seeds.split(",")], nested=not a.no_nested, candidates=cands,
              held_out=[c.strip() for c in a.held_out.split(",")] if a.held_out else None)
    import torch

    from sijscan import __version__

    res.update({"benchmark": "classifier_transfer", "mode": mode, "recipe": MODES[mode], "candidates": CANDIDATES,
                "incumbent": INCUMBENT, "targets": TARGETS, "seeds_data": SEEDS, "train_seeds": a.train_seeds,
                "sijscan_version": __version__, "torch": torch.__version__, "machine": platform.processor() or
                platform.machine(), "cpus": os.cpu_count(), "wall_s": round(time.perf_counter() - t0, 1),
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
