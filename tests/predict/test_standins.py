"""Stand-ins for the predict tests: a drawn pelvis, a tiny registered segmenter, a tiny classifier folder.

The segmenter ``predict-test-seg`` is a real (parameter-free in effect) network saved as a model
folder: bone = pixel above a threshold, class by horizontal position (middle band sacrum, left and
right hip bones). On the drawn pelvis it reproduces the drawn labels exactly.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from sijscan.modelfolder import _REGISTRY, register_arch, save_model

BAND = (0.42, 0.58)


class ThresholdSegmenter(nn.Module):
    def __init__(self, threshold: float = 0.6) -> None:
        super().__init__()
        self.threshold = nn.Parameter(torch.tensor(float(threshold)), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        bone = x[:, 0] > self.threshold
        xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w
        middle = (xs >= BAND[0]) & (xs < BAND[1])
        cls = torch.where(middle, 1, torch.where(xs < BAND[0], 2, 3)).expand(n, h, w)
        lab = torch.where(bone, cls, torch.zeros_like(cls))
        return nn.functional.one_hot(lab, 4).permute(0, 3, 1, 2).float() * 10


if "predict-test-seg" not in _REGISTRY:
    register_arch("predict-test-seg")(lambda threshold=0.6: ThresholdSegmenter(threshold))


def draw_pelvis(h: int = 96, w: int = 128, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A bone-bright cartoon AP pelvis (float32 [0, 1]) and its labels (the segmenter's rule)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    xn, yn = (xx + 0.5) / w, (yy + 0.5) / h
    img = np.full((h, w), 0.1, np.float32)
    img[((xn - 0.5) / 0.48) ** 2 + ((yn - 0.55) / 0.5) ** 2 < 1] = 0.35  # soft tissue
    sacrum = (xn >= BAND[0]) & (xn < BAND[1]) & (yn > 0.2) & (yn < 0.6)
    left = (((xn - 0.30) / 0.14) ** 2 + ((yn - 0.55) / 0.3) ** 2 < 1) & (xn < BAND[0])
    right = (((xn - 0.70) / 0.14) ** 2 + ((yn - 0.55) / 0.3) ** 2 < 1) & (xn >= BAND[1])
    labels = np.zeros((h, w), np.uint8)
    for cls, m in ((1, sacrum), (2, left), (3, right)):
        img[m] = 0.85
        labels[m] = cls
    img = img + rng.normal(0, 0.01, img.shape).astype(np.float32)  # mild noise, smooth enough
    import cv2

    img = cv2.GaussianBlur(img, (3, 3), 0.6)
    return np.clip(img, 0, 1).astype(np.float32), labels


def seg_recipe(size: int = 64) -> dict:
    return {"working_size": [size, size], "input_scale": 1.0, "transposed": False, "resize_mode": "area",
            "normalisation": "none", "inference": {"mode": "single"},
            "postprocess": {"argmax": True, "largest_component": True}, "resize_back": "nearest",
            "localize": {"method": "sijscan", "on": "working", "dilation_frac": 0.1, "margin_frac": 0.1}}


def make_models(root: Path, *, view: str = "sij", grade_head: bool = True, seed: int = 0, crop: str = "box") -> Path:
    """Write segmenter/, classifier/ and pipeline.json under ``root``; return ``root``."""
    from sijscan.classify.card import classifier_recipe
    from sijscan.classify.preprocess import PreprocessSpec
    import sijscan.classify.networks  # noqa: F401 - registers 'tiny-resnet' (architectures register on import)
    from sijscan.modelfolder import build_network
    from sijscan.predict.pipeline import write_pipeline_folder

    torch.manual_seed(seed)
    save_model(root / "segmenter", network=ThresholdSegmenter(0.6), kind="segmenter", arch="predict-test-seg",
               init_args={"threshold": 0.6}, labels={0: "background", 1: "sacrum", 2: "hip_l", 3: "hip_r"},
               recipe=seg_recipe(), provenance={"test": True})
    init = {"grade_head": grade_head, "dropout": 0.0}
    net = build_network("tiny-resnet", init).eval()
    spec = PreprocessSpec(height=48, width=72, clahe_impl="opencv")
    save_model(root / "classifier", network=net, kind="classifier", arch="tiny-resnet", init_args=init,
               labels={0: "negative", 1: "positive"}, recipe=classifier_recipe(view=view, spec=spec, crop=crop),
               provenance={"test": True}, cutoff=0.5, temperature=2.0)
    write_pipeline_folder(root, classifier=root / "classifier", segmenter=root / "segmenter" if view == "sij" else None)
    return root


def test_drawn_pelvis_is_segmented_exactly(tmp_path: Path) -> None:
    from sijscan.anatomy.segment import Segmenter

    img, labels = draw_pelvis(64, 64)
    make_models(tmp_path)
    seg = Segmenter.load(tmp_path / "segmenter")
    full, _ = seg.segment(img)
    assert (full == labels).mean() > 0.99
