"""Issue 25's "no message that points to a flag that does not exist": every ``--flag`` that sijscan's
messages name is an option of a sijscan command, and every ``sijscan COMMAND ... --flag`` in the README
and docs is an option of that command."""
from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

from sijscan.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]")
EXTERNAL = {"--abbrev", "--always", "--dirty"}
"""Options of other programs sijscan runs (``git describe`` in the model card's provenance)."""


def _commands() -> dict[str, set[str]]:
    """Each command's options; ``""``: the options before the command (``--version``, ``--verbose``)."""
    parser = build_parser()
    commands: dict[str, set[str]] = {"": {o for a in parser._actions for o in a.option_strings}}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                commands[name] = {o for a in sub._actions for o in a.option_strings}
    return commands


def test_the_flags_messages_name_exist() -> None:
    known = set().union(*_commands().values())
    missing = {}
    for f in sorted((ROOT / "src" / "sijscan").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for flag in FLAG.findall(node.value):
                    if flag not in known and flag not in EXTERNAL:
                        missing.setdefault(flag, f.relative_to(ROOT).as_posix())
    assert not missing, f"flags named in sijscan's strings that no command has: {missing}"


def test_the_commands_in_the_docs_have_the_flags_they_show() -> None:
    commands = _commands()
    checked, wrong = 0, []
    for f in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            for m in re.finditer(r"\bsijscan ([a-z][a-z-]+)\b([^`|;&#]*)", line):
                if m.group(1) not in commands:
                    continue
                for flag in FLAG.findall(m.group(2)):
                    checked += 1
                    if flag not in commands[m.group(1)]:
                        wrong.append(f"{f.name}:{n}: sijscan {m.group(1)} {flag}")
    assert checked > 50  # the scan sees the docs' commands
    assert not wrong, wrong
