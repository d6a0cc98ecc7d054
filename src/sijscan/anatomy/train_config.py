"""The segmenter's training settings and their defaults: the ONE place they are written.

``sijscan train-segmenter``'s options and the study config's ``segmenter.train`` keys take their
defaults from :class:`TrainConfig` (this module imports no torch, so reading it is cheap).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


BORDER_MODES = ("keep", "fill")
"""A segmenter recipe's ``border``: "keep" (the radiograph as it is; every card before the key) or "fill" (a
flat collimated border (white or black) found in the image is filled from the field's edge and the labels are
cut back to the field: :mod:`sijscan.anatomy.border`). Here, not in the recipe module, so that the CLI's
parser reads it without numpy."""


@dataclass
class TrainConfig:
    arch: str = "unet-default"
    epochs: int = 50
    batch_size: int = 8
    size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    devices: int = 1
    accelerator: str = "auto"
    max_images: int | None = None
    seed: int = 0
    val_frac: float = 0.15
    progress: bool | None = None  # None: shown in a terminal, not in CI/logs (sijscan._progress)
    stop_after_epochs: int | None = None  # stop early (checkpointed) to continue later with resume
    augment: str = "basic"  # none | basic | strong (sijscan.anatomy.augment)
    extra_manifest: str | None = None  # a second training manifest (e.g. CT-route renders)
    extra_weight: float = 0.5  # share of each epoch's draws taken from extra_manifest
    precision: str = "auto"  # auto | 32 | bf16 (sijscan.devices.PRECISIONS)
    # True: where a manifest row has a ``field_box`` (sijscan's phantom writes one: the exposed field inside the
    # collimation), labels outside it become background, so the network learns the bone the radiograph shows
    # rather than guessing bone behind the collimator (sijscan.anatomy.metrics.visible_labels)
    visible_only: bool = False
    # > 0 (with augment "strong" and visible_only): the share of training images given a random collimation, a flat
    # border beyond a random edge with the labels cut there (sijscan.anatomy.augment); 0: off, as every model before it
    collimate: float = 0.0
    # the card's recipe.border (sijscan.anatomy.border): "fill" (default since session 19): whenever the model runs,
    # a flat collimated border (white or black) the image shows is filled from the exposed field's edge before the
    # network sees it, and the labels are cut back to that field; "keep": the radiograph as it is (every model before)
    border: str = "fill"
    # True: the training images are filled as well (measured in session 19 and not adopted: docs/performance.md,
    # "Sim-to-real"); False: the network learns from the radiographs as they are
    border_in_training: bool = False


def train_default(name: str) -> Any:
    """The default of ``TrainConfig.<name>``."""
    for f in fields(TrainConfig):
        if f.name == name:
            return f.default
    raise KeyError(name)
