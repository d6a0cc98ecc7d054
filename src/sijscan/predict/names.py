"""How an input file is named and recognised in predict's outputs.

``printable_name``: the name as text any output can hold (bytes that are not UTF-8 and control
characters as ``\\xNN``). ``safe_stem``: the file-name stem of an image's files in ``images/``,
never shared by two names. ``file_stamp``: size and modification time, compared on resume.
``folder_files``: the files of an input folder, broken links included (they become error rows).
``hide_path``: an error message with the file's path replaced by its output name.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path


def printable_name(name: str) -> str:
    """``name`` as text every output can hold: bytes that are not UTF-8 and control characters as ``\\xNN``."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", text)


def hide_path(message: str, *, path: Path, name: str) -> str:
    """``message`` with the file's path (as given, absolute or resolved) replaced by its output
    ``name``, printable: no folder names leak into outputs."""
    for form in sorted({str(path), str(resolved(path)), os.fspath(path)}, key=len, reverse=True):
        message = message.replace(form, name)
    return printable_name(message)


def resolved(path: Path) -> Path:
    """``path.resolve()``, or its absolute form for a symlink loop or an unreadable link."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def file_stamp(path: Path) -> str:
    """``"size:mtime_ns"`` of a file ("" when it cannot be read): resuming redoes an image whose stamp changed."""
    try:
        st = path.stat()
    except (OSError, ValueError):
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


def folder_files(folder: Path) -> list[Path]:
    """Regular files under ``folder`` plus broken links (dangling or loops), which become error rows."""
    found = []
    for q in folder.rglob("*"):
        try:
            if q.is_file() or (q.is_symlink() and not q.exists()):
                found.append(q)
        except OSError:
            found.append(q)
    return sorted(found)


_PLAIN_STEM = re.compile(r"[a-z0-9][a-z0-9._-]{0,149}")


def safe_stem(image: str) -> str:
    """The file-name stem of an image's outputs in ``images/``; two different names never share one.

    A name of lower-case letters, digits, ``.``, ``_`` and ``-`` (at most 150, not starting with
    ``.``/``_``/``-``) is its own stem. Any other name (a path with ``/``, capitals, spaces, other
    bytes) becomes a sanitised prefix, ``+`` and 12 hex digits of the name's SHA-256: ``+`` never
    occurs in a plain stem, so a plain and a hashed stem cannot collide, and lower case keeps names
    apart on case-insensitive file systems too.
    """
    if _PLAIN_STEM.fullmatch(image):
        return image
    clean = re.sub(r"[^a-z0-9._-]+", "_", image.lower()).strip("._-")[:120] or "image"
    digest = hashlib.sha256(image.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{clean}+{digest}"
