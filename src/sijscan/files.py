"""Writing files so a crash never leaves half a file, and hashing files: one helper each.

:func:`atomic_write` writes bytes or text to a temporary file beside the target and renames it into
place (``os.replace``: atomic on one file system), with the permissions ``open`` would give.
:func:`atomic_path` does the same for writers that want a path (safetensors, ONNX export).
:func:`file_digest` is the hex digest (sha256 unless told) of a file, read in blocks.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _create_beside(target: Path) -> Path:
    """A new empty file beside ``target`` (the umask applies, as for ``open``), its name unused before."""
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file beside {target}")


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, fsync: bool = False, mode: int | None = None) -> Iterator[Path]:
    """A temporary path beside ``path``: write to it inside the ``with``; on success it replaces
    ``path``, on any error it is removed and ``path`` is left as it was. ``fsync``: flush the file
    to the disk before the rename (durable across a power cut, slower). ``mode``: the file's
    permissions (default: what ``open`` gives, 0o666 less the umask)."""
    target = Path(path)
    tmp = _create_beside(target)
    # the mode open() gave (0o666 less the umask), read back rather than from os.umask (not thread-safe);
    # writers that replace the file themselves (safetensors writes a fresh 0600 file) get it back below
    wanted = stat.S_IMODE(tmp.stat().st_mode) if mode is None else mode
    try:
        yield tmp
        if stat.S_IMODE(tmp.stat().st_mode) != wanted:
            os.chmod(tmp, wanted)
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes | str, *, encoding: str = "utf-8",
                 fsync: bool = False, mode: int | None = None) -> Path:
    """Write ``data`` (text is encoded with ``encoding``) to ``path`` atomically; return the path."""
    payload = data.encode(encoding) if isinstance(data, str) else data
    with atomic_path(path, fsync=fsync, mode=mode) as tmp:
        tmp.write_bytes(payload)
    return Path(path)


def file_digest(path: str | os.PathLike[str], *, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """The hex digest of the file at ``path`` (``algorithm`` as :func:`hashlib.new` names it)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
