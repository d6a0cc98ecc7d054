"""PNG figures (matplotlib, Agg backend). Each function writes one file and returns its path."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sijscan.stats.calibration import Calibration


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


@dataclass
class RocCurve:
    name: str
    y_true: np.ndarray
    scores: np.ndarray
    auc: float
    band_fpr: np.ndarray | None = None
    band_low: np.ndarray | None = None
    band_high: np.ndarray | None = None


def roc_points(*, y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(np.asarray(y_true).astype(int), np.asarray(scores, dtype=float))
    return fpr, tpr


def roc_figure(*, curves: list[RocCurve], path: Path, title: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    for i, c in enumerate(curves):
        color = f"C{i}"
        if len(np.unique(c.y_true)) == 2:
            fpr, tpr = roc_points(y_true=c.y_true, scores=c.scores)
            ax.plot(fpr, tpr, color=color, lw=2, label=f"{c.name} (AUC {c.auc:.3f})")
        if c.band_fpr is not None and c.band_low is not None and np.isfinite(c.band_low).all():
            ax.fill_between(c.band_fpr, c.band_low, c.band_high, color=color, alpha=0.2, step="post",
                            label=f"{c.name} 95% bootstrap band")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance")
    if not any(len(np.unique(c.y_true)) == 2 for c in curves):
        ax.text(0.5, 0.5, "ROC undefined: only one class", ha="center", va="center")
    ax.set(xlabel="1 - specificity (false positive rate)", ylabel="sensitivity (true positive rate)",
           xlim=(0, 1), ylim=(0, 1.01), title=title)
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def confusion_figure(*, matrix: list[list[int]], path: Path, title: str) -> Path:
    plt = _plt()
    m = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.imshow(m, cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(m[i, j]), ha="center", va="center",
                    color="white" if m[i, j] > m.max() / 2 else "black", fontsize=14)
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["negative", "positive"],
           yticklabels=["negative", "positive"], xlabel="predicted", ylabel="true (mNY)", title=title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def histogram_figure(*, y_true: np.ndarray, probability: np.ndarray, cutoff: float, path: Path, title: str) -> Path:
    plt = _plt()
    y = np.asarray(y_true).astype(int)
    p = np.asarray(probability, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    bins = np.linspace(0, 1, 21)
    for cls, name in ((0, "negative"), (1, "positive")):
        ax.hist(p[y == cls], bins=bins, alpha=0.6, color=f"C{cls}", label=f"true {name} (n={int((y == cls).sum())})")
    ax.axvline(cutoff, color="black", ls="--", lw=1, label=f"cut-off {cutoff:.3f}")
    ax.set(xlabel="predicted probability", ylabel="cases", xlim=(0, 1), title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def calibration_figure(*, cal: Calibration, path: Path, title: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    mp = np.asarray(cal.mean_predicted, dtype=float)
    fr = np.asarray(cal.fraction_positive, dtype=float)
    ok = np.isfinite(mp)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    ax.plot(mp[ok], fr[ok], marker="o", color="C0",
            label=f"model (ECE {cal.ece:.3f}, {cal.n_bins} equal-width bins)")
    ax.set(xlabel="mean predicted probability", ylabel="observed fraction positive", xlim=(0, 1), ylim=(0, 1),
           title=title)
    ax.set_aspect("equal")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


@dataclass
class ForestRow:
    """One evaluation set of the summary figure: both models' AUC with 95% CIs and their difference."""

    name: str
    auc_a: float
    auc_a_ci: tuple[float, float]
    auc_b: float
    auc_b_ci: tuple[float, float]
    difference: float
    """B minus A"""
    difference_ci: tuple[float, float]
    p: float


def _finite(*values: float) -> bool:
    return all(v is not None and np.isfinite(float(v)) for v in values)


def _p_text(p: float) -> str:
    if not _finite(p):
        return "p n/a"
    return "p < 0.0001" if p < 1e-4 else (f"p = {p:.4f}" if p < 0.01 else f"p = {p:.3f}")


def auc_forest_figure(*, rows: list[ForestRow], name_a: str, name_b: str, path: Path, title: str,
                      note: str = "") -> Path:
    """The study's summary: per set, both AUCs with 95% CIs (left) and B - A with its CI (right, forest plot).

    A row whose value is not finite is drawn without that marker (and labelled 'n/a')."""
    plt = _plt()
    n = max(1, len(rows))
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 1.1 + 0.55 * n), dpi=100, sharey=True,
                                 gridspec_kw={"width_ratios": [1.2, 1.0]})
    ys = np.arange(len(rows))[::-1].astype(float)
    for y, r in zip(ys, rows):
        for off, value, ci, color, marker in ((0.14, r.auc_a, r.auc_a_ci, "C0", "s"), (-0.14, r.auc_b, r.auc_b_ci, "C1", "o")):
            if _finite(value):
                lo, hi = ci if _finite(*ci) else (value, value)
                ax.errorbar(value, y + off, xerr=[[value - lo], [hi - value]], fmt=marker, color=color, capsize=3,
                            ms=6, lw=1.5)
        if _finite(r.difference):
            lo, hi = r.difference_ci if _finite(*r.difference_ci) else (r.difference, r.difference)
            bx.errorbar(r.difference, y, xerr=[[r.difference - lo], [hi - r.difference]], fmt="D", color="k",
                        capsize=3, ms=6, lw=1.5)
            p = _p_text(r.p)
            bx.annotate(f"{r.difference:+.3f} {p}", (hi, y), xytext=(6, 0), textcoords="offset points",
                        va="center", fontsize=8)
        else:
            bx.text(0, y, "n/a", ha="center", va="center", fontsize=8)
    ax.errorbar([], [], fmt="s", color="C0", label=name_a)
    ax.errorbar([], [], fmt="o", color="C1", label=name_b)
    ax.axvline(0.5, color="grey", ls="--", lw=1)
    ax.set(xlim=(0.3, 1.02), yticks=ys, yticklabels=[r.name for r in rows], xlabel="AUC (95% CI)",
           title="AUC per evaluation set")
    fig.legend(loc="upper left", fontsize=8, ncol=2, frameon=False)
    bx.axvline(0.0, color="grey", ls="--", lw=1)
    lims = [abs(v) for r in rows for v in (*r.difference_ci, r.difference) if _finite(v)]
    half = max([0.1, *lims]) * 1.15
    bx.set(xlim=(-half, half * 1.9), xlabel=f"AUC difference, {name_b} minus {name_a} (95% CI)",
           title="difference (DeLong)")
    fig.suptitle(title, fontsize=10, x=0.6)
    if note:
        fig.text(0.01, 0.005, note, fontsize=7, color="dimgrey", va="bottom")
    fig.tight_layout(rect=(0, 0.04 if note else 0, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path
