"""``local-resnet``: tiny-resnet cut after its second stage, so each feature sees 51 input pixels at most."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import sijscan.classify.networks as networks
from sijscan.modelfolder import build_network

torch.set_num_threads(1)


def _feature_map(net: networks.SIJResNet, x: torch.Tensor) -> torch.Tensor:
    """The last stage's output before pooling."""
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    for name in net.stages:
        x = getattr(net, name)(x)
    return x


@pytest.mark.parametrize("arch, sees_far", [("local-resnet", False), ("tiny-resnet", True)])
def test_a_feature_does_not_see_past_its_receptive_field(arch: str, sees_far: bool) -> None:
    """A change 40 px away from a feature's centre (beyond 51 px / 2 = 25) leaves the local network's
    feature unchanged; the whole tiny-resnet (receptive field > 200 px) sees it."""
    torch.manual_seed(0)
    net = build_network(arch, {"grade_head": True, "dropout": 0.0}).eval()
    x = torch.rand(1, 1, 96, 144)
    y = x.clone()
    y[..., :, 104:] = torch.rand(1, 1, 96, 40)  # columns 104-143
    with torch.no_grad():
        fx, fy = _feature_map(net, x), _feature_map(net, y)
    stride = 96 // fx.shape[-2]
    col = 64 // stride  # a feature centred near column 64: its window ends before column 104 - 12
    changed = (fx[..., col] - fy[..., col]).abs().max().item()
    assert (changed > 1e-6) is sees_far


def test_local_resnet_has_only_two_stages_and_128_features() -> None:
    net = build_network("local-resnet", {"grade_head": True, "dropout": 0.5})
    assert net.stages == ("layer1", "layer2") and net.n_features == 128
    assert not hasattr(net, "layer3") and not hasattr(net, "layer4")
    assert not any(k.startswith(("layer3.", "layer4.")) for k in net.state_dict())
    assert [n for n, _ in networks.block_groups(net)] == ["stem", "layer1", "layer2", "head"]
    covered = {id(p) for _, ps in networks.block_groups(net) for p in ps}
    assert covered == {id(p) for p in net.parameters()}
    logits, grades = net.forward_all(torch.rand(2, 1, 48, 72))
    assert tuple(logits.shape) == (2, 2) and tuple(grades.shape) == (2, 2, 4)


def test_stages_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="stages"):
        networks.SIJResNet(networks.BasicBlock, [1, 1, 1, 1], hidden=8, dropout=0.0, grade_head=False, stages=5)


def test_grad_cam_hooks_the_cut_networks_last_stage() -> None:
    from sijscan.predict.gradcam import forward_with_cam, target_layer

    torch.manual_seed(0)
    net = build_network("local-resnet", {"grade_head": True, "dropout": 0.0}).eval()
    assert target_layer(net) is net.layer2[-1]
    res = forward_with_cam(net, torch.rand(2, 1, 48, 72))
    cam = res.cams["positive"]
    assert cam.shape == (2, 48, 72) and np.isfinite(cam).all() and cam.max() <= 1


def test_study_config_offers_every_registered_classifier_arch() -> None:
    """Every single-network classifier arch; an ensemble is built from members (classifiers.ensemble), not named."""
    from sijscan.modelfolder import _REGISTRY
    from sijscan.study.config_classifiers import CLASSIFIER_ARCHS

    registered = {name for name, fn in _REGISTRY.items() if fn.__module__ == networks.__name__}
    assert set(CLASSIFIER_ARCHS) == registered - {"seed-ensemble"}
