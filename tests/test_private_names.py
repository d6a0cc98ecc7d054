"""No private name crosses a module: ``_x`` defined in one sijscan module is used only there.

Counted: ``from sijscan.a import _x`` and ``a._x`` where ``a`` is an imported sijscan module, in
every file of src/sijscan and benchmarks/ (lazy imports inside functions too). Private modules
(``sijscan._logs``) are the package's own helpers and may be imported by its modules.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def crossings(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, "module._name") for every private name ``tree`` takes from another sijscan module."""
    found: list[tuple[int, str]] = []
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sijscan"):
            for alias in node.names:
                if _private(alias.name) and not (REPO / "src" / node.module.replace(".", "/") / alias.name).with_suffix(
                        ".py").is_file():
                    found.append((node.lineno, f"{node.module}.{alias.name}"))
                else:
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules.update(a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("sijscan"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name) \
                and node.value.id in modules:
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return found


def test_the_scan_sees_a_crossing() -> None:
    code = ("from sijscan.predict.many_files import _scrub, run_batch\n"
            "from sijscan.phantom.ct import femur\n"
            "from sijscan import _lazy\n"
            "femur._capsule(1)\n")
    assert [name for _, name in crossings(ast.parse(code))] == ["sijscan.predict.many_files._scrub", "femur._capsule"]


def test_no_private_name_is_imported_across_modules() -> None:
    files = sorted([*(REPO / "src" / "sijscan").rglob("*.py"), *(REPO / "benchmarks").glob("*.py")])
    assert len(files) > 100
    offenders = [f"{p.relative_to(REPO)}:{line}: {name}" for p in files
                 for line, name in crossings(ast.parse(p.read_text(encoding="utf-8")))]
    assert offenders == [], "private names used outside their module:\n" + "\n".join(offenders)
