"""The package's imports follow the pipeline the README states: no circle, and no import from a
lower stage into a higher one.

Stages, lowest first (README, "Layout"): shared modules (the top-level ones: errors, files,
modelfolder, ...; and ``stats``, the pure statistics) -> io -> phantom -> anatomy -> classify ->
predict / evaluate -> export -> study -> cli / app. Every ``import`` and ``from ... import`` in
src/sijscan counts, including those inside functions (a lazy import is still a dependency), and
so does every string that names a sijscan module: lazy-export maps (``lazy_exports``) and
import-by-name (``importlib.import_module``) are imports too.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import sijscan

ROOT = Path(sijscan.__file__).resolve().parent
STAGE = {"io": 1, "phantom": 2, "anatomy": 3, "classify": 4, "predict": 5, "evaluate": 5, "export": 6,
         "study": 7, "cli": 8, "app": 8}
# ``python -m sijscan`` is the CLI's own entry; the package root's lazy map is the public API's front door
ENTRY_POINTS = {"sijscan.__main__", "sijscan"}
# No exceptions: the architecture registry no longer names the networks modules (they register
# themselves when imported, timm's pattern); add a pair here only with an issue that says why.
NAMED_EXCEPTIONS: set[tuple[str, str]] = set()


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(node: ast.AST, modules: dict[str, Path]) -> list[str]:
    """The sijscan modules ``node`` imports or names."""
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("sijscan"):
        subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules]
        return subs if len(subs) == len(node.names) else [node.module, *subs]
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("sijscan")]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in modules:
        return [node.value]  # a lazy-export map's value, a name handed to importlib
    return []


def _graph(sources: dict[str, str] | None = None) -> dict[str, set[str]]:
    """Module -> the sijscan modules it depends on; ``sources`` (name -> code) replaces the package for tests."""
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    texts = sources if sources is not None else {name: path.read_text(encoding="utf-8") for name, path in modules.items()}
    edges: dict[str, set[str]] = defaultdict(set)
    for name, text in texts.items():
        for node in ast.walk(ast.parse(text)):
            edges[name].update(t for t in _targets(node, modules)  # a parent package is always imported first
                               if t in modules and t != name and not name.startswith(t + ".")
                               and (name, t) not in NAMED_EXCEPTIONS)
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
    named = _graph({"sijscan.classify.x": 'M = {"f": "sijscan.evaluate.report"}\n'
                                          'import importlib\nimportlib.import_module("sijscan.study.run")\n'
                                          '"""sijscan.study.run is named in prose here"""\n'})
    assert named["sijscan.classify.x"] == {"sijscan.evaluate.report", "sijscan.study.run"}


def test_the_stated_order_is_the_readme_s() -> None:
    readme = (ROOT.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "io -> phantom -> anatomy -> classify -> predict / evaluate -> export -> study -> cli / app" in readme
    assert sorted(STAGE, key=lambda k: STAGE[k]) == ["io", "phantom", "anatomy", "classify", "predict", "evaluate",
                                                    "export", "study", "cli", "app"]
