"""The one atomic write, the one file digest and the one ``one_line`` every module uses."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from sijscan.errors import CorruptImageError, one_line
from sijscan.files import atomic_path, atomic_write, file_digest


def test_atomic_write_replaces_whole_files_with_the_usual_permissions(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_text("old")
    old_umask = os.umask(0o027)
    try:
        atomic_write(target, "näw\n")
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == "näw\n".encode("utf-8")
    assert oct(target.stat().st_mode & 0o777) == "0o640"  # 0o666 less the umask, as open() gives
    atomic_write(target, b"\x00\x01", mode=0o644)
    assert target.read_bytes() == b"\x00\x01" and oct(target.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "w.safetensors"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError, match="disk"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]


def test_file_digest_is_hashlib_over_the_bytes(tmp_path: Path) -> None:
    p = tmp_path / "x.bin"
    data = os.urandom(3 * 1024 + 7)
    p.write_bytes(data)
    assert file_digest(p, chunk=1000) == hashlib.sha256(data).hexdigest()
    assert file_digest(p, algorithm="sha1") == hashlib.sha1(data).hexdigest()


def test_one_line_collapses_names_foreign_errors_when_asked_and_stays_short() -> None:
    assert one_line(ValueError("bad\n  value\tthere")) == "bad value there"
    assert one_line(KeyError()) == "KeyError"
    assert one_line(ValueError("no positives"), name_foreign=True) == "ValueError: no positives"
    assert one_line(CorruptImageError("x.png: truncated"), name_foreign=True) == "x.png: truncated"
    long = one_line(OSError("y" * 1000))
    assert len(long) == 300 and long.endswith("...")
