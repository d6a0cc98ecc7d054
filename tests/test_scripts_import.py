"""Every ``from sijscan... import name`` in benchmarks/ and tools/ resolves (they run outside the
suite, so a module moved by a re-cut would otherwise only fail when someone runs the benchmark)."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for d in ("benchmarks", "tools") for p in (REPO / d).rglob("*.py"))


def _sijscan_imports(path: Path) -> list[tuple[int, str, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sijscan":
            out.extend((node.lineno, node.module, a.name) for a in node.names)
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, a.name, "") for a in node.names if a.name.split(".")[0] == "sijscan")
    return out


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_script_imports_resolve(path: Path) -> None:
    missing = []
    for line, module, name in _sijscan_imports(path):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError:
            missing.append(f"{path.name}:{line}: no module {module}")
            continue
        if name and name != "*" and not hasattr(mod, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ModuleNotFoundError:
                missing.append(f"{path.name}:{line}: {module} has no {name}")
    assert not missing, "\n".join(missing)
