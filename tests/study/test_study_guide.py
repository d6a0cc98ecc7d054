"""docs/user-guide.md: every command exists and parses; every YAML snippet is valid study config."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from sijscan.cli.main import build_parser
from sijscan.study.config import SECTIONS, config_from_dict

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user-guide.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.S)


def _commands() -> list[str]:
    return [ln.strip() for b in _blocks("bash") for ln in b.splitlines() if ln.strip().startswith("sijscan ")]


def _subcommands(parser) -> set[str]:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def test_guide_has_commands() -> None:
    names = {shlex.split(c)[1] for c in _commands()}
    assert {"demo", "study", "import-published", "predict", "train-classifier"} <= names


def test_every_guide_subcommand_exists() -> None:
    known = _subcommands(build_parser())
    names = {shlex.split(c)[1] for c in _commands()}
    assert names <= known, f"not in the CLI: {sorted(names - known)}"


@pytest.mark.parametrize("command", _commands())
def test_every_guide_command_parses(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a for a in shlex.split(command)[1:]]
    if "--help" in argv:
        argv.remove("--help")
        assert argv[0] in _subcommands(build_parser())
        return
    argv = [a if "*" not in a else a.replace("*", "x") for a in argv]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse rejected the command
        pytest.fail(f"{command!r} does not parse: {capsys.readouterr().err.strip()}")
        raise exc
    assert callable(getattr(args, "handler", None))


def test_guide_yaml_snippets_are_valid(tmp_path: Path) -> None:
    full = yaml.safe_load(_blocks("yaml")[0])
    assert set(full) <= set(SECTIONS)
    config_from_dict(full, base_dir=tmp_path)
    for snippet in _blocks("yaml")[1:]:
        merged = {**full, **yaml.safe_load(snippet)}
        config_from_dict(merged, base_dir=tmp_path)
