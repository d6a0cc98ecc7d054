"""Scores of the classifier transfer benchmark (benchmarks/classifier_transfer.py): one model's predictions
on a held-out CT's renders (AUC with DeLong CI, mean probability per maximum grade, ECE, per-side kappa),
the pool over training seeds, the targets, and the seeds' ensemble."""
from __future__ import annotations

from typing import Any

import numpy as np

TARGETS = {"auc": 0.85, "p_grade0_max": 0.3, "p_grade4_min": 0.7}


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """AUC (DeLong CI), mean probability per max grade, ECE, per-side quadratic kappa."""
    from sklearn.metrics import cohen_kappa_score

    from sijscan.stats.calibration import calibration
    from sijscan.stats.delong import delong_ci

    y = np.array([r["label"] for r in rows])
    p = np.array([r["p"] for r in rows], float)
    out: dict[str, Any] = {"n": int(len(y)), "n_positive": int(y.sum())}
    ci = delong_ci(y_true=y, scores=p) if 0 < y.sum() < len(y) else None
    if ci is not None and np.isfinite(ci.auc):
        out["auc"], out["auc_ci"] = round(float(ci.auc), 4), [round(float(v), 4) for v in ci.ci]
    else:
        out["auc"], out["auc_ci"] = None, None
    mg = np.array([max(r["grade_left"], r["grade_right"]) for r in rows])
    out["mean_p_by_max_grade"] = {str(g): (round(float(p[mg == g].mean()), 4) if (mg == g).any() else None)
                                  for g in range(5)}
    out["n_by_max_grade"] = {str(g): int((mg == g).sum()) for g in range(5)}
    out["ece"] = round(float(calibration(y_true=y, probability=p).ece), 4)
    if rows and rows[0]["pred_left"] is not None:
        kap = {}
        for side in ("left", "right"):
            t = [r[f"grade_{side}"] for r in rows]
            q = [r[f"pred_{side}"] for r in rows]
            kap[side] = round(float(cohen_kappa_score(t, q, weights="quadratic", labels=list(range(5)))), 4)
        out["kappa"] = kap
    return out


def pool(per_seed: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Mean over seeds of each figure (what the targets are judged on), with each seed's kept."""
    seeds = sorted(per_seed)

    def mean(vals: list[Any]) -> float | None:
        v = [float(x) for x in vals if x is not None]
        return round(float(np.mean(v)), 4) if v else None

    first = per_seed[seeds[0]]
    out: dict[str, Any] = {"seeds": seeds, "auc": mean([per_seed[s]["auc"] for s in seeds]),
                           "auc_seeds": [per_seed[s]["auc"] for s in seeds],
                           "ece": mean([per_seed[s]["ece"] for s in seeds]),
                           "mean_p_by_max_grade": {g: mean([per_seed[s]["mean_p_by_max_grade"][g] for s in seeds])
                                                   for g in first["mean_p_by_max_grade"]},
                           "n_by_max_grade": first["n_by_max_grade"]}
    if "kappa" in first:
        out["kappa"] = {side: mean([per_seed[s]["kappa"][side] for s in seeds]) for side in ("left", "right")}
    return out


def met(pooled: dict[str, Any]) -> bool:
    g = pooled["mean_p_by_max_grade"]
    return bool(pooled["auc"] is not None and pooled["auc"] >= TARGETS["auc"]
                and g["0"] is not None and g["0"] <= TARGETS["p_grade0_max"]
                and g["4"] is not None and g["4"] >= TARGETS["p_grade4_min"])


def ensemble_rows(per_seed_rows: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The seeds' ensemble as sijscan runs it (:class:`sijscan.classify.networks.SeedEnsemble`: the members'
    binary logits averaged), row by row: ``p = sigmoid(mean_k logit(p_k))``, the softmax of the averaged
    two logits. Its grades (averaged cumulative logits) are not recoverable from the rows: no kappa."""
    seeds = sorted(per_seed_rows)
    p = np.clip(np.array([[r["p"] for r in per_seed_rows[s]] for s in seeds], float), 1e-7, 1 - 1e-7)
    mean_logit = np.log(p / (1 - p)).mean(axis=0)
    p_ens = 1.0 / (1.0 + np.exp(-mean_logit))
    return [dict(r, p=float(q), decision=None, pred_left=None, pred_right=None)
            for r, q in zip(per_seed_rows[seeds[0]], p_ens)]
