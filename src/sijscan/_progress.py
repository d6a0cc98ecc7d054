"""Progress on the long stages: shown in a terminal, quiet in CI and in logs.

One rule decides (:func:`progress_enabled`): an explicit ``--progress`` / ``--no-progress`` wins;
otherwise progress is shown when stderr is a terminal and the ``CI`` environment variable is not
set to a true value. Counters (cohort generation, prediction, bootstrap) are tqdm bars on stderr
(:func:`progress_bar`); training shows one bar per ``Trainer.fit`` through ONE Lightning callback
(:func:`training_progress`) shared by the segmenter and the classifier trainers: steps with ETA, and
the epoch, the training loss and the validation metric as they become known.
"""
from __future__ import annotations

import functools
import math
import os
import sys
from typing import Any

TRUE_VALUES = ("1", "true", "yes", "on")


def progress_enabled(flag: bool | None = None) -> bool:
    """``flag`` when given; else True when stderr is a TTY and ``CI`` is not set to a true value."""
    if flag is not None:
        return bool(flag)
    if os.environ.get("CI", "").strip().lower() in TRUE_VALUES:
        return False
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stderr
        return False


def progress_bar(*, total: int, desc: str, enabled: bool | None = None, unit: str = "it") -> Any:
    """A tqdm bar on stderr (a no-op object with the same methods when progress is off)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not progress_enabled(enabled),
                dynamic_ncols=True, leave=True)


def _number(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@functools.cache
def _callback_class() -> type:
    """The callback class, built on first use (importing Lightning costs seconds; the counters do not need it)."""
    from lightning.pytorch.callbacks import Callback

    class TrainingProgress(Callback):
        """One bar per fit over the training steps (ETA by tqdm); epoch, loss and ``monitor`` as postfix."""

        def __init__(self, *, monitor: str, desc: str, enabled: bool) -> None:
            self.monitor, self.desc, self.enabled = monitor, desc, enabled
            self.bar: Any = None

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            if not trainer.is_global_zero:
                return
            steps = _number(trainer.estimated_stepping_batches)
            total = int(steps) if steps is not None else None
            self.bar = progress_bar(total=total or 0, desc=self.desc, enabled=self.enabled, unit="step")
            self.bar.n = int(trainer.global_step)  # resumed fits start where they stopped
            self._postfix(trainer)

        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            if self.bar is not None:
                self.bar.update(1)

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self._postfix(trainer)

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            self._postfix(trainer)

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            self._postfix(trainer)

        def on_train_end(self, trainer: Any, pl_module: Any) -> None:
            if self.bar is not None:
                self._postfix(trainer)
                self.bar.close()
                self.bar = None

        def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
            if self.bar is not None:
                self.bar.close()
                self.bar = None

        def _postfix(self, trainer: Any) -> None:
            if self.bar is None:
                return
            metrics = trainer.callback_metrics
            parts = {"epoch": f"{min(trainer.current_epoch + 1, trainer.max_epochs)}/{trainer.max_epochs}"}
            for key, name in (("train_loss", "loss"), (self.monitor, self.monitor)):
                value = _number(metrics.get(key)) if key in metrics else None
                if value is not None:
                    parts[name] = f"{value:.4f}"
            self.bar.set_postfix(parts, refresh=True)

    return TrainingProgress


def training_progress(*, monitor: str, desc: str = "train", enabled: bool | None = None) -> Any:
    """The Lightning callback both trainers pass to ``Trainer(callbacks=...)``; pair it with
    ``enable_progress_bar=False`` (Lightning's own bar would duplicate it)."""
    return _callback_class()(monitor=monitor, desc=desc, enabled=progress_enabled(enabled))


def add_progress_flag(parser: Any) -> None:
    """``--progress`` / ``--no-progress`` on an argparse parser (default: auto, see :func:`progress_enabled`)."""
    import argparse

    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bars on stderr (default: shown when stderr is a terminal and CI is not set)")
