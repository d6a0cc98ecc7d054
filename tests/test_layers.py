"""The package's imports follow the pipeline: no circle, and no import from a lower stage into a higher one.

Stages, lowest first: shared modules at the top of the package (errors, modelfolder, backends, ...)
-> io -> phantom / anatomy -> evaluate -> classify -> predict / export -> study -> cli / app.
Every ``import`` and ``from ... import`` in src/sijscan counts, including those inside functions
(a lazy import is still a dependency).
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import sijscan

ROOT = Path(sijscan.__file__).resolve().parent
STAGE = {"io": 1, "phantom": 2, "anatomy": 2, "evaluate": 3, "classify": 4, "predict": 5, "export": 5,
         "study": 6, "cli": 7, "app": 7}
ENTRY_POINTS = {"sijscan.__main__"}  # ``python -m sijscan`` is the CLI's own entry


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("sijscan"):
                subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules]
                targets = subs if len(subs) == len(node.names) else [node.module, *subs]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("sijscan")]
            edges[name].update(t for t in targets if t in modules and t != name)
    return edges


def _stage(module: str) -> int:
    parts = module.split(".")
    return STAGE.get(parts[1], 0) if len(parts) > 1 else 0


def test_no_import_from_a_lower_stage_into_a_higher_one() -> None:
    upward = sorted(f"{a} -> {b}" for a, targets in _graph().items() if a not in ENTRY_POINTS
                    for b in targets if _stage(b) > _stage(a))
    assert upward == [], "imports against the pipeline's direction:\n" + "\n".join(upward)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_no_import_circles() -> None:
    cycles = _cycles(_graph())
    assert cycles == [], "import circles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_checks_see_a_circle_and_an_upward_import() -> None:
    edges = {"sijscan.io.a": {"sijscan.predict.b"}, "sijscan.predict.b": {"sijscan.io.a"}}
    assert _cycles(edges) == [["sijscan.io.a", "sijscan.predict.b"]]
    assert _stage("sijscan.predict.b") > _stage("sijscan.io.a")
