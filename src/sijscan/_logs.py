"""Logging hygiene for third-party libraries that configure logging themselves."""
from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Iterator

_LIGHTNING = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")


def follow_our_logging() -> None:
    """Make Lightning log through the application's handlers at the application's level.

    On import, Lightning sets its loggers to INFO and attaches its own stream handler to the
    ``lightning`` logger, which also propagates to the root handler: every line appears twice, and
    at INFO even when sijscan runs at WARNING (``-v`` shows INFO). When the root logger has handlers
    (the CLI configures them), Lightning's own stream handlers are removed and its loggers follow the
    root level; a program that configured no logging keeps Lightning's defaults.
    """
    root = logging.getLogger()
    if not root.handlers:
        return
    for name in _LIGHTNING:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:
                logger.removeHandler(handler)
        logger.setLevel(root.level)


LEAFSPEC_WARNING = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
"""torch >= 2.10 deprecates ``LeafSpec``; Lightning 2.6's data-loader flattening still builds one on
every ``fit``/``predict`` (lightning/pytorch/utilities/_pytree.py). Nothing a user can act on."""


@contextlib.contextmanager
def lightning_fit_warnings() -> Iterator[None]:
    """Around ``Trainer.fit``/``predict`` only: hide that ONE FutureWarning; every other warning shows."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=LEAFSPEC_WARNING, category=FutureWarning)
        yield
