"""Per-side grade conventions shared by training and prediction (torch only: no torchvision, no Lightning).

Kept apart from ``networks.py`` and ``module.py`` so that prediction, which needs only these, does
not import torchvision's model zoo and Lightning (together ~400 MB of resident memory).
"""
from __future__ import annotations

import torch

SIDE_ORDER = ("left", "right")
"""Order of the two sides in the grade head's outputs: the patient's left, then the patient's right."""


def grades_from_cumulative(cum_logits: torch.Tensor) -> torch.Tensor:
    """Predicted grade per side = number of thresholds passed (P(grade > k) >= 0.5)."""
    return (torch.sigmoid(cum_logits.float()) >= 0.5).sum(-1)
