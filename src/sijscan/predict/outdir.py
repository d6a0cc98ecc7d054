"""The output folder of a batch run: created with one-line errors, and locked while a run writes it.

``prepare_out_dir(out)`` makes ``out/images`` and turns every file-system failure (``--out`` is a
file, a parent cannot be created, no permission, read-only file system) into an
:class:`OutputFolderError` with one line. ``out_lock(out)`` holds ``out/.sijscan.lock`` with an
exclusive ``flock`` for the run; the file names the holder (host, pid, start time; no command line,
whose paths could name a patient) and is emptied when the run ends. A
second run into the same folder is refused with :class:`OutputLockedError` naming that holder.
The kernel drops the lock when the holding process dies (even by SIGKILL), so a crash leaves no
stale lock; the file itself may stay and is harmless.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sijscan import jsonio
from sijscan.errors import InputError
from sijscan.outfolder import OutputFolderError

log = logging.getLogger(__name__)

LOCK_NAME = ".sijscan.lock"


class OutputLockedError(InputError):
    """Another run is writing into the same output folder."""


def os_reason(exc: OSError) -> str:
    """``strerror`` of an ``OSError`` (one line), else its class name."""
    return exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]


def prepare_out_dir(out: Path) -> Path:
    """Create ``out/images``; return ``out/images``. Raise :class:`OutputFolderError` (one line) on failure."""
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"--out {out}: exists and is not a folder; give a folder (new or from an earlier run)")
    images = out / "images"
    try:
        images.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise OutputFolderError(f"--out {out}: cannot create or write the output folder ({os_reason(exc)})") from exc
    if not images.is_dir():
        raise OutputFolderError(f"--out {out}: {images} exists and is not a folder")
    return images


def _holder_text() -> str:
    # no command line: its paths could name a patient, and the file can outlive a killed run
    return jsonio.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                       "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "program": "sijscan"})


def _describe_holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8", errors="replace") or "{}")
    except (OSError, ValueError):
        return "another process"
    if not isinstance(info, dict):
        return "another process"
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')} since {info.get('since', '?')}"


@contextmanager
def out_lock(out: Path, *, created: bool = False) -> Iterator[None]:
    """Hold ``out/.sijscan.lock`` exclusively for the ``with`` block (see the module docstring).

    When the block fails, what only this run left (the lock file, an empty ``images/``, and ``out``
    itself when ``created`` says this run made it and it is empty now) is removed: a failed first
    run (a full disk, an interrupt) leaves no ``--out`` holding nothing but ``.sijscan.lock``.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock, say so
        log.warning("%s: file locking is not available on this system; do not run two predicts into it", out)
        yield
        return
    path = out / LOCK_NAME
    new_lock = not path.exists()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputFolderError(f"--out {out}: cannot create the lock file {LOCK_NAME} ({os_reason(exc)})") from exc
    ok = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            new_lock = False  # another run's lock: never remove it
            raise OutputLockedError(f"--out {out} is in use by another sijscan run: {_describe_holder(path)}; "
                                    "wait for it to finish or choose another --out") from exc
        except OSError as exc:
            raise OutputFolderError(f"--out {out}: cannot lock {LOCK_NAME} ({os_reason(exc)})") from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (_holder_text() + "\n").encode("utf-8", "backslashreplace"), 0)
        except OSError as exc:
            raise OutputFolderError(f"--out {out}: cannot write the lock file {LOCK_NAME} ({os_reason(exc)})") from exc
        try:
            yield
            ok = True
        finally:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
    finally:
        if not ok and new_lock:
            _remove_debris(out, path, created=created)
        os.close(fd)  # closing the descriptor releases the flock


def _remove_debris(out: Path, lock: Path, *, created: bool) -> None:
    """After a failed run: the lock file this run made, ``images/`` if empty, and when this run made
    ``out``: its ``run.json`` unless a row was written, then ``out`` itself if it is empty."""
    steps = [lock.unlink, (out / "images").rmdir]
    if created and not (out / "predictions.csv").exists():
        steps += [(out / "run.json").unlink, out.rmdir]
    for step in steps:
        try:
            step()
        except OSError:  # not empty, already gone, not ours to remove: leave it
            pass
