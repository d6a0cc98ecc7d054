"""Resumable HTTP(S) download into a cache folder, with size and sha256 checks (standard library only).

:func:`download` streams ``url`` into ``DEST.part``, asking for ``Range: bytes=N-`` when ``N`` bytes
are already there; a ``206`` reply appends, a ``200`` reply (the server ignored the range) starts
the file over. The size is checked against ``Content-Length`` / ``Content-Range``, the sha256
computed while streaming (and compared with ``sha256`` when one is given); only then is the file
renamed to ``DEST`` and a record ``DEST.json`` (url, size, sha256) written beside it, so a later
call finds it without the network. :func:`cache_dir` resolves the cache folder: argument, then the
environment variable ``SIJSCAN_CACHE``, then ``~/.cache/sijscan``.
"""
from __future__ import annotations

import datetime as _dt
import http.client
import json
import logging
import os
import re
import socket
import sys
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sijscan import jsonio
from sijscan.errors import ChecksumError, DownloadError, OfflineError
from sijscan.files import file_digest

log = logging.getLogger(__name__)

CACHE_ENV = "SIJSCAN_CACHE"
_CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class Downloaded:
    """A verified file: where it came from and what it is."""

    url: str
    path: Path
    size: int
    sha256: str
    sha256_checked: bool  # True when it matched a known value given by the caller
    resumed_from: int  # bytes that were already in DEST.part (0: fresh)
    cached: bool  # True: found complete in the cache, nothing fetched
    downloaded_utc: str

    def record(self) -> dict[str, Any]:
        """JSON-ready record for a model card's provenance."""
        rec = asdict(self)
        rec["path"] = str(self.path)
        return rec


def cache_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: ``explicit`` > ``$SIJSCAN_CACHE`` > ``~/.cache/sijscan`` (not created here)."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "sijscan"


def download(url: str, dest: str | os.PathLike[str], *, sha256: str | None = None, progress: bool | None = None,
             timeout: float = 30.0, retries: int = 2) -> Downloaded:
    """Fetch ``url`` to ``dest`` (resuming ``dest.part``); return the verified :class:`Downloaded`.

    ``progress``: show a tqdm bar on stderr (``None``: only when stderr is a terminal). ``retries``:
    how many times a body cut off part-way is resumed within this call. Raises :class:`OfflineError`
    when the server cannot be reached, :class:`DownloadError` on an HTTP error or a body cut off more
    often than ``retries`` (the ``.part`` file stays, so the next call resumes), and
    :class:`ChecksumError` on a wrong size or sha256 (the ``.part`` file is removed).
    """
    if not url.lower().startswith(("http://", "https://")):
        raise DownloadError(f"{url}: only http:// and https:// URLs can be downloaded")
    dest = Path(dest)
    want = sha256.lower() if sha256 else None
    if want is not None and not re.fullmatch(r"[0-9a-f]{64}", want):
        raise DownloadError(f"expected sha256 {sha256!r} is not 64 hexadecimal digits")
    cached = _from_cache(url, dest, want)
    if cached is not None:
        return cached
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    for attempt in range(retries + 1):
        try:
            total = _fetch_into(url, part, timeout=timeout, progress=progress)
            break
        except _Interrupted as exc:
            if attempt == retries:
                raise DownloadError(f"{url}: connection lost after {exc.have} of {exc.total or '?'} bytes "
                                    f"(kept in {part}; run again to resume)") from None
            log.warning("%s: connection lost after %d bytes; resuming", url, exc.have)
    size = part.stat().st_size
    if total is not None and size != total:
        part.unlink()
        raise ChecksumError(f"{url}: got {size} bytes, the server announced {total}; partial file removed")
    digest = file_digest(part)
    if want is not None and digest != want:
        part.unlink()
        raise ChecksumError(f"{url}: sha256 {digest} differs from the expected {want}; partial file removed")
    os.replace(part, dest)
    got = Downloaded(url=url, path=dest, size=size, sha256=digest, sha256_checked=want is not None,
                     resumed_from=start, cached=False,
                     downloaded_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    _record_path(dest).write_text(jsonio.dumps({k: v for k, v in got.record().items()
                                              if k in ("url", "size", "sha256", "downloaded_utc")}, indent=1))
    log.info("downloaded %s -> %s (%d bytes, sha256 %s)", url, dest, size, digest)
    return got


class _Interrupted(Exception):
    def __init__(self, have: int, total: int | None) -> None:
        super().__init__(have)
        self.have, self.total = have, total


def _record_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".json")


def _from_cache(url: str, dest: Path, want: str | None) -> Downloaded | None:
    """A complete earlier download of the same URL whose size and sha256 still match its record."""
    rec_path = _record_path(dest)
    if not (dest.is_file() and rec_path.is_file()):
        return None
    try:
        rec = json.loads(rec_path.read_text())
    except (OSError, ValueError):
        return None
    if rec.get("url") != url or rec.get("size") != dest.stat().st_size:
        return None
    digest = file_digest(dest)
    if digest != rec.get("sha256") or (want is not None and digest != want):
        return None
    log.info("%s: already in the cache (%s)", url, dest)
    return Downloaded(url=url, path=dest, size=int(rec["size"]), sha256=digest, sha256_checked=want is not None,
                      resumed_from=0, cached=True, downloaded_utc=str(rec.get("downloaded_utc", "")))


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    req = urllib.request.Request(url, headers={"User-Agent": "sijscan", **({"Range": f"bytes={offset}-"}
                                                                          if offset else {})})
    try:
        return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 (http/https URLs only, checked by caller)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # our partial file is not a prefix the server knows: start over
            raise
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OfflineError(f"{url}: cannot reach the server ({reason})") from None


def _fetch_into(url: str, part: Path, *, timeout: float, progress: bool | None) -> int | None:
    """Stream the rest of ``url`` into ``part``; return the full size when the server announced one."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, offset, timeout)
    except urllib.error.HTTPError:  # 416 on resume
        log.warning("%s: server refused to resume at byte %d; starting over", url, offset)
        part.unlink()
        offset = 0
        resp = _open(url, 0, timeout)
    with resp:
        total: int | None
        if resp.status == 206:
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if m is None or int(m.group(1)) != offset:
                raise DownloadError(f"{url}: server answered a range request with an unusable Content-Range "
                                    f"{resp.headers.get('Content-Range')!r}")
            total = None if m.group(3) == "*" else int(m.group(3))
            mode = "ab"
        else:
            if offset:
                log.info("%s: server ignored the range request; downloading from the start", url)
            offset = 0
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            mode = "wb"
        with open(part, mode) as fh:
            _stream(resp, fh, url=url, offset=offset, total=total, progress=progress)
    return total


def _stream(resp: http.client.HTTPResponse, fh: BinaryIO, *, url: str, offset: int, total: int | None,
            progress: bool | None) -> None:
    from tqdm import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    have = offset
    with tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
              disable=not show, desc=url.rsplit("/", 1)[-1].split("?")[0]) as bar:
        while True:
            try:
                block = resp.read(_CHUNK)
            except (http.client.IncompleteRead, ConnectionError, socket.timeout, OSError):
                fh.flush()
                raise _Interrupted(have, total) from None
            if not block:
                break
            fh.write(block)
            have += len(block)
            bar.update(len(block))
    fh.flush()
    if total is not None and have < total:
        raise _Interrupted(have, total)
