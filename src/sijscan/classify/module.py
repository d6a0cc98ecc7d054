"""LightningModule of one training phase: loss (label smoothing, mixup, ordinal grades), MCC, LRs.

* Loss: cross-entropy with label smoothing on mixup pairs, ``lam * CE(y_a) + (1 - lam) * CE(y_b)``;
  with a grade head, plus ``grade_weight`` x the CORAL loss (mean binary cross-entropy of the 4
  cumulative logits per side), mixed the same way; sides with unknown grade (-1) are ignored.
* Validation MCC on the SOFTMAX decision (argmax, i.e. p1 >= 0.5), from all validation images
  (gathered across DDP ranks). Not the per-column sigmoid of the logits (the authors' bug).
* Anatomy-adversarial (``domain_weight`` > 0 with >= 2 anatomies): plus ``domain_weight`` x the
  cross-entropy of a :class:`~sijscan.classify.domain.DomainHead` behind a gradient reversal (DANN's
  ramp over the phase), mixed the same way; rows of unknown anatomy (-1) ignored.
* Discriminative LRs: one AdamW parameter group per top-level block (stem, layer1..4, head), the
  rate multiplied by ``lr_block_factor`` per block going from the head back to the stem; the
  head-only phase optimises the head group alone with the backbone frozen. One-cycle per phase.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from sijscan.classify.augment import AugmentSpec, augment_batch, mix_tiles, sample_mixup
from sijscan.classify.domain import DomainHead, reversal_ramp
from sijscan.classify.grades import grades_from_cumulative  # noqa: F401 - re-exported
from sijscan.classify.networks import SIJResNet, block_groups, head_parameters
from sijscan.devices import adamw

log = logging.getLogger(__name__)


def mcc_from_decisions(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Matthews correlation of binary decisions; 0.0 when undefined (a constant row or column)."""
    y, p = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    tp, tn = float(np.sum(y & p)), float(np.sum(~y & ~p))
    fp, fn = float(np.sum(~y & p)), float(np.sum(y & ~p))
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / den) if den > 0 else 0.0


def softmax_decision_mcc(logits: torch.Tensor, y_true: torch.Tensor) -> float:
    """MCC of argmax(softmax(logits)) against the labels (the proper selection metric)."""
    pred = logits.float().argmax(dim=1)
    return mcc_from_decisions(y_true.cpu().numpy(), pred.cpu().numpy())


def mixup_cross_entropy(logits: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor, lam: float, *,
                        label_smoothing: float) -> torch.Tensor:
    ce_a = F.cross_entropy(logits.float(), y_a, label_smoothing=label_smoothing)
    ce_b = F.cross_entropy(logits.float(), y_b, label_smoothing=label_smoothing)
    return lam * ce_a + (1.0 - lam) * ce_b


def coral_loss(cum_logits: torch.Tensor, grades: torch.Tensor) -> torch.Tensor:
    """Mean BCE of ``(N, sides, 4)`` cumulative logits vs ``grade > k``; sides with grade < 0 ignored."""
    known = grades >= 0
    if not bool(known.any()):
        return cum_logits.sum() * 0.0
    ks = torch.arange(cum_logits.shape[-1], device=grades.device)
    target = (grades.unsqueeze(-1) > ks).float()
    bce = F.binary_cross_entropy_with_logits(cum_logits.float(), target, reduction="none").mean(-1)
    return bce[known].mean()


def block_learning_rates(max_lr: float, factor: float, n_groups: int) -> list[float]:
    """Rates from the stem (first) to the head (last): ``max_lr * factor ** (distance from head)``."""
    return [max_lr * factor ** (n_groups - 1 - i) for i in range(n_groups)]


