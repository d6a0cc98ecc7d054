"""Network layout, loss (mixup + label smoothing), ordinal grades, MCC and per-block learning rates."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import matthews_corrcoef
from torchvision.models import resnet50

from sijscan.classify import module as mod
from sijscan.classify.augment import AugmentSpec
from sijscan.modelfolder import build_network

torch.set_num_threads(1)
NO_AUG = AugmentSpec(p_hflip=0, p_vflip=0, p_rotation=0, p_zoom=0, p_shear=0)


def test_resnet50_sij_keys_match_torchvision_with_paper_head() -> None:
    net = build_network("resnet50-sij", {"grade_head": False, "dropout": 0.5})
    ours, tv = net.state_dict(), resnet50().state_dict()
    backbone = {k for k in tv if not k.startswith("fc.")}
    assert backbone <= set(ours)
    assert ours["conv1.weight"].shape == (64, 1, 7, 7) and net.conv1.bias is None
    assert (net.conv1.kernel_size, net.conv1.stride, net.conv1.padding) == ((7, 7), (2, 2), (3, 3))
    head = sorted(k for k in ours if k.startswith("fc."))
    assert head == sorted(["fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias", "fc.2.running_mean",
                           "fc.2.running_var", "fc.2.num_batches_tracked", "fc.4.weight", "fc.4.bias"])
    assert ours["fc.0.weight"].shape == (1024, 2048) and ours["fc.4.weight"].shape == (2, 1024)
    assert [type(m).__name__ for m in net.fc] == ["Linear", "ReLU", "BatchNorm1d", "Dropout", "Linear"]
    assert set(ours) - backbone - set(head) == set()


def test_grade_head_outputs() -> None:
    net = build_network("tiny-resnet", {"grade_head": True, "dropout": 0.0}).eval()
    logits, cum = net.forward_all(torch.randn(3, 1, 32, 48))
    assert logits.shape == (3, 2) and cum.shape == (3, 2, 4)
    grades = mod.grades_from_cumulative(cum)
    assert grades.shape == (3, 2) and int(grades.min()) >= 0 and int(grades.max()) <= 4


def test_coral_loss_hand_example() -> None:
    cum = torch.tensor([[[0.0, 1.0, -1.0, 2.0], [0.5, 0.5, 0.5, 0.5]]])
    grades = torch.tensor([[2, -1]])  # right side unknown: ignored
    target = [1.0, 1.0, 0.0, 0.0]  # grade 2 > k for k = 0, 1
    expect = np.mean([-math.log(1 / (1 + math.exp(-z))) if t else -math.log(1 - 1 / (1 + math.exp(-z)))
                      for z, t in zip([0.0, 1.0, -1.0, 2.0], target)])
    assert mod.coral_loss(cum, grades).item() == pytest.approx(expect, rel=1e-6)


def _ce_smooth(logits: list[float], y: int, eps: float) -> float:
    logp = [z - math.log(sum(math.exp(v) for v in logits)) for z in logits]
    return -(1 - eps) * logp[y] - eps * sum(logp) / len(logp)


def test_mixup_label_smoothing_loss_hand_example() -> None:
    # logits (2, 0), mixup of class 0 (weight 0.7) with class 1 (0.3), smoothing 0.01
    expect = 0.7 * _ce_smooth([2.0, 0.0], 0, 0.01) + 0.3 * _ce_smooth([2.0, 0.0], 1, 0.01)
    got = mod.mixup_cross_entropy(torch.tensor([[2.0, 0.0]]), torch.tensor([0]), torch.tensor([1]), 0.7,
                                  label_smoothing=0.01)
    assert got.item() == pytest.approx(expect, rel=1e-6)
    assert expect == pytest.approx(0.730928, abs=1e-5)  # worked by hand


def test_training_step_uses_mixup_and_smoothing(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    net = build_network("tiny-resnet", {"grade_head": False, "dropout": 0.0})
    m = mod.ClassifierModule(net, phase="all", max_lr=1e-3, augment=NO_AUG, mixup_alpha=0.4, label_smoothing=0.01)
    perm = torch.tensor([3, 2, 1, 0])
    monkeypatch.setattr(mod, "sample_mixup", lambda n, alpha: (0.7, perm))
    x, y = torch.rand(4, 1, 32, 48), torch.tensor([0, 1, 1, 0])
    loss = m.training_step((x, y, torch.full((4, 2), -1)), 0)
    logits = net(0.7 * x + 0.3 * x[perm])
    eps = 0.01
    logp = F.log_softmax(logits, 1)
    smooth = lambda t: (-(1 - eps) * logp[torch.arange(4), t] - eps * logp.mean(1)).mean()  # noqa: E731
    assert loss.item() == pytest.approx((0.7 * smooth(y) + 0.3 * smooth(y[perm])).item(), rel=1e-4)


def _authors_sigmoid_mcc(logits: torch.Tensor, y: torch.Tensor) -> float:
    """The authors' bug: per-column sigmoid of the logits vs one-hot targets, MCC over all entries."""
    pred = (torch.sigmoid(logits) > 0.5).int().ravel().numpy()
    onehot = F.one_hot(y, 2).ravel().numpy()
    return float(matthews_corrcoef(onehot, pred))


