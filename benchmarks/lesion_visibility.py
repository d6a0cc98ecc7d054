"""Is the phantom's SIJ lesion signal above the noise at the pixel size each model sees?

For several anatomy seeds the same patient is rendered with both joints at latent severity 0
(normal) and at 1, 2, 3 (about mNY grades 1, 2, 3), under one acquisition profile and ONE noise
seed, and once more at severity 0 with another noise seed. Signal = image(severity) - image(0),
same noise seed: what the lesions change; noise = (image(0, seed A) - image(0, seed B)) / sqrt(2).
Both are taken to the pixel grid each model works on (area resampling, as a resize does):

* anatomy-aware: the SIJ crop (union of the two true joint boxes) resized to the classifier's
  input width (``--crop-width``, default 144 = the demo's ``cpu`` recipe);
* standard: the whole radiograph resized to the same input width, then the same joint region.

Reported per view and severity: CNR = RMS(signal) / SD(noise) inside the joint boxes and the share
of joint-box pixels where |signal| > 2 SD(noise). The noise here is the acquisition's (quantum and
detector) noise only; the anatomy is the same in both renders, so anatomical variation between
patients, which a classifier must also see through, is not in this CNR. Writes a JSON line and, with ``--figure``, a PNG
(example crops at both pixel sizes + CNR against severity).

Usage: python benchmarks/lesion_visibility.py [--size 1024] [--seeds 6] [--crop-width 144] [--figure F]
"""
from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from sijscan.phantom.simulate import render_spec  # noqa: E402
from sijscan.phantom.spec import CaseSpec  # noqa: E402

SEVERITIES = (1.0, 2.0, 3.0)


def _union(boxes: dict) -> list[int]:
    b = [v for v in boxes.values() if v is not None]
    return [min(x[0] for x in b), min(x[1] for x in b), max(x[2] for x in b), max(x[3] for x in b)]


def _area(img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _views(img: np.ndarray, boxes: dict, width: int) -> dict[str, np.ndarray]:
    """The joint region as each model sees it: crop then resize vs resize then crop."""
    x0, y0, x1, y1 = _union(boxes)
    crop = img[y0:y1, x0:x1]
    s_crop = width / crop.shape[1]
    s_full = width / img.shape[1]
    full = _area(img, s_full)
    fx0, fy0, fx1, fy1 = (int(round(v * s_full)) for v in (x0, y0, x1, y1))
    return {"anatomy-aware": _area(crop, s_crop), "standard": full[fy0:max(fy1, fy0 + 1), fx0:max(fx1, fx0 + 1)]}


def measure(*, size: int, seeds: int, width: int, profile: str) -> dict:
    per: dict[str, dict[float, list[tuple[float, float, float]]]] = {"anatomy-aware": {}, "standard": {}}
    examples = {}
    mm_per_px = {}
    for k in range(seeds):
        base = dict(anatomy_seed=100 + k, sex="M" if k % 2 else "F", bowel_gas=0.3)
        img0, _, truth = render_spec(CaseSpec(**base), profile=profile, size=size, seed=7)
        img0b, _, _ = render_spec(CaseSpec(**base), profile=profile, size=size, seed=8)
        boxes = truth["sij_boxes"]
        spacing = float(truth["acquisition"].get("pixel_spacing_mm", 0) or 0)
        v0, v0b = _views(img0, boxes, width), _views(img0b, boxes, width)
        for sev in SEVERITIES:
            img, _, _ = render_spec(CaseSpec(**base, severity_left=sev, severity_right=sev), profile=profile,
                                    size=size, seed=7)
            v = _views(img, boxes, width)
            for view in per:
                signal = v[view] - v0[view]
                noise_sd = float(np.std(v0[view] - v0b[view]) / np.sqrt(2))
                cnr = float(np.sqrt(np.mean(signal ** 2)) / noise_sd) if noise_sd > 0 else float("nan")
                frac = float(np.mean(np.abs(signal) > 2 * noise_sd)) if noise_sd > 0 else float("nan")
                per[view].setdefault(sev, []).append((cnr, frac, float(signal.shape[1])))
                if k == 0:
                    examples[(view, sev)] = v[view]
                    examples[(view, 0.0)] = v0[view]
                    examples[(view, f"snr{sev}")] = signal / noise_sd
        if k == 0 and spacing:
            x0, _, x1, _ = _union(boxes)
            mm_per_px = {"anatomy-aware": spacing * (x1 - x0) / width, "standard": spacing * img0.shape[1] / width,
                         "native": spacing}
    summary = {view: {str(sev): {"cnr_median": float(np.median([c for c, _, _ in vals])),
                                 "share_above_2sd_median": float(np.median([f for _, f, _ in vals])),
                                 "joint_region_width_px": float(np.median([x for _, _, x in vals]))}
                      for sev, vals in sevs.items()} for view, sevs in per.items()}
    return {"size": size, "seeds": seeds, "crop_width": width, "profile": profile, "mm_per_px": mm_per_px,
            "views": summary, "examples": examples}


def figure(res: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    ex = res["examples"]
    top = SEVERITIES[-1]
    fig = plt.figure(figsize=(12, 5.2), dpi=100)
    grid = fig.add_gridspec(2, 4, width_ratios=[1, 1, 1, 1.2])
    for r, view in enumerate(("anatomy-aware", "standard")):
        mm = res["mm_per_px"].get(view)
        panels = ((ex[(view, 0.0)], "severity 0", "gray", (0, 1)), (ex[(view, top)], f"severity {top:g}", "gray", (0, 1)),
                  (ex[(view, f"snr{top}")], f"lesion signal / noise SD, severity {top:g}", "RdBu_r", (-4, 4)))
        for c, (img, title, cmap, (lo, hi)) in enumerate(panels):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{view}\n{img.shape[1]} px wide, {mm:.2f} mm/px" if mm else view, fontsize=8)
    for c, (key, label) in enumerate((("cnr_median", "lesion CNR vs acquisition noise, joint region"),)):
        ax = fig.add_subplot(grid[:, 3 + c])
        for view, color in (("anatomy-aware", "C1"), ("standard", "C0")):
            ax.plot(SEVERITIES, [res["views"][view][str(s)][key] for s in SEVERITIES], marker="o", color=color,
                    label=view)
        ax.axhline(1.0, color="grey", ls="--", lw=1)
        ax.set(xlabel="latent severity of both joints (~ mNY grade)", ylabel=label + " (median)", xticks=SEVERITIES)
        ax.legend(fontsize=8)
    fig.suptitle(f"Phantom SIJ lesions at each model's input pixel size: {res['size']} px render "
                 f"({res['mm_per_px'].get('native', 0):.2f} mm/px), profile {res['profile']}, {res['seeds']} anatomy "
                 f"seeds, input {res['crop_width']} px wide\n`python benchmarks/lesion_visibility.py --size {res['size']} "
                 f"--seeds {res['seeds']} --crop-width {res['crop_width']}`", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--seeds", type=int, default=6)
    p.add_argument("--crop-width", type=int, default=144)
    p.add_argument("--profile", default="gespic")
    p.add_argument("--figure", default=None)
    a = p.parse_args()
    res = measure(size=a.size, seeds=a.seeds, width=a.crop_width, profile=a.profile)
    if a.figure:
        figure(res, a.figure)
    res.pop("examples")
    res["load_average_1min"] = os.getloadavg()[0]
    print(json.dumps(res))


if __name__ == "__main__":
    main()