class ClassifierModule(L.LightningModule):
    def __init__(self, network: SIJResNet, *, phase: str, max_lr: float, label_smoothing: float = 0.01,
                 mixup_alpha: float = 0.4, weight_decay: float = 1e-4, lr_block_factor: float = 0.9,
                 augment: AugmentSpec | None = None, grade_weight: float = 0.5,
                 channels_last: bool = False, domain_weight: float = 0.0, n_domains: int = 0) -> None:
        super().__init__()
        self.model = network
        self.phase, self.max_lr = phase, float(max_lr)
        self.label_smoothing, self.mixup_alpha = label_smoothing, mixup_alpha
        self.weight_decay, self.lr_block_factor = weight_decay, lr_block_factor
        self.augment = augment if augment is not None else AugmentSpec()
        self.grade_weight, self.channels_last = grade_weight, channels_last
        self.domain_weight = float(domain_weight)
        self.domain_head = (DomainHead(network.n_features, int(n_domains))
                            if self.domain_weight > 0 and n_domains >= 2 else None)
        self._val_logits: list[torch.Tensor] = []
        self._val_y: list[torch.Tensor] = []
        self._epoch_t0 = 0.0
        self._epoch_images = 0
        self.images_per_s: list[float] = []
        self._freeze_for_phase()

    def _freeze_for_phase(self) -> None:
        head = {id(p) for p in head_parameters(self.model)}
        for p in self.model.parameters():
            p.requires_grad_(self.phase == "all" or id(p) in head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def on_train_epoch_start(self) -> None:
        self._epoch_t0, self._epoch_images = time.perf_counter(), 0

    def on_train_epoch_end(self) -> None:
        dt = time.perf_counter() - self._epoch_t0
        if dt > 0 and self._epoch_images:
            self.images_per_s.append(self._epoch_images * self.trainer.world_size / dt)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x, y, grades, *rest = batch
        has_grades = self.model.grade_head is not None
        x, grades = augment_batch(self._prep(x), grades if has_grades else None, self.augment)
        x, y, grades = mix_tiles(x, y, grades, self.augment.p_tile_mix)
        lam, perm = sample_mixup(x.shape[0], self.mixup_alpha)
        perm = perm.to(x.device)
        if lam < 1.0:
            x = lam * x + (1.0 - lam) * x[perm]
        logits, cum, f = self.model.heads(self.model.feature_map(x))
        loss = mixup_cross_entropy(logits, y, y[perm], lam, label_smoothing=self.label_smoothing)
        if cum is not None and grades is not None:
            g_loss = lam * coral_loss(cum, grades) + (1.0 - lam) * coral_loss(cum, grades[perm])
            loss = loss + self.grade_weight * g_loss
        if self.domain_head is not None and rest:
            loss = loss + self.domain_weight * self._domain_loss(f, rest[0], perm, lam)
        self._epoch_images += x.shape[0]
        if self._trainer is not None:
            self.log("train_loss", loss, prog_bar=False, on_step=False, on_epoch=True, batch_size=x.shape[0])
        return loss

    def _domain_loss(self, f: torch.Tensor, domains: torch.Tensor, perm: torch.Tensor, lam: float) -> torch.Tensor:
        """The anatomy head's mixup cross-entropy (unknown anatomy -1 ignored), reversal ramped over the phase."""
        total = max(int(self.trainer.estimated_stepping_batches), 1) if self._trainer is not None else 1
        d_logits = self.domain_head(f, reversal_ramp(self.global_step / total)).float()  # type: ignore[misc]
        if not bool((domains >= 0).any()):
            return d_logits.sum() * 0.0
        ce_a = F.cross_entropy(d_logits, domains, ignore_index=-1)
        ce_b = F.cross_entropy(d_logits, domains[perm], ignore_index=-1) if bool((domains[perm] >= 0).any()) else ce_a
        return lam * ce_a + (1.0 - lam) * ce_b

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        x, y, *_ = batch
        self._val_logits.append(self.model(self._prep(x)).float().detach())
        self._val_y.append(y.detach())

    def on_validation_epoch_end(self) -> None:
        if not self._val_logits:
            return
        logits, y = torch.cat(self._val_logits), torch.cat(self._val_y)
        self._val_logits, self._val_y = [], []
        if self.trainer.world_size > 1:
            logits = self.all_gather(logits).reshape(-1, logits.shape[-1])
            y = self.all_gather(y).reshape(-1)
        mcc = softmax_decision_mcc(logits, y)
        self.log("val_mcc", mcc, prog_bar=True, sync_dist=False, rank_zero_only=False)

    def configure_optimizers(self) -> Any:
        groups = block_groups(self.model)
        rates = block_learning_rates(self.max_lr, self.lr_block_factor, len(groups))
        if self.phase == "head":
            groups, rates = groups[-1:], rates[-1:]
        params = [{"params": ps, "lr": lr, "name": name} for (name, ps), lr in zip(groups, rates)]
        if self.domain_head is not None:
            params.append({"params": list(self.domain_head.parameters()), "lr": rates[-1], "name": "domain_head"})
        opt = adamw(params, lr=rates[-1], weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=[g["lr"] for g in params], total_steps=max(int(self.trainer.estimated_stepping_batches), 1))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
