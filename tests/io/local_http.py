"""A tiny HTTP file server on 127.0.0.1 (random free port) for download tests: Range support that can be
switched off, a one-shot connection drop after N body bytes, 404s, and a count of body bytes sent."""
from __future__ import annotations

import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class FileServer:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.ignore_range = False
        self.cut_after: dict[str, int] = {}  # name -> body bytes to send once before dropping the connection
        self.sent: dict[str, int] = {}  # name -> body bytes sent in all
        self.requests: list[tuple[str, str | None, int]] = []  # (name, Range header, status)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, name: str = "") -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{name}"

    def __enter__(self) -> "FileServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                name = urlsplit(self.path).path.lstrip("/")
                rng = self.headers.get("Range")
                data = server.files.get(name)
                if data is None:
                    server.requests.append((name, rng, 404))
                    self.send_error(404, "Not Found")
                    return
                start, status = 0, 200
                m = re.fullmatch(r"bytes=(\d+)-", rng or "")
                if m and not server.ignore_range:
                    start = int(m.group(1))
                    if start >= len(data):
                        server.requests.append((name, rng, 416))
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                server.requests.append((name, rng, status))
                body = data[start:]
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "none" if server.ignore_range else "bytes")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                cut = server.cut_after.pop(name, None)
                out = body if cut is None else body[:cut]
                # counted before the write: the client may finish reading (and the test check the count)
                # before this thread runs again after its last write (seen on a loaded 2-core machine)
                server.sent[name] = server.sent.get(name, 0) + len(out)
                self.wfile.write(out)
                self.wfile.flush()
                if cut is not None:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)

        return Handler


def refused_url(name: str = "x") -> str:
    """A 127.0.0.1 URL on a port nobody listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"
