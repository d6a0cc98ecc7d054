"""Imports of sijscan's own modules sit at the top of the file; one stays inside a function only
where it spares the file a heavy library, and says so (issue 23; docs/style.md, point 16).

The rule, for ``import sijscan.x`` / ``from sijscan.x import y`` inside a function of module F:

* it belongs at the top of F when everything it would pull in (the target module, its parent
  packages, what their top levels import in turn, and the module a package's lazy-export map
  resolves for ``y``) reaches no library of ``HEAVY`` that F's own top level does not reach already;
* otherwise it stays where it is and names the missing libraries on its line, e.g.
  ``from sijscan.anatomy.segment import Segmenter  # lazy: torch`` (at least one, and only ones
  that are missing).

The command modules (``sijscan.cli.*``) are one case more: ``sijscan --help`` imports all of them
to build the parser, so their top levels reach only what the parser needs (``PARSER_NEEDS``), and
the library behind a command is imported in its handler, tagged ``# lazy: cli`` (or with the heavy
libraries it spares). An import there whose target the command modules reach anyway moves up.
And a package's ``__init__`` is its front door, run before any of its modules: it re-exports them
lazily (``sijscan._lazy``), so an import of one of its own modules inside its functions stays
there, tagged ``# lazy: package``.

"Top level" is what runs on import: module and class bodies, ``if``/``try``/``with`` blocks, but
not ``if TYPE_CHECKING:`` blocks nor function bodies. Moving an import to the top therefore never
makes any module heavier to import, and ``import sijscan.<package>`` / ``sijscan --help`` keep
their cost (tests/test_lazy.py checks torch stays out).
"""
from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import sijscan

ROOT = Path(sijscan.__file__).resolve().parent
# Libraries whose import alone costs about 0.1 s or more on top of numpy + scipy (measured with
# ``python -X importtime``: torch 1.3 s, lightning 4 s, monai 5.7 s, gradio 2.5 s, sklearn 1 s,
# onnx 0.6 s, highdicom 0.4 s, pandas 0.3 s, pydicom 0.2 s, nibabel 0.2 s, matplotlib 0.16 s,
# openpyxl 0.13 s, SimpleITK 0.1 s); cv2, PIL, yaml, tifffile, safetensors cost ~20 ms or less.
HEAVY = frozenset({"torch", "torchvision", "lightning", "pytorch_lightning", "monai", "timm", "onnx", "onnxruntime",
                   "gradio", "highdicom", "SimpleITK", "matplotlib", "sklearn", "pandas", "pydicom", "nibabel",
                   "openpyxl", "statsmodels"})
# Files left for other branches to settle: none now (the last ones moved once their branches merged).
PENDING: set[str] = set()
# What the command modules' top levels may reach: building the parser (``register``) needs the
# shared helpers and the segmenter's training defaults (the package ``anatomy`` brings crop/localize).
PARSER_NEEDS = {"sijscan", "sijscan._lazy", "sijscan._progress", "sijscan.devices", "sijscan.errors", "sijscan.jsonio", "sijscan.anatomy",
                "sijscan.anatomy.crop", "sijscan.anatomy.localize", "sijscan.anatomy.train_config"}
