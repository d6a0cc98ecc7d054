"""Two models on the same cases, per cohort and pooled: the paper's Table 2 with paired tests.

Per block (each cohort, plus "all" when there are several): both models' summaries on shared
(paired) stratified bootstrap resamples, DeLong's test of the AUCs with the CI of the AUC
difference from the DeLong covariance, McNemar's test on which cases each model got right at
its own cut-off, and paired-bootstrap CIs of the balanced accuracy, sensitivity and specificity
differences. Differences are always model B minus model A.
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sijscan._progress import progress_bar
from sijscan.evaluate import figures
from sijscan.stats.bootstrap import Resampler, percentile_ci
from sijscan.stats.cutoff import CutoffSpec, resolve_cutoff
from sijscan.stats.delong import delong_test
from sijscan.evaluate.errors import KeyMismatchError, list_some
from sijscan.stats.mcnemar import mcnemar_paired
from sijscan.stats.metrics import decide
from sijscan.evaluate.predictions import load_dataset, load_manifests
from sijscan.evaluate.report import Report, fmt_ci, fmt_p, markdown_table, write_json
from sijscan.evaluate.summary import summarise

log = logging.getLogger(__name__)

DIFF_METRICS = ("balanced_accuracy", "sensitivity", "specificity")
TABLE_HEADERS = ["Cohort", "n (% positive)", "Model", "AUC (95% CI)", "Balanced accuracy (95% CI)",
                 "Sensitivity (95% CI)", "Specificity (95% CI)", "DeLong p", "McNemar p"]


def pair_tables(table_a: pd.DataFrame, table_b: pd.DataFrame) -> pd.DataFrame:
    """One row per image with ``probability_a`` and ``probability_b``; the two files must cover the same images."""
    a = table_a.set_index("image")
    b = table_b.set_index("image")
    only_a = sorted(set(a.index) - set(b.index))
    only_b = sorted(set(b.index) - set(a.index))
    if only_a or only_b:
        parts = []
        if only_a:
            parts.append(f"only in A: {list_some([Path(x).name for x in only_a])}")
        if only_b:
            parts.append(f"only in B: {list_some([Path(x).name for x in only_b])}")
        raise KeyMismatchError("the two prediction files cover different images; " + "; ".join(parts))
    out = a.copy()
    out["probability_b"] = b.loc[a.index, "probability"].to_numpy()
    return out.rename(columns={"probability": "probability_a"}).reset_index()


def compare_block(*, y: np.ndarray, pa: np.ndarray, pb: np.ndarray, cut_a: CutoffSpec, cut_b: CutoffSpec,
                  n_bootstrap: int, seed: int) -> dict[str, Any]:
    """Both summaries, DeLong test, McNemar test and paired-bootstrap differences for one block."""
    rs = Resampler(y_true=y, n_resamples=n_bootstrap, seed=seed)
    sa = summarise(y_true=y, probability=pa, cutoff=cut_a, resampler=rs)
    sb = summarise(y_true=y, probability=pb, cutoff=cut_b, resampler=rs)
    dl = delong_test(y_true=y, scores_a=pa, scores_b=pb)
    mc = mcnemar_paired(y_true=y, decision_a=decide(pa, cut_a.cutoff), decision_b=decide(pb, cut_b.cutoff))
    out: dict[str, Any] = {"n": sa["n"], "n_positive": sa["n_positive"], "auc_a": sa["auc"], "auc_b": sb["auc"],
                           "auc_difference": dl.difference, "auc_difference_ci": list(dl.difference_ci),
                           "auc_difference_ci_method": "Wald, DeLong covariance",
                           "delong_z": dl.z, "delong_p": dl.p}
    for key, summary in (("auc_a", sa), ("auc_b", sb)):
        if "auc_reason" in summary:
            out[f"{key}_reason"] = summary["auc_reason"]
    if dl.reason:
        for k in ("delong_z", "delong_p", "auc_difference", "auc_difference_ci"):
            out[f"{k}_reason"] = dl.reason
    out.update({"mcnemar_p": mc.p, "mcnemar_method": mc.method, "mcnemar_statistic": mc.statistic,
                "mcnemar_a_right_b_wrong": mc.b, "mcnemar_a_wrong_b_right": mc.c})
    boot_a, boot_b = rs.at_cutoff(pa, cut_a.cutoff), rs.at_cutoff(pb, cut_b.cutoff)
    for k in DIFF_METRICS:
        out[f"{k}_difference"] = sb[k] - sa[k]
        why = sa.get(f"{k}_reason") or sb.get(f"{k}_reason")
        if why:
            out[f"{k}_difference_reason"] = why
        ci = percentile_ci(boot_b[k] - boot_a[k])
        out[f"{k}_difference_ci"] = ci.as_list()
        if ci.reason:
            out[f"{k}_difference_ci_reason"] = ci.reason
    out["difference_direction"] = "model B minus model A"
    out["a"], out["b"] = sa, sb
    return out


def compare_models(*, predictions_a: str | Path, predictions_b: str | Path, manifests: list[str | Path],
                   name_a: str = "A", name_b: str = "B", cutoff_a: float | None = None,
                   cutoff_b: float | None = None, model_a: str | Path | None = None,
                   model_b: str | Path | None = None, split: str | None = None, n_bootstrap: int = 1000,
                   seed: int = 0, out_dir: str | Path | None = None, command_line: str | None = None,
                   progress: bool | None = None) -> dict[str, Any]:
    """Table-2-style comparison of two models per cohort (cohort column, else one per manifest file).

    ``progress``: an n/N bar over the cohorts (None: in a terminal only, see :mod:`sijscan._progress`)."""
    man = load_manifests(list(manifests))
    da = load_dataset(predictions=predictions_a, manifests=manifests, split=split, manifest_table=man)
    db = load_dataset(predictions=predictions_b, manifests=manifests, split=split, manifest_table=man)
    table = pair_tables(da.table, db.table)
    cut_a = resolve_cutoff(cutoff=cutoff_a, model_dir=model_a)
    cut_b = resolve_cutoff(cutoff=cutoff_b, model_dir=model_b)
    cohorts = list(pd.unique(table["cohort"].astype(str)))  # in manifest order
    blocks = [(c, (table["cohort"].astype(str) == c).to_numpy()) for c in cohorts]
    if len(cohorts) > 1:
        pooled = "all" if "all" not in cohorts else "all (pooled)"
        blocks.append((pooled, np.ones(len(table), dtype=bool)))
    y_all = table["label"].to_numpy(dtype=int)
    pa_all = table["probability_a"].to_numpy(dtype=float)
    pb_all = table["probability_b"].to_numpy(dtype=float)
    result: dict[str, Any] = {"name_a": name_a, "name_b": name_b, "cohorts": {}}
    with progress_bar(total=len(blocks), desc="compare (bootstrap, DeLong)", enabled=progress, unit="cohort") as bar:
        for i, (name, mask) in enumerate(blocks):
            result["cohorts"][name] = compare_block(y=y_all[mask], pa=pa_all[mask], pb=pb_all[mask], cut_a=cut_a,
                                                    cut_b=cut_b, n_bootstrap=n_bootstrap, seed=seed + i)
            bar.update(1)
    result["warnings"] = [f"{n}: {c.warning}" for n, c in ((name_a, cut_a), (name_b, cut_b)) if c.warning]
    result["warnings"] += [f"{name_a}: {x}" for x in da.info["notes"]] + [f"{name_b}: {x}" for x in db.info["notes"]]
    result["data"] = {"a": da.info, "b": db.info, "split": split}
    result["bootstrap"] = {"n_resamples": n_bootstrap, "seed": seed,
                           "note": "block i uses seed + i; both models share the resamples (paired)"}
    result["command"] = command_line
    if out_dir is not None:
        _write(Path(out_dir), result=result, table=table, blocks=blocks)
    return result


def table2_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for cohort, blk in result["cohorts"].items():
        size = f"{blk['n']} ({100.0 * blk['n_positive'] / blk['n']:.0f}%)"
        for j, (key, name) in enumerate((("a", result["name_a"]), ("b", result["name_b"]))):
            s = blk[key]
            rows.append([cohort if j == 0 else "", size if j == 0 else "", name, fmt_ci(s["auc"], s["auc_ci"]),
                         fmt_ci(s["balanced_accuracy"], s["balanced_accuracy_ci"]),
                         fmt_ci(s["sensitivity"], s["sensitivity_ci"]), fmt_ci(s["specificity"], s["specificity_ci"]),
                         fmt_p(blk["delong_p"]) if j == 0 else "", fmt_p(blk["mcnemar_p"]) if j == 0 else ""])
    return rows


def table2_markdown(result: dict[str, Any]) -> str:
    """The Table-2-like comparison as Markdown (also what the CLI prints)."""
    return markdown_table(TABLE_HEADERS, table2_rows(result))


def _write_csv(path: Path, result: dict[str, Any]) -> None:
    cols = ["cohort", "n", "n_positive", "model"]
    metrics = ("auc", "balanced_accuracy", "sensitivity", "specificity")
    for m in metrics:
        cols += [m, f"{m}_ci_low", f"{m}_ci_high"]
    cols += ["cutoff", "delong_p", "mcnemar_p", "mcnemar_method"]

    def r4(x: Any) -> Any:
        return "" if x is None or not np.isfinite(x) else round(float(x), 4)

    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for cohort, blk in result["cohorts"].items():
            for key, name in (("a", result["name_a"]), ("b", result["name_b"])):
                s = blk[key]
                row: list[Any] = [cohort, blk["n"], blk["n_positive"], name]
                for m in metrics:
                    row += [r4(s[m]), r4(s[f"{m}_ci"][0]), r4(s[f"{m}_ci"][1])]
                p_dl = blk["delong_p"]
                row += [r4(s["cutoff"]), "" if not np.isfinite(p_dl) else f"{p_dl:.3g}", f"{blk['mcnemar_p']:.3g}",
                        blk["mcnemar_method"]]
                w.writerow(row)


def _write(out: Path, *, result: dict[str, Any], table: pd.DataFrame, blocks: list[tuple[str, np.ndarray]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    md = table2_markdown(result)
    (out / "table2.md").write_text(md + "\n", encoding="utf-8")
    _write_csv(out / "table2.csv", result)
    write_json(out / "comparison.json", result)
    rep = Report(title=f"sijscan comparison: {result['name_a']} (A) vs {result['name_b']} (B)")
    for w in result["warnings"]:
        rep.para(f"WARNING: {w}")
    rep.heading("Table 2")
    rep.table(TABLE_HEADERS, table2_rows(result))
    rep.para("CIs: 95% stratified percentile bootstrap. DeLong p: two-sided test of equal AUCs (Sun & Xu fast "
             "algorithm). McNemar p: paired correctness at each model's cut-off (method per cohort in "
             "comparison.json).")
    rep.heading("Differences (B - A)")
    rows = []
    for cohort, blk in result["cohorts"].items():
        rows.append([cohort, fmt_ci(blk["auc_difference"], blk["auc_difference_ci"]),
                     *(fmt_ci(blk[f"{k}_difference"], blk[f"{k}_difference_ci"]) for k in DIFF_METRICS),
                     blk["mcnemar_method"]])
    rep.table(["Cohort", "AUC diff (DeLong CI)", "Bal. acc. diff (paired bootstrap)", "Sensitivity diff",
               "Specificity diff", "McNemar method"], rows)
    rep.heading("ROC curves")
    y_all = table["label"].to_numpy(dtype=int)
    for i, (cohort, mask) in enumerate(blocks):
        blk = result["cohorts"][cohort]
        curves = [figures.RocCurve(result["name_a"], y_all[mask], table["probability_a"].to_numpy()[mask], blk["auc_a"]),
                  figures.RocCurve(result["name_b"], y_all[mask], table["probability_b"].to_numpy()[mask], blk["auc_b"])]
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in cohort)
        path = figures.roc_figure(curves=curves, path=out / f"roc_{i:02d}_{safe}.png", title=f"ROC: {cohort}")
        rep.image(path, f"ROC curves, {cohort}")
    if result["command"]:
        rep.heading("Command")
        rep.code(result["command"])
    rep.write(out)
