"""SIGTERM and SIGINT for every command: exit 143 / 130 with one line, whoever caught the signal first.

``timeout``, SLURM time limits, Kubernetes and ``kill`` send SIGTERM; Ctrl-C sends SIGINT. Python's
default lets SIGTERM kill the process, but Lightning installs its own SIGTERM handler and turns
the signal into ``SIGTERMException`` (a ``SystemExit`` *without a code*: exit 0, as if training had
finished), and turns ``KeyboardInterrupt`` into ``sys.exit(1)``. So ``install`` replaces both
handlers while a command runs (:func:`handled`): the signal is recorded and raised as :class:`Terminated` (SIGTERM)
or ``KeyboardInterrupt`` (SIGINT); Lightning keeps calling the recorded handler after its own, so
the exception reaches training too. :func:`exit_code` then maps whatever came out of the command
(our exception, Lightning's ``SystemExit``) to 128 + the signal number.

Child processes (DataLoader workers, simulation workers) inherit the handler; there the signal
takes its default action (the parent reports it).
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from types import FrameType
from typing import Iterator

_main_pid: int | None = None
_received: list[int] = []


class Terminated(BaseException):
    """SIGTERM arrived (a ``BaseException``: ``except Exception`` blocks do not swallow it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def _handler(signum: int, frame: FrameType | None) -> None:
    if os.getpid() != _main_pid:  # a forked worker: the default action
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _received.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Handle SIGTERM and SIGINT in this (main) process while the block runs; the handlers in place
    before come back afterwards. Outside the main thread nothing changes."""
    global _main_pid
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    _main_pid = os.getpid()
    _received.clear()
    for sig in before:
        signal.signal(sig, _handler)
    try:
        yield
    finally:
        for sig, old in before.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def received() -> int | None:
    """The first signal recorded since :func:`install`, or None."""
    return _received[0] if _received else None


def exit_code(exc: BaseException) -> int | None:
    """128 + the signal behind ``exc`` (our exceptions, or Lightning's ``SystemExit`` after a signal),
    None when ``exc`` did not come from a signal."""
    if isinstance(exc, Terminated):
        return 128 + exc.signum
    sig = received()
    if isinstance(exc, KeyboardInterrupt):
        return 128 + (sig or signal.SIGINT)
    if isinstance(exc, SystemExit) and sig is not None:
        return 128 + sig
    return None


def message(code: int) -> str:
    name = signal.Signals(code - 128).name
    return "interrupted (SIGINT)" if name == "SIGINT" else f"terminated by {name}"
