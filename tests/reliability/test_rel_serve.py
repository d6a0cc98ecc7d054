"""Issue 14, rows 12-13: ``serve`` removes uploads on SIGTERM/SIGINT and says a busy port in one line."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sijscan.cli.main import main

SRC = Path(__file__).resolve().parents[2] / "src"
_CHILD = """
import sys, time
from pathlib import Path
from sijscan.app.app import private_temp_dir, remove_on_signals
cache = private_temp_dir()
remove_on_signals(cache)
(cache / "abc123").mkdir()
(cache / "abc123" / "upload.dcm").write_bytes(b"DICM Doe^Jane")
try:
    print(cache, flush=True)
    time.sleep(60)
except BaseException:  # the handler's exception: is the cache gone already, before any atexit hook?
    print("gone" if not cache.exists() else "still there", flush=True)
    raise
"""


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, -signal.SIGINT)])
def test_row12_uploads_are_removed_on_sigterm_and_sigint(tmp_path: Path, sig: int, code: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    cache = Path(child.stdout.readline().strip())
    assert (cache / "abc123" / "upload.dcm").is_file() and cache.parent == tmp_path / "gradio"
    child.send_signal(sig)
    rest, err = child.communicate(timeout=30)
    assert rest.strip() == "gone", err
    assert child.returncode == code, err  # SIGINT: an unhandled KeyboardInterrupt ends Python by SIGINT
    assert not cache.exists()
    assert (tmp_path / "gradio").is_dir()  # the user's GRADIO_TEMP_DIR itself is kept


def test_row13_busy_port_is_one_line(tmp_path: Path, capsys) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        rc = main(["serve", "--model", str(tmp_path / "no-model"), "--port", str(port)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and f"port {port} on 127.0.0.1 is already in use" in err[0]
