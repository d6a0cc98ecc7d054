"""docs/img/phantom_vs_ct.png: the shared CTs' AP bone projections beside noise-free phantom bones.

Usage: python benchmarks/phantom_vs_ct_figure.py [--ct-root ../shared/real-ct/pengwin] [--out docs/img/phantom_vs_ct.png]
Top row: sum of the three bones' line integrals of each CT (1 mm, not levelled); bottom row: the
phantom's bone line integral inside the hip and sacrum labels (seeds 1-3, 1 mm). Same grey scale.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tools/ is not installed

from sijscan.phantom.body_model import render_projection  # noqa: E402
from sijscan.phantom.spec import CaseSpec, Geometry  # noqa: E402
from tools.shape_stats import load_case, project  # noqa: E402

H, W = 330, 420


def _centred(m: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(m > 0.01)
    y0, x0 = (ys.min() + ys.max()) // 2 - H // 2, (xs.min() + xs.max()) // 2 - W // 2
    out = np.zeros((H, W), np.float32)
    sub = m[max(y0, 0) : y0 + H, max(x0, 0) : x0 + W]
    out[max(-y0, 0) : max(-y0, 0) + sub.shape[0], max(-x0, 0) : max(-x0, 0) + sub.shape[1]] = sub
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ct-root", type=Path, default=Path("../shared/real-ct/pengwin"))
    ap.add_argument("--out", type=Path, default=Path("docs/img/phantom_vs_ct.png"))
    args = ap.parse_args()
    tiles = []
    for case in ("001", "002", "003"):
        data = load_case(args.ct_root, case)
        tiles.append((_centred(sum(project(v, data["spacing"])["M"] for v in data["hu"].values())), f"CT {case}"))
    for seed, sex in ((1, "M"), (2, "F"), (3, "M")):
        p = render_projection(CaseSpec(anatomy_seed=seed, sex=sex), Geometry(height=H, width=W, pixel_spacing_mm=1.0))
        tiles.append((p.bone * (p.labels > 0), f"phantom seed {seed} {sex} (hip bones + sacrum)"))
    rows = []
    for r in range(2):
        row = []
        for img, cap in tiles[3 * r : 3 * r + 3]:
            t = (np.clip(img / 2.2, 0, 1) * 255).astype(np.uint8)
            t = cv2.copyMakeBorder(t, 0, 22, 2, 2, cv2.BORDER_CONSTANT, value=255)
            cv2.putText(t, cap, (6, H + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 0, 1, cv2.LINE_AA)
            row.append(t)
        rows.append(np.concatenate(row, 1))
    cv2.imwrite(str(args.out), np.concatenate(rows, 0))


if __name__ == "__main__":
    main()
