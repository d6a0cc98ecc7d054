"""Anatomy-adversarial training: features that do not tell which anatomy a view shows.

With only a few real anatomies (the shared CTs) in training, a classifier can learn each anatomy's
normal joint as a template and call whatever departs from it diseased, which an unseen anatomy always
does. Domain-adversarial training (Ganin & Lempitsky 2015, "Unsupervised domain adaptation by
backpropagation") adds a small head that predicts the anatomy from the pooled features through a
gradient reversal: the head learns to tell the anatomies apart, the backbone is pushed to make that
impossible. The head lives in the training module only; the saved network is unchanged.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, coeff: float) -> torch.Tensor:  # type: ignore[override]
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.coeff * grad, None


def reverse_gradient(x: torch.Tensor, coeff: float) -> torch.Tensor:
    """Identity forward; the gradient multiplied by ``-coeff`` backward."""
    return _Reverse.apply(x, float(coeff))


def reversal_ramp(progress: float, *, gamma: float = 10.0) -> float:
    """DANN's schedule of the reversal's strength: 0 at the start of training, near 1 by its end."""
    p = min(max(float(progress), 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


class DomainHead(nn.Module):
    """Pooled features -> anatomy logits, behind a gradient reversal."""

    def __init__(self, n_features: int, n_domains: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, n_domains))

    def forward(self, features: torch.Tensor, coeff: float) -> torch.Tensor:
        return self.net(reverse_gradient(features, coeff))
