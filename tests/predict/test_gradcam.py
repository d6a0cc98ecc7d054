"""Grad-CAM: localisation on a network with a known answer, shapes, and the exact inverse mapping."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sijscan.classify.preprocess import PreprocessSpec, pad_or_crop, resize_longest
from sijscan.predict.gradcam import cam_to_crop, cam_to_radiograph, forward_with_cam

torch.set_num_threads(1)


class RegionSplit(nn.Module):
    """Two feature maps: the input inside a fixed region R, and the input outside it."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x * self.mask, x * (1 - self.mask)], dim=1) * self.scale


class RegionNet(nn.Module):
    """Positive logit = mean of the input over R only; negative logit = mean outside R."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.layer4 = nn.Sequential(RegionSplit(mask))
        self.fc = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.layer4(x)
        return self.fc(a.mean(dim=(2, 3)))


def test_cam_peaks_in_the_region_the_positive_logit_depends_on() -> None:
    h, w = 24, 36
    mask = torch.zeros(1, 1, h, w)
    mask[..., 4:10, 20:30] = 1
    net = RegionNet(mask).eval()
    x = torch.rand(2, 1, h, w) * 0.5 + 0.5
    res = forward_with_cam(net, x, classes=("positive", "negative"))
    pos, neg = res.cams["positive"], res.cams["negative"]
    assert pos.shape == (2, h, w) and neg.shape == (2, h, w)
    inside = mask[0, 0].numpy() > 0
    for i in range(2):
        peak = np.unravel_index(np.argmax(pos[i]), pos[i].shape)
        assert inside[peak]
        assert pos[i][~inside].max() == 0.0 and pos[i].max() == pytest.approx(1.0)
        # the evidence for "negative" lies outside the region
        assert neg[i][inside].max() == 0.0 and neg[i][~inside].min() > 0
    # the logits are those of a plain forward pass, and no parameter gradient was left behind
    torch.testing.assert_close(res.logits, net(x).detach())
    assert all(p.grad is None for p in net.parameters())


def test_cam_on_tiny_resnet_has_input_shape_and_range() -> None:
    import sijscan.classify.networks  # noqa: F401 - registers 'tiny-resnet'
    from sijscan.modelfolder import build_network

    torch.manual_seed(0)
    net = build_network("tiny-resnet", {"grade_head": True, "dropout": 0.0}).eval()
    x = torch.rand(3, 1, 48, 72)
    res = forward_with_cam(net, x)
    cam = res.cams["positive"]
    assert cam.shape == (3, 48, 72) and cam.dtype == np.float32
    assert np.isfinite(cam).all() and cam.min() >= 0 and cam.max() <= 1
    assert res.grade_logits is not None and tuple(res.grade_logits.shape) == (3, 2, 4)
    with torch.no_grad():
        torch.testing.assert_close(res.logits, net(x))


@pytest.mark.parametrize("crop_shape", [(30, 80), (50, 40), (47, 47), (20, 200)])
@pytest.mark.parametrize("mirror", [False, True])
def test_inverse_mapping_undoes_resize_and_pad(crop_shape: tuple[int, int], mirror: bool) -> None:
    """A linear ramp survives preprocessing's geometry and its inverse exactly (bilinear is exact on ramps)."""
    spec = PreprocessSpec(height=48, width=72)
    yy, xx = np.mgrid[0:crop_shape[0], 0:crop_shape[1]].astype(np.float32)
    ramp = 1.0 + 0.5 * yy + 0.25 * xx
    view = ramp[:, ::-1] if mirror else ramp
    forward = pad_or_crop(resize_longest(view, spec.width), spec.height, spec.width)
    back = cam_to_crop(forward, crop_shape=crop_shape, mirror=mirror)
    assert back.shape == crop_shape
    rh = round(crop_shape[0] * spec.width / max(crop_shape))
    if rh <= spec.height:  # nothing was cut away: exact everywhere
        np.testing.assert_allclose(back, ramp, rtol=1e-4, atol=1e-3)
    else:  # centred crop of the resized image: exact on the rows that were kept
        ok = back > 0
        assert ok.mean() > 0.3
        np.testing.assert_allclose(back[ok], ramp[ok], rtol=1e-4, atol=1e-3)


def test_radiograph_mapping_places_the_crop_in_its_box() -> None:
    cam = np.zeros((48, 72), np.float32)
    cam[20:28, 30:42] = 1.0  # a blob in the middle of the model input
    full = cam_to_radiograph(cam, crop_box=[100, 50, 172, 98], image_shape=(300, 400))
    assert full.shape == (300, 400)
    assert full[:50].max() == 0 and full[98:].max() == 0 and full[:, :100].max() == 0 and full[:, 172:].max() == 0
    cy, cx = np.unravel_index(np.argmax(full), full.shape)
    assert 50 + 18 <= cy <= 50 + 30 and 100 + 28 <= cx <= 100 + 44
