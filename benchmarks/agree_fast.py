"""Agreement of ``--fast`` with the exact published segmentation, on a TRAINED network of the published structure.

For each held-out phantom radiograph: the full pipeline (segmenter folder given, classifier of the
published ResNet-50 structure) run exact and ``fast=True``; prints JSON with per-image and summary
figures: Dice per structure fast vs exact, Dice of each vs the phantom truth (so agreement is not read
as accuracy), SIJ-box IoU, whether the classifier crop is identical, |delta p|, segmentation seconds.

The classifier has RANDOM weights (last layer scaled so p is mid-range, as in
tests/classify/test_classify_published.py): |delta p| is a sensitivity figure of the published
classifier structure to the crop change, not the trained network's.

    nice -n 10 python benchmarks/agree_fast.py --segmenter DIR [--images heldout.json] --threads 2
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch


def dice(a: np.ndarray, b: np.ndarray, cls: int) -> float | None:
    x, y = a == cls, b == cls
    s = int(x.sum()) + int(y.sum())
    return None if s == 0 else 2.0 * float((x & y).sum()) / s


def box_iou(a: list[int] | None, b: list[int] | None) -> float | None:
    """IoU of two [x0, y0, x1, y1] boxes (None when either is missing)."""
    if a is None or b is None:
        return None
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else None


def random_published_classifier(tmp: Path) -> Path:
    from sijscan.classify.published import import_published_classifier
    from sijscan.modelfolder import build_network

    torch.manual_seed(0)
    net = build_network("resnet50-sij", {"grade_head": False, "dropout": 0.5})
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        last = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.weight.mul_(0.05)
        last.bias.zero_()
    ckpt = tmp / "classification_model.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in net.state_dict().items()}}, ckpt)
    return import_published_classifier(ckpt, tmp / "classifier")


def _mean(xs: list) -> float | None:
    v = [x for x in xs if x is not None]
    return round(float(np.mean(v)), 4) if v else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segmenter", type=Path, required=True)
    ap.add_argument("--images", type=Path, help="JSON list of [image, mask] (default SEGMENTER/heldout.json)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from sijscan.predict.pipeline import Pipeline, write_pipeline_folder

    pairs = json.loads((args.images or args.segmenter / "heldout.json").read_text())[: args.limit]
    rows = []
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        clf = random_published_classifier(tmp)
        write_pipeline_folder(tmp, classifier=clf, segmenter=args.segmenter.resolve())
        exact = Pipeline.from_folder(tmp, device="cpu")
        fast = Pipeline.from_folder(tmp, device="cpu", fast=True)
        for img, msk in pairs:
            truth = cv2.imread(msk, cv2.IMREAD_UNCHANGED)
            pe, pf = exact.predict(img), fast.predict(img)
            le, lf = pe.images.labels, pf.images.labels
            rows.append({
                "image": Path(img).name,
                "dice_fast_vs_exact": {c: dice(lf, le, c) for c in (1, 2, 3)},
                "dice_exact_vs_truth": {c: dice(le, truth, c) for c in (1, 2, 3)},
                "dice_fast_vs_truth": {c: dice(lf, truth, c) for c in (1, 2, 3)},
                "labels_identical": bool(np.array_equal(le, lf)),
                "sij_box_iou": box_iou(pe.sij_box, pf.sij_box),
                "crop_identical": bool(pe.images.crop is not None and pf.images.crop is not None
                                       and np.array_equal(pe.images.crop, pf.images.crop)),
                "p_exact": pe.probability, "p_fast": pf.probability,
                "abs_dp": None if pe.probability is None or pf.probability is None
                else abs(pe.probability - pf.probability),
                "segment_s_exact": pe.timings.get("segment_s"), "segment_s_fast": pf.timings.get("segment_s"),
                "errors": [e for e in (pe.error, pf.error) if e],
            })
    summary = {
        "n": len(rows),
        **{f"mean_dice_fast_vs_exact_{c}": _mean([r["dice_fast_vs_exact"][c] for r in rows]) for c in (1, 2, 3)},
        **{f"min_dice_fast_vs_exact_{c}": min((r["dice_fast_vs_exact"][c] for r in rows
                                               if r["dice_fast_vs_exact"][c] is not None), default=None)
           for c in (1, 2, 3)},
        **{f"mean_dice_exact_vs_truth_{c}": _mean([r["dice_exact_vs_truth"][c] for r in rows]) for c in (1, 2, 3)},
        **{f"mean_dice_fast_vs_truth_{c}": _mean([r["dice_fast_vs_truth"][c] for r in rows]) for c in (1, 2, 3)},
        "mean_sij_box_iou": _mean([r["sij_box_iou"] for r in rows]),
        "min_sij_box_iou": min((r["sij_box_iou"] for r in rows if r["sij_box_iou"] is not None), default=None),
        "crops_identical": sum(r["crop_identical"] for r in rows),
        "labels_identical": sum(r["labels_identical"] for r in rows),
        "max_abs_dp": max((r["abs_dp"] for r in rows if r["abs_dp"] is not None), default=None),
        "median_abs_dp": _mean([float(np.median([r["abs_dp"] for r in rows if r["abs_dp"] is not None]))])
        if any(r["abs_dp"] is not None for r in rows) else None,
        "median_segment_s_exact": _mean([float(np.median([r["segment_s_exact"] for r in rows]))]),
        "median_segment_s_fast": _mean([float(np.median([r["segment_s_fast"] for r in rows]))]),
        "load1": float(Path("/proc/loadavg").read_text().split()[0]),
        "classifier": "published ResNet-50 structure, RANDOM weights (|dp| = sensitivity only)",
    }
    print(json.dumps({"summary": summary, "images": rows}, indent=1))


if __name__ == "__main__":
    main()
