"""PNG figures (matplotlib, Agg backend). Each function writes one file and returns its path."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sijscan.evaluate.calibration import Calibration


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