def test_mcc_on_softmax_decision_not_sigmoid_columns() -> None:
    # Every argmax is right, but both logits of the negatives are < 0 and both of the positives > 0.
    logits = torch.tensor([[-1.0, -2.0], [-0.5, -3.0], [2.0, 3.0], [1.0, 4.0], [-0.2, -1.0], [0.1, 0.9]])
    y = torch.tensor([0, 0, 1, 1, 0, 1])
    ours = mod.softmax_decision_mcc(logits, y)
    assert ours == pytest.approx(1.0)
    assert ours == pytest.approx(matthews_corrcoef(y.numpy(), logits.argmax(1).numpy()))
    assert _authors_sigmoid_mcc(logits, y) < 0.5  # the buggy metric disagrees strongly
    assert mod.mcc_from_decisions(np.array([1, 1, 0]), np.array([1, 1, 1])) == 0.0  # undefined -> 0


def _optimizer(phase: str) -> torch.optim.Optimizer:
    net = build_network("tiny-resnet", {"grade_head": True, "dropout": 0.5})
    m = mod.ClassifierModule(net, phase=phase, max_lr=1e-3, lr_block_factor=0.9)
    m._trainer = SimpleNamespace(estimated_stepping_batches=10)  # only what configure_optimizers reads
    return m.configure_optimizers()["optimizer"], net


def test_one_learning_rate_per_block_rising_toward_head() -> None:
    opt, net = _optimizer("all")
    names = [g["name"] for g in opt.param_groups]
    assert names == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    max_lrs = [g["max_lr"] for g in opt.param_groups]
    assert max_lrs == pytest.approx([1e-3 * 0.9 ** k for k in (5, 4, 3, 2, 1, 0)])
    assert all(a < b for a, b in zip(max_lrs, max_lrs[1:]))
    covered = {id(p) for g in opt.param_groups for p in g["params"]}
    assert covered == {id(p) for p in net.parameters()}  # every parameter in exactly one block
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(net.parameters()))


def test_head_phase_freezes_backbone() -> None:
    opt, net = _optimizer("head")
    assert [g["name"] for g in opt.param_groups] == ["head"]
    assert opt.param_groups[0]["max_lr"] == pytest.approx(1e-3)
    assert not net.conv1.weight.requires_grad and not net.layer4[0].conv1.weight.requires_grad
    assert net.fc[0].weight.requires_grad and net.grade_head.thresholds.requires_grad


def test_temperature_scaling_recovers_overconfidence() -> None:
    from sijscan.classify.calibration import fit_temperature, nll_at_temperature, probability

    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-z))).astype(int)  # calibrated at logit z
    logits = np.stack([np.zeros_like(z), 3.0 * z], 1)  # the network is 3x overconfident
    t = fit_temperature(logits=logits, y_true=y)
    assert t == pytest.approx(3.0, rel=0.1)
    assert nll_at_temperature(logits, y, t) < nll_at_temperature(logits, y, 1.0)
    assert np.allclose(probability(logits, t), 1 / (1 + np.exp(-3.0 * z / t)))
