"""Classifier architectures: the paper's 1-channel ResNet-50 with its head, plus an optional grade head.

``resnet50-sij`` is a torchvision ``ResNet`` whose ``conv1`` takes one channel and whose ``fc`` is the
paper's head ``Linear(2048, 1024) -> ReLU -> BatchNorm1d(1024) -> Dropout -> Linear(1024, 2)``, so the
authors' Lightning keys ``model.<name>`` map 1:1 onto ours after stripping ``model.``.

The optional grade head (``grade_head=True``) predicts the modified New York grade 0-4 of each side
(order: patient-left, patient-right) as an ordinal CORAL model on the pooled 2048 features: one
weight vector per side and 4 ordered thresholds (biases), ``P(grade > k) = sigmoid(w.x + b_k)``.
``grade_pool`` says what ``x`` is for each side: ``"global"`` (the default, and every model saved before
it existed) the features pooled over the whole view, the same vector for both sides; ``"sides"`` each
side's own half of the last feature map pooled (image-left half -> the patient's right side, image-right
half -> the patient's left: display orientation, true of the joint-pair view, the paper's box and the whole
radiograph alike). A global pool hands both sides one vector, so a side's grade must be read from
features that mix both joints; a side pool gives each side the evidence under it (the binary head keeps
the global pool: the paper's).

``tiny-resnet`` (a ResNet-18 with the same head shape scaled down) exists only for fast tests.

``local-resnet`` is ``tiny-resnet`` cut after its second residual stage (``stages=2``): its receptive
field is 51 input pixels (conv1 7, max-pool, four 3x3 convs at strides 4 and 8), about 5 cm of the
demo's ~1 mm-per-pixel joint view, so a call can rest on the joint margin's local appearance (erosions,
sclerosis, joint-space width, bridging) but not on the shape of a whole joint, which differs from one
real anatomy to the next (issue 22). It also takes about half of tiny-resnet's arithmetic.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from sijscan.classify.errors import InitWeightsError
from sijscan.classify.grades import SIDE_ORDER  # noqa: F401 - re-exported
from sijscan.classify.recipe import GRADE_POOLS
from sijscan.errors import ModelError
from sijscan.modelfolder import build_network, register_arch

N_GRADES = 5
N_SIDES = 2
# SIDE_ORDER (grade-head output order: the PATIENT's left then right; display orientation puts the
# patient's right on the image's left) lives in grades.py, which prediction imports without torchvision.


class CoralGradeHead(nn.Module):
    """Ordinal CORAL head: per side one projection and ``N_GRADES - 1`` thresholds."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_features, N_SIDES, bias=False)
        self.thresholds = nn.Parameter(torch.zeros(N_SIDES, N_GRADES - 1))
        with torch.no_grad():
            self.thresholds.copy_(torch.linspace(1.0, -1.0, N_GRADES - 1).expand(N_SIDES, -1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Cumulative logits ``(N, 2 sides, 4)``: logit of P(grade > k), k = 0..3. ``features``: ``(N, F)``,
        one vector for both sides, or ``(N, 2, F)``, each side's own (:data:`SIDE_ORDER`)."""
        if features.ndim == 3:  # side s projected with its own row of the weights
            score = (features * self.proj.weight.unsqueeze(0)).sum(-1)
        else:
            score = self.proj(features)
        return score.unsqueeze(-1) + self.thresholds.unsqueeze(0)


def side_features(fmap: torch.Tensor) -> torch.Tensor:
    """``(N, C, h, w)`` feature map -> ``(N, 2, C)``: the mean over the image-right half (the patient's
    left side) then the image-left half (the patient's right), in :data:`SIDE_ORDER`. An odd width gives
    both halves the middle column. Slices and means, not an adaptive pool: ONNX exports them at any width."""
    w = fmap.shape[-1]
    left_img = fmap[..., : (w + 1) // 2].mean(dim=(2, 3))
    right_img = fmap[..., w // 2:].mean(dim=(2, 3))
    return torch.stack([right_img, left_img], dim=1)


def paper_head(in_features: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.BatchNorm1d(hidden),
        nn.Dropout(dropout), nn.Linear(hidden, 2),
    )


class SIJResNet(ResNet):
    """A torchvision ResNet with a 1-channel stem, the paper's head as ``fc`` and an optional grade head."""

    def __init__(self, block: Any, layers: list[int], *, hidden: int, dropout: float, grade_head: bool,
                 stages: int = 4, grade_pool: str = "global") -> None:
        super().__init__(block, layers)
        if grade_pool not in GRADE_POOLS:
            raise ModelError(f"grade_pool must be one of {', '.join(GRADE_POOLS)}, got {grade_pool!r}")
        self.grade_pool = grade_pool
        self.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        if not 1 <= stages <= 4:
            raise ValueError(f"stages must be 1-4, got {stages}")
        self.stages = tuple(f"layer{i}" for i in range(1, stages + 1))
        for name in ("layer1", "layer2", "layer3", "layer4")[stages:]:
            delattr(self, name)  # a cut network carries no unused weights
        n_feat = 64 * 2 ** (stages - 1) * block.expansion
        self.n_features = n_feat
        self.fc = paper_head(n_feat, hidden, dropout)
        self.grade_head: CoralGradeHead | None = CoralGradeHead(n_feat) if grade_head else None

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's output ``(N, C, h, w)``, before any pooling."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for name in self.stages:
            x = getattr(self, name)(x)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Features pooled over the whole view ``(N, C)``."""
        return torch.flatten(self.avgpool(self.feature_map(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Binary logits ``(N, 2)`` (softmax index 1 = definite radiographic sacroiliitis)."""
        return self.fc(self.features(x))

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Binary logits and, with a grade head, cumulative grade logits ``(N, 2, 4)``."""
        return self.heads(self.feature_map(x))[:2]

    def heads(self, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Binary logits, cumulative grade logits (or None) and the globally pooled features, from the
        last feature map ``fmap`` (:meth:`feature_map`)."""
        f = torch.flatten(self.avgpool(fmap), 1)
        if self.grade_head is None:
            return self.fc(f), None, f
        return self.fc(f), self.grade_head(side_features(fmap) if self.grade_pool == "sides" else f), f


def block_groups(net: SIJResNet) -> list[tuple[str, list[nn.Parameter]]]:
    """Top-level blocks from conv1 to the head, for discriminative learning rates."""
    stem = list(net.conv1.parameters()) + list(net.bn1.parameters())
    head = list(net.fc.parameters()) + (list(net.grade_head.parameters()) if net.grade_head is not None else [])
    groups = [("stem", stem)] + [(n, list(getattr(net, n).parameters())) for n in net.stages]
    return groups + [("head", head)]


def head_parameters(net: SIJResNet) -> list[nn.Parameter]:
    return block_groups(net)[-1][1]


def rgb_to_grey_conv(weight: torch.Tensor) -> torch.Tensor:
    """ImageNet conv1 weights ``(64, 3, 7, 7)`` -> 1-channel ``(64, 1, 7, 7)`` by summing RGB filters."""
    return weight.sum(dim=1, keepdim=True)


def load_imagenet_backbone(net: SIJResNet, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy a torchvision ImageNet ResNet state_dict into ``net`` (conv1 summed; fc skipped); return skipped keys."""
    own = net.state_dict()
    take: dict[str, torch.Tensor] = {}
    skipped: list[str] = []
    for key, value in state.items():
        if key == "conv1.weight" and value.ndim == 4 and value.shape[1] == 3:
            value = rgb_to_grey_conv(value)
        if key.startswith("fc.") or key not in own or own[key].shape != value.shape:
            skipped.append(key)
            continue
        take[key] = value
    missing = [k for k in own if k not in take and not k.startswith(("fc.", "grade_head."))]
    if missing:
        raise InitWeightsError(f"init weights lack {len(missing)} backbone tensors (first: {missing[0]}); "
                               "expected a torchvision resnet50 state_dict")
    net.load_state_dict(take, strict=False)
    return skipped


@register_arch("resnet50-sij")
def resnet50_sij(*, grade_head: bool = False, dropout: float = 0.5, grade_pool: str = "global") -> SIJResNet:
    return SIJResNet(Bottleneck, [3, 4, 6, 3], hidden=1024, dropout=float(dropout), grade_head=bool(grade_head),
                     grade_pool=grade_pool)


@register_arch("tiny-resnet")
def tiny_resnet(*, grade_head: bool = False, dropout: float = 0.5, grade_pool: str = "global") -> SIJResNet:
    """ResNet-18 layout with a 64-unit head: the same code path as ``resnet50-sij``, for tests only."""
    return SIJResNet(BasicBlock, [1, 1, 1, 1], hidden=64, dropout=float(dropout), grade_head=bool(grade_head),
                     grade_pool=grade_pool)


@register_arch("local-resnet")
def local_resnet(*, grade_head: bool = False, dropout: float = 0.5, grade_pool: str = "global") -> SIJResNet:
    """``tiny-resnet`` cut after its second stage: a 51-pixel receptive field (module docstring)."""
    return SIJResNet(BasicBlock, [1, 1, 1, 1], hidden=64, dropout=float(dropout), grade_head=bool(grade_head),
                     stages=2, grade_pool=grade_pool)


class SeedEnsemble(nn.Module):
    """Classifiers trained alike from different seeds, run as one network: their binary logits and (when
    every member has one) their cumulative grade logits are averaged.

    A deep ensemble (Lakshminarayanan et al. 2017), the way nnU-Net ensembles its folds: independently
    trained networks err differently, most of all on data unlike their training data (Ovadia et al.
    2019), so their average ranks and calibrates better than a member and moves less with the seed.
    Logits, not probabilities, are averaged so that the ensemble is one network to every caller
    (temperature, grade decoding, ONNX export, Grad-CAM: :func:`sijscan.predict.gradcam.target_layers`).
    """

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two members, got {len(members)}")
        self.members = nn.ModuleList(members)
        heads = [getattr(m, "grade_head", None) is not None for m in members]
        self._grades = all(heads)

    @property
    def grade_head(self) -> nn.Module | None:
        """The first member's grade head when every member has one (callers test it against None)."""
        return self.members[0].grade_head if self._grades else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(dim=0)

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        outs = [m.forward_all(x) for m in self.members]
        logits = torch.stack([o[0] for o in outs]).mean(dim=0)
        grades = torch.stack([o[1] for o in outs]).mean(dim=0) if self._grades else None
        return logits, grades


@register_arch("seed-ensemble")
def seed_ensemble(*, members: list[dict[str, Any]]) -> SeedEnsemble:
    """``members``: each ``{"arch": name, "init_args": {...}}`` of a registered classifier network."""
    if not isinstance(members, list) or not all(isinstance(m, dict) and "arch" in m for m in members):
        raise ModelError("seed-ensemble: init_args.members must be a list of {arch, init_args}")
    if any(m["arch"] == "seed-ensemble" for m in members):
        raise ModelError("seed-ensemble: a member cannot itself be an ensemble")
    return SeedEnsemble([build_network(m["arch"], m.get("init_args") or {}) for m in members])
