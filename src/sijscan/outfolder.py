"""Output folders of every command, checked before any work: one line when one cannot be written.

``check_out_dir(path)`` runs before a command starts (``sijscan.cli.main`` calls it for every
``--out``), so a read-only file system, a folder without write permission or a file standing where
the folder should be is said at once in one line, not after minutes of training and never as a
traceback. Nothing is created here; the command creates the folder when it writes.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

from sijscan.errors import InputError


CANNOT = "cannot create or write the output folder"


class OutputFolderError(InputError):
    """An output folder cannot be created or written, or holds a file sijscan will not overwrite."""


def _why_not_writable(folder: Path) -> str:
    """The reason ``folder`` (an existing folder) cannot be written, with its errno."""
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        read_only = False
    code = errno.EROFS if read_only else errno.EACCES
    return f"{os.strerror(code)}, errno {code}, {errno.errorcode[code]}"


def check_out_dir(path: str | os.PathLike[str], *, flag: str = "--out") -> Path:
    """Raise :class:`OutputFolderError` (one line) when ``path`` cannot become or be a writable folder."""
    out = Path(path)
    if out.exists():
        if not out.is_dir():
            raise OutputFolderError(f"{flag} {out}: exists and is not a folder; give a folder (new or from an earlier run)")
        if not os.access(out, os.W_OK | os.X_OK):
            raise OutputFolderError(f"{flag} {out}: {CANNOT} ({_why_not_writable(out)})")
        return out
    parent = out.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        code = errno.ENOTDIR
        raise OutputFolderError(f"{flag} {out}: {CANNOT} ({parent} is a file: {os.strerror(code)}, "
                                f"errno {code}, {errno.errorcode[code]})")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputFolderError(f"{flag} {out}: {CANNOT} ({parent}: {_why_not_writable(parent)})")
    return out


def check_out_file(path: str | os.PathLike[str], *, flag: str = "--out") -> Path:
    """Raise :class:`OutputFolderError` (one line) when the file ``path`` cannot be written
    (a folder standing there, or a folder above it that cannot be created or written)."""
    out = Path(path)
    if out.is_dir():
        raise OutputFolderError(f"{flag} {out}: is a folder; give a file name")
    check_out_dir(out.absolute().parent, flag=flag)
    return out
