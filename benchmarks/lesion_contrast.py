"""Lesion contrast and size per mNY grade in both phantom routes, at the classifier's pixel size.

Both routes draw lesions from one definition per grade (:mod:`sijscan.phantom.lesions`); this
measures what that gives in the image the anatomy-aware classifier sees. For each anatomy (procedural
anatomy seeds; the shared real CTs through the CT route) the same radiograph is rendered with both
joints at grade 0 and at grade g (same pose, profile, body, gas and noise: only the lesions differ,
no mimics), the SIJ crop is cut on the true label map and resized (area) to the classifier's input
width (``--crop-width``, 144 = the demo's). Per grade and route:

* ``rms``: RMS of the lesion signal (image(g) - image(0)) over the crop, display units [0, 1];
* ``p99``: its 99th percentile of |signal|;
* ``share_above_noise``: share of crop pixels where |signal| > 2 SD of the acquisition noise (the
  noise SD from two grade-0 renders differing only in the noise seed, / sqrt 2);
* ``erosion_px`` / ``sclerosis_px``: the mean drawn erosion diameter and sclerotic band width of the
  grade, in crop pixels (mm / the crop's mm per pixel).

``--figure F`` writes a contact sheet: rows = grades 0-4, columns = procedural anatomies then CTs
(SIJ crops at twice the classifier's width, display grey). Prints ONE JSON line.

    PYTHONPATH=src python benchmarks/lesion_contrast.py --figure docs/img/sij_grades_both_routes.png
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CTS = [REPO.parent / "shared" / "real-ct" / "pengwin" / c for c in ("001", "002", "003")]
PROFILE = "gespic"


def _crop(img: np.ndarray, labels: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    """True-mask SIJ crop resized to ``width`` (area); the resize factor (crop px per image px)."""
    from sijscan.anatomy.crop import crop_sij
    from sijscan.anatomy.localize import locate_sij

    c = crop_sij(img, locate_sij(labels), label_shape=labels.shape).astype(np.float32)
    f = width / c.shape[1]
    return cv2.resize(c, (width, max(1, round(c.shape[0] * f))), interpolation=cv2.INTER_AREA), f


def _procedural(seed: int, grade: float, size: int, noise: int) -> tuple[np.ndarray, np.ndarray, dict]:
    from sijscan.phantom.simulate import render_spec
    from sijscan.phantom.spec import CaseSpec

    img, lab, truth = render_spec(CaseSpec(anatomy_seed=seed, severity_left=grade, severity_right=grade),
                                  profile=PROFILE, size=size, seed=noise)
    les = truth["projection_info"]["sij"]["image_left"]["lesions"]
    return img, lab, les


def _ct(case, grade: int, size: int, noise: int) -> tuple[np.ndarray, np.ndarray, dict]:
    from sijscan.phantom.ct import render_ct_radiograph
    from sijscan.phantom.lesions import Mimics

    r = render_ct_radiograph(case, size=size, rng=1, profile=PROFILE, grades={"left": grade, "right": grade},
                             latents={"left": float(grade), "right": float(grade)}, mimics=Mimics(),
                             acquisition_seed=noise)
    return r.image, r.labels, r.meta["lesions"]["left"]


def measure(renderer, anatomies: list, *, size: int, width: int, noise_seed: int = 1) -> dict:
    per_grade: dict[int, dict[str, list[float]]] = {g: {} for g in range(1, 5)}
    crops: dict[int, list[np.ndarray]] = {g: [] for g in range(5)}
    for a in anatomies:
        img0, lab0, _ = renderer(a, 0, size, noise_seed)
        img0b, _, _ = renderer(a, 0, size, noise_seed + 100)
        c0, f = _crop(img0, lab0, width)
        noise_sd = float(np.std(_crop(img0b, lab0, width)[0] - c0) / np.sqrt(2.0))
        mm_per_px = float(_spacing(img0, size)) / f
        crops[0].append(_crop(img0, lab0, 2 * width)[0])
        for g in range(1, 5):
            img, _, les = renderer(a, g, size, noise_seed)
            cg, _ = _crop(img, lab0, width)  # the same crop box: the grade-0 label map
            d = cg - c0
            row = per_grade[g]
            row.setdefault("rms", []).append(float(np.sqrt(np.mean(d ** 2))))
            row.setdefault("p99", []).append(float(np.percentile(np.abs(d), 99)))
            row.setdefault("share_above_noise", []).append(float(np.mean(np.abs(d) > 2 * noise_sd)))
            row.setdefault("erosion_px", []).append(2 * les["erosion_radius_mm"] / mm_per_px if les["erosion_count"] else 0.0)
            row.setdefault("sclerosis_px", []).append(les["sclerosis_width_mm"] / mm_per_px)
            row.setdefault("noise_sd", []).append(noise_sd)
            crops[g].append(_crop(img, lab0, 2 * width)[0])
    summary = {str(g): {k: round(float(np.mean(v)), 4) for k, v in row.items()} for g, row in per_grade.items()}
    return {"per_grade": summary, "n_anatomies": len(anatomies), "crops": crops}


def _spacing(img: np.ndarray, size: int) -> float:
    from sijscan.phantom.profiles import get_profile

    return get_profile(PROFILE).field_long_mm / size


def sheet(columns: list[dict[int, list[np.ndarray]]], path: Path) -> None:
    rows = []
    for g in range(5):
        tiles = [np.clip(t * 255, 0, 255).astype(np.uint8) for col in columns for t in col[g]]
        h = max(t.shape[0] for t in tiles)
        tiles = [cv2.copyMakeBorder(t, 0, h - t.shape[0], 2, 2, cv2.BORDER_CONSTANT, value=255) for t in tiles]
        row = np.concatenate(tiles, axis=1)
        cv2.putText(row, f"grade {g}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1, cv2.LINE_AA)
        rows.append(cv2.copyMakeBorder(row, 2, 2, 0, 0, cv2.BORDER_CONSTANT, value=255))
    w = max(r.shape[1] for r in rows)
    rows = [cv2.copyMakeBorder(r, 0, 0, 0, w - r.shape[1], cv2.BORDER_CONSTANT, value=255) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.concatenate(rows, axis=0))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--crop-width", type=int, default=144)
    ap.add_argument("--seeds", type=int, default=3, help="procedural anatomy seeds 1..N")
    ap.add_argument("--ct", type=Path, nargs="*", default=DEFAULT_CTS)
    ap.add_argument("--figure", type=Path, default=None)
    a = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    from sijscan.phantom.ct import load_ct_case

    t0 = time.perf_counter()
    proc = measure(_procedural, list(range(1, a.seeds + 1)), size=a.size, width=a.crop_width)
    cases = [load_ct_case(p) for p in a.ct if Path(p).is_dir()]
    ct = measure(_ct, cases, size=a.size, width=a.crop_width) if cases else None
    if a.figure:
        sheet([proc["crops"]] + ([ct["crops"]] if ct else []), a.figure)
    out = {"benchmark": "lesion_contrast", "size": a.size, "crop_width": a.crop_width, "profile": PROFILE,
           "procedural": {k: v for k, v in proc.items() if k != "crops"},
           "ct_route": {**{k: v for k, v in ct.items() if k != "crops"}, "cases": [c.name for c in cases]} if ct else None,
           "wall_s": round(time.perf_counter() - t0, 1), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
