"""Lightning's own logging set-up is folded into the application's."""
from __future__ import annotations

import io
import logging

import pytest

from sijscan._logs import _LIGHTNING, follow_our_logging


@pytest.fixture
def lightning_like_logging():
    """Root at WARNING with one handler; Lightning's loggers as `import lightning` leaves them."""
    root = logging.getLogger()
    loggers = [logging.getLogger(n) for n in _LIGHTNING]
    saved = [(lg, list(lg.handlers), lg.level) for lg in [root, *loggers]]
    stream = io.StringIO()
    root.handlers = [logging.StreamHandler(stream)]
    root.setLevel(logging.WARNING)
    for lg in loggers:
        lg.handlers = []
        lg.setLevel(logging.INFO)
    loggers[0].handlers = [logging.StreamHandler(stream)]  # the handler `import lightning` adds
    yield stream
    for lg, handlers, level in saved:
        lg.handlers = handlers
        lg.setLevel(level)


def test_lightning_info_is_dropped_at_warning_and_warnings_appear_once(lightning_like_logging: io.StringIO) -> None:
    logging.getLogger("lightning.pytorch.utilities.rank_zero").info("GPU available: False")
    assert lightning_like_logging.getvalue().count("GPU available") == 2  # the problem: twice, at INFO
    lightning_like_logging.truncate(0)
    lightning_like_logging.seek(0)
    follow_our_logging()
    logging.getLogger("lightning.pytorch.utilities.rank_zero").info("GPU available: False")
    logging.getLogger("lightning.pytorch").warning("something odd")
    out = lightning_like_logging.getvalue()
    assert "GPU available" not in out and out.count("something odd") == 1


def test_without_configured_logging_lightning_keeps_its_defaults(lightning_like_logging: io.StringIO) -> None:
    root, lg = logging.getLogger(), logging.getLogger("lightning")
    root.handlers = []
    handlers = list(lg.handlers)
    follow_our_logging()
    assert lg.handlers == handlers and lg.level == logging.INFO
