"""Tiny synthetic radiographs + label maps + manifest for tests and demos (not the phantom).

Layout in display orientation: sacrum (label 1) in the middle, hip bone image-left (2) and
image-right (3) beside it, a dark joint gap between. Positives get bright, noisy "sclerosis" along
the joints; per-side grades are drawn consistent with the label (mNY).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def synthetic_case(*, height: int, width: int, positive: bool, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    cx = width / 2 + rng.uniform(-2, 2)
    half_top, half_bot = 0.16 * width, 0.05 * width
    t = yy / height
    half = half_top + (half_bot - half_top) * t
    sacrum = (np.abs(xx - cx) < half) & (yy > 0.1 * height) & (yy < 0.85 * height)
    gap = 0.03 * width
    left = (xx < cx - half - gap) & (xx > 0.05 * width) & (yy > 0.05 * height) & (yy < 0.8 * height)
    right = (xx > cx + half + gap) & (xx < 0.95 * width) & (yy > 0.05 * height) & (yy < 0.8 * height)
    labels = np.zeros((height, width), np.uint8)
    labels[sacrum], labels[left], labels[right] = 1, 2, 3
    img = 0.15 + 0.5 * (labels > 0) + 0.05 * rng.standard_normal((height, width))
    if positive:
        grades = (int(rng.integers(2, 5)), int(rng.integers(2, 5)))
        joint = (np.abs(np.abs(xx - cx) - half - gap / 2) < 0.05 * width) & (yy < 0.8 * height)
        img = img + joint * (0.4 + 0.2 * rng.standard_normal((height, width)))
    else:
        grades = (int(rng.integers(0, 2)), int(rng.integers(0, 2)))
    return np.clip(img, 0, 1).astype(np.float32), labels, grades


def write_synthetic_cohort(out: Path, *, n: int, height: int = 96, width: int = 128, seed: int = 0,
                           val_fraction: float = 0.3, with_grades: bool = True) -> Path:
    """Write n PNG images, label maps and ``manifest.csv``; return the manifest path."""
    import cv2
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        pos = bool(i % 2)
        img, labels, (gr, gl) = synthetic_case(height=height, width=width, positive=pos, rng=rng)
        ip, mp = out / f"case{i:03d}.png", out / f"case{i:03d}_mask.png"
        cv2.imwrite(str(ip), np.round(img * 65535).astype(np.uint16))
        cv2.imwrite(str(mp), labels)
        split = "val" if i >= n - max(2, int(round(n * val_fraction))) else "train"
        row = {"image": ip.name, "patient_id": f"p{i:03d}", "cohort": "synthetic", "split": split,
               "label": int(pos), "mask": mp.name}
        if with_grades:
            row.update(grade_left=gl, grade_right=gr)
        rows.append(row)
    path = out / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
