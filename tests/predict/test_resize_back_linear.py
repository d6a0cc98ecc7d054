"""Segmenter recipe ``resize_back: linear``: logits resized to the radiograph's size before the argmax.

A stand-in network gives smooth logits of a disc (signed distance) at the working size; the true disc at
the radiograph's size is known exactly, so the two resize-back methods can be scored against it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from sijscan.modelfolder import _REGISTRY, register_arch, save_model
from test_standins import seg_recipe

RADIUS = 0.3  # of the image's width and height (an ellipse on a non-square radiograph)


class DiscLogits(nn.Module):
    """Class 1 inside a centred disc (in working-grid coordinates), background outside; classes 2 and 3 never."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(20.0), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h - 0.5
        xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w - 0.5
        inside = RADIUS - torch.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
        far = torch.full_like(inside, -10.0)
        return torch.stack([-inside * self.scale, inside * self.scale, far, far])[None].expand(n, 4, h, w)


if "test-disc-logits" not in _REGISTRY:
    register_arch("test-disc-logits")(lambda: DiscLogits())


def _segmenter(tmp_path: Path, resize_back: str):
    from sijscan.anatomy.segment import Segmenter

    recipe = {**seg_recipe(size=16), "resize_back": resize_back}
    folder = save_model(tmp_path / resize_back, network=DiscLogits(), kind="segmenter", arch="test-disc-logits",
                        init_args={}, labels={0: "background", 1: "sacrum", 2: "hip_l", 3: "hip_r"}, recipe=recipe,
                        provenance={"test": True})
    return Segmenter.load(folder)


def test_linear_resize_back_follows_the_logits_not_the_working_grid(tmp_path: Path) -> None:
    h, w = 120, 160
    ys = (np.arange(h) + 0.5) / h - 0.5
    xs = (np.arange(w) + 0.5) / w - 0.5
    truth = (ys[:, None] ** 2 + xs[None, :] ** 2) < RADIUS ** 2
    image = np.full((h, w), 0.5, np.float32)
    full_near, work_near = _segmenter(tmp_path, "nearest").segment(image)
    full_lin, work_lin = _segmenter(tmp_path, "linear").segment(image)

    def iou(lab: np.ndarray) -> float:
        return float(((lab == 1) & truth).sum() / ((lab == 1) | truth).sum())

    assert np.array_equal(work_near, work_lin)  # the working map (location, crops) does not change
    assert set(np.unique(full_lin)) == {0, 1}  # no class invented between the disc and the background
    assert iou(full_lin) > 0.97 and iou(full_lin) > iou(full_near) + 0.02


def test_sijscan_recipe_defaults_to_linear_and_cards_keep_theirs() -> None:
    from sijscan.anatomy.recipes import parse_segmenter_recipe, sijscan_recipe

    assert sijscan_recipe(size=64)["resize_back"] == "linear"
    assert parse_segmenter_recipe(sijscan_recipe(size=64, resize_back="nearest")).resize_back == "nearest"


def test_channel_argmax_equals_torch_argmax_ties_included() -> None:
    from sijscan.anatomy.segment import channel_argmax

    g = torch.Generator().manual_seed(0)
    x = torch.randint(-2, 3, (4, 33, 47), generator=g).float()  # many ties
    assert torch.equal(channel_argmax(x), torch.argmax(x, dim=0).to(torch.uint8))


def test_linear_resize_back_of_a_large_radiograph_is_capped_and_still_smooth(tmp_path: Path) -> None:
    """Beyond LINEAR_MAX_ZOOM x the working grid the labels are resized by nearest: the output has the
    radiograph's size and the disc's outline is still finer than the working grid's."""
    from sijscan.anatomy.segment import LINEAR_MAX_ZOOM

    h, w = 16 * LINEAR_MAX_ZOOM * 2, 16 * LINEAR_MAX_ZOOM * 3
    full, _ = _segmenter(tmp_path, "linear").segment(np.full((h, w), 0.5, np.float32))
    ys = (np.arange(h) + 0.5) / h - 0.5
    xs = (np.arange(w) + 0.5) / w - 0.5
    truth = (ys[:, None] ** 2 + xs[None, :] ** 2) < RADIUS ** 2
    assert full.shape == (h, w) and float(((full == 1) & truth).sum() / ((full == 1) | truth).sum()) > 0.97
