"""The console script's shell: help, version, usage errors."""
from __future__ import annotations

import subprocess
import sys

from sijscan import __version__
from sijscan.cli.main import main


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_version_via_console_entry():
    out = subprocess.run([sys.executable, "-m", "sijscan", "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and __version__ in out.stdout