TAG = re.compile(r"#\s*lazy:\s*([\w, ]+)")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _top_level(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """The import statements that run when the module is imported."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If):
            found += _top_level(node.orelse) + ([] if _type_checking(node) else _top_level(node.body))
        elif isinstance(node, ast.Try):
            found += _top_level(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                found += _top_level(handler.body)
        elif isinstance(node, (ast.With, ast.ClassDef, ast.For, ast.While)):
            found += _top_level(node.body + getattr(node, "orelse", []))
    return found


def _in_functions(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement inside a function or method (nested ones once)."""
    found: dict[int, ast.Import | ast.ImportFrom] = {}
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(func):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found.setdefault(id(node), node)
    return sorted(found.values(), key=lambda n: n.lineno)


def _lazy_map(tree: ast.Module) -> dict[str, str]:
    """A package's lazy exports: name -> module, from the dict literals of its ``__init__``."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and isinstance(value, ast.Constant) \
                        and isinstance(value.value, str) and value.value.startswith("sijscan."):
                    found[key.value] = value.value
    return found


class Package:
    """Parsed sources of sijscan (or of ``sources``, name -> code, for the tests of this test)."""

    def __init__(self, sources: dict[str, str] | None = None) -> None:
        if sources is None:
            sources = {_module(p): p.read_text(encoding="utf-8") for p in ROOT.rglob("*.py")}
        self.text = sources
        self.trees = {name: ast.parse(code) for name, code in sources.items()}
        self.lazy = {name: _lazy_map(tree) for name, tree in self.trees.items()}
        self._reach: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    def targets(self, node: ast.Import | ast.ImportFrom) -> tuple[set[str], set[str]]:
        """(sijscan modules, third-party top-level names) that executing ``node`` imports."""
        own: set[str] = set()
        libs: set[str] = set()
        if isinstance(node, ast.Import):
            for alias in node.names:
                (own if alias.name.split(".")[0] == "sijscan" else libs).add(
                    alias.name if alias.name.startswith("sijscan") else alias.name.split(".")[0])
        elif node.level == 0 and node.module:
            if node.module.split(".")[0] != "sijscan":
                libs.add(node.module.split(".")[0])
            else:
                own.add(node.module)
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    if sub in self.trees:
                        own.add(sub)
                    elif alias.name in self.lazy.get(node.module, {}):
                        own.add(self.lazy[node.module][alias.name])
        for name in list(own):  # a module's parent packages run first
            parts = name.split(".")
            own.update(".".join(parts[:i]) for i in range(1, len(parts)))
        return {m for m in own if m in self.trees}, libs

    def reach(self, module: str) -> tuple[frozenset[str], frozenset[str]]:
        """(sijscan modules, third-party libraries) that importing ``module`` loads, its parent packages too."""
        if module not in self._reach:
            parts = module.split(".")
            todo = [module] + [".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in self.trees]
            seen: set[str] = set()
            libs: set[str] = set()
            while todo:
                name = todo.pop()
                if name in seen:
                    continue
                seen.add(name)
                for node in _top_level(self.trees[name].body):
                    own, third = self.targets(node)
                    libs |= third
                    todo += own - seen
            self._reach[module] = frozenset(seen), frozenset(libs)
        return self._reach[module]

    def heavy(self, module: str) -> frozenset[str]:
        """The heavy libraries importing ``module`` (and its parent packages) loads."""
        return self.reach(module)[1] & HEAVY

    def cli_reach(self) -> frozenset[str]:
        """The sijscan modules the command modules' top levels load (``sijscan --help`` loads them all)."""
        return frozenset().union(*(self.reach(m)[0] for m in self.trees if m.startswith("sijscan.cli.")))

    def verdict(self, module: str, node: ast.Import | ast.ImportFrom) -> set[str] | None:
        """For a function-level import of ``module``: None if it is no own-module import; the empty set
        if it belongs at the top; else the reasons a ``# lazy:`` tag may name (missing heavy libraries,
        ``cli`` in a command module whose target reaches past what the command modules load, ``package``
        in a package's ``__init__`` importing one of its modules)."""
        own, _ = self.targets(node)
        if not own:
            return None
        reasons = set().union(*(self.heavy(m) for m in own)) - self.heavy(module)
        if module.startswith("sijscan.cli.") and not set().union(*(self.reach(m)[0] for m in own)) <= self.cli_reach():
            reasons.add("cli")
        if any(m.startswith(module + ".") for m in own) and any(m.startswith(module + ".") for m in self.trees):
            reasons.add("package")  # a package's own module, imported by the package's __init__
        return reasons

    def misplaced(self, module: str) -> list[str]:
        """Function-level own-module imports of ``module`` that break the rule, one line each."""
        lines = self.text[module].splitlines()
        bad = []
        for node in _in_functions(self.trees[module]):
            reasons = self.verdict(module, node)
            if reasons is None:
                continue
            tag = TAG.search(" ".join(lines[node.lineno - 1:node.end_lineno]))
            named = {n.strip() for n in tag.group(1).split(",") if n.strip()} if tag else set()
            where = f"{module}:{node.lineno}"
            if not reasons:
                bad.append(f"{where} spares no heavy library: move it to the top of the file")
            elif not named or not named <= reasons:
                bad.append(f"{where} stays lazy for {sorted(reasons)}: tag it '# lazy: {', '.join(sorted(reasons))}'"
                           + (f" (it says {sorted(named)})" if named else ""))
        return bad


@lru_cache(maxsize=1)
def _package() -> Package:
    return Package()


def test_own_module_imports_are_at_the_top_unless_they_spare_a_heavy_library() -> None:
    package = _package()
    bad = [line for module in sorted(package.trees) if module not in PENDING for line in package.misplaced(module)]
    assert bad == [], "own-module imports inside functions:\n" + "\n".join(bad)


def test_the_pending_exemptions_are_still_needed() -> None:
    """An exempt file that already follows the rule leaves the list (and stays checked from then on)."""
    package = _package()
    clean = sorted(m for m in PENDING if not package.misplaced(m))
    assert clean == [], f"drop from PENDING, they follow the rule now: {clean}"


def test_the_command_modules_top_levels_reach_only_what_the_parser_needs() -> None:
    """``sijscan --help`` imports every command module: a library import moved to the top of one
    would load with every command's help (widen ``PARSER_NEEDS`` only for what ``register`` uses)."""
    extra = sorted(_package().cli_reach() - PARSER_NEEDS)
    assert [m for m in extra if not m.startswith("sijscan.cli")] == []


def test_the_check_sees_a_misplaced_import_and_a_wrong_tag() -> None:
    sources = {
        "sijscan": "",
        "sijscan.net": "import torch\n",
        "sijscan.stats": "import numpy\n",
        "sijscan.pkg": 'from sijscan._lazy import lazy_exports\n'
                       '__getattr__, __all__ = lazy_exports(__name__, {"Net": "sijscan.net"})\n',
        "sijscan.light": "def f():\n    from sijscan.stats import x\n"           # light target: move it
                         "def g():\n    from sijscan.net import Net  # lazy: torch\n"   # right tag
                         "def h():\n    from sijscan.pkg import Net\n"             # lazy map -> torch, no tag
                         "def i():\n    from sijscan.net import Net  # lazy: pandas\n",  # wrong reason
        "sijscan.torchy": "import torch\n"
                          "def f():\n    from sijscan.net import Net  # lazy: torch\n",  # no longer spares it
        "sijscan.typed": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n",
        "sijscan.cli": "def f():\n    from sijscan.cli.run import f  # lazy: package\n"  # the package's own module
                       "def g():\n    from sijscan.cli.run import f\n",                 # untagged
        "sijscan.cli.run": "from sijscan import stats\n"
                           "def f():\n    from sijscan.stats import x\n"                # the parser loads it: move
                           "def g():\n    from sijscan.light import f  # lazy: cli\n"   # the library: stays
                           "def h():\n    from sijscan.light import f\n",              # untagged
    }
    package = Package(sources)
    assert package.heavy("sijscan.pkg") == frozenset() and package.heavy("sijscan.typed") == frozenset()
    assert [line.split(" ")[0] for line in package.misplaced("sijscan.light")] == [
        "sijscan.light:2", "sijscan.light:6", "sijscan.light:8"]
    assert [line.split(" ")[0] for line in package.misplaced("sijscan.cli.run")] == ["sijscan.cli.run:3",
                                                                                   "sijscan.cli.run:7"]
    assert [line.split(" ")[0] for line in package.misplaced("sijscan.cli")] == ["sijscan.cli:4"]
    assert package.misplaced("sijscan.torchy") == [
        "sijscan.torchy:3 spares no heavy library: move it to the top of the file"]
