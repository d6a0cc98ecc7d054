"""Resumable download (sijscan.io.download) against a local HTTP server on 127.0.0.1; no other network."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterator

import pytest
from local_http import FileServer, refused_url

from sijscan.errors import ChecksumError, DownloadError, OfflineError
from sijscan.io.download import cache_dir, download

DATA = os.urandom(3 * (1 << 20) + 12345)  # > 3 chunks, so a cut lands mid-file
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture()
def server() -> Iterator[FileServer]:
    with FileServer({"w.bin": DATA}) as srv:
        yield srv


def test_full_download_verified_and_recorded(server: FileServer, tmp_path: Path) -> None:
    got = download(server.url("w.bin"), tmp_path / "w.bin", sha256=SHA, progress=False)
    assert (tmp_path / "w.bin").read_bytes() == DATA
    assert (got.size, got.sha256, got.sha256_checked, got.resumed_from, got.cached) == (len(DATA), SHA, True, 0, False)
    assert not (tmp_path / "w.bin.part").exists()
    rec = json.loads((tmp_path / "w.bin.json").read_text())
    assert rec["url"] == server.url("w.bin") and rec["size"] == len(DATA) and rec["sha256"] == SHA
    # a second call finds it in the cache without asking the server
    again = download(server.url("w.bin"), tmp_path / "w.bin", progress=False)
    assert again.cached and again.sha256 == SHA and len(server.requests) == 1
    with pytest.raises(DownloadError, match="HTTP 404"):  # the record names another URL: ask the server
        download(server.url("other.bin"), tmp_path / "w.bin", progress=False)


def test_interrupted_download_resumes_without_resending(server: FileServer, tmp_path: Path) -> None:
    cut = (1 << 20) + 777
    server.cut_after["w.bin"] = cut
    with pytest.raises(DownloadError, match="connection lost after .*run again to resume"):
        download(server.url("w.bin"), tmp_path / "w.bin", retries=0, progress=False)
    assert (tmp_path / "w.bin.part").stat().st_size == cut and not (tmp_path / "w.bin").exists()
    got = download(server.url("w.bin"), tmp_path / "w.bin", sha256=SHA, progress=False)
    assert (tmp_path / "w.bin").read_bytes() == DATA and got.resumed_from == cut
    assert server.requests[-1] == ("w.bin", f"bytes={cut}-", 206)
    assert server.sent["w.bin"] == len(DATA)  # the first `cut` bytes were sent once, not twice


def test_cut_connection_is_resumed_within_one_call(server: FileServer, tmp_path: Path) -> None:
    server.cut_after["w.bin"] = 5000
    got = download(server.url("w.bin"), tmp_path / "w.bin", sha256=SHA, retries=1, progress=False)
    assert got.size == len(DATA) and server.sent["w.bin"] == len(DATA)
    assert [r[1] for r in server.requests] == [None, "bytes=5000-"]


def test_server_ignoring_range_restarts_cleanly(server: FileServer, tmp_path: Path) -> None:
    server.ignore_range = True
    (tmp_path / "w.bin.part").write_bytes(b"x" * 4096)  # not even a prefix of the file
    got = download(server.url("w.bin"), tmp_path / "w.bin", sha256=SHA, progress=False)
    assert (tmp_path / "w.bin").read_bytes() == DATA and server.requests == [("w.bin", "bytes=4096-", 200)]
    assert got.size == len(DATA)


def test_partial_file_longer_than_the_file_starts_over(server: FileServer, tmp_path: Path) -> None:
    (tmp_path / "w.bin.part").write_bytes(b"y" * (len(DATA) + 10))
    download(server.url("w.bin"), tmp_path / "w.bin", sha256=SHA, progress=False)
    assert (tmp_path / "w.bin").read_bytes() == DATA
    assert [r[2] for r in server.requests] == [416, 200]


def test_http_404_is_a_download_error(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(server.url("missing.bin"), tmp_path / "m.bin", progress=False)
    assert not (tmp_path / "m.bin").exists()


def test_connection_refused_is_offline(tmp_path: Path) -> None:
    with pytest.raises(OfflineError, match="cannot reach the server"):
        download(refused_url(), tmp_path / "x.bin", progress=False)


def test_wrong_sha256_removes_the_partial_file(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(ChecksumError, match="sha256"):
        download(server.url("w.bin"), tmp_path / "w.bin", sha256="0" * 64, progress=False)
    assert not (tmp_path / "w.bin").exists() and not (tmp_path / "w.bin.part").exists()


def test_no_progress_bar_when_not_a_terminal(server: FileServer, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    download(server.url("w.bin"), tmp_path / "w.bin", progress=None)
    assert capsys.readouterr().err == ""
    download(server.url("w.bin"), tmp_path / "v.bin", progress=True)
    assert "w.bin" in capsys.readouterr().err  # the bar, when asked for


def test_only_http_urls(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="only http"):
        download("file:///etc/passwd", tmp_path / "x", progress=False)


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SIJSCAN_CACHE", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "sijscan"
    monkeypatch.setenv("SIJSCAN_CACHE", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(tmp_path / "arg") == tmp_path / "arg"
