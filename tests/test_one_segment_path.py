"""One way to segment: how a radiograph becomes the segmenter's input is decided in
``sijscan/anatomy/segment.py`` only; every other module (src, benchmarks, tools) calls
``Segmenter.run`` (or ``prepare_input`` + ``Segmenter.finish`` when batching)."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OWNER = REPO / "src" / "sijscan" / "anatomy" / "segment.py"

# names that carry the segmenter's input internals (the published recipe's 8-bit grey, its scale flag)
INTERNAL_NAMES = {"already_scaled", "recipe_input", "authors_grey", "grey_u8", "paper_grey", "preprocess_array",
                  "labels_from_logits", "segment_and_locate", "segment_radiograph"}
# the Segmenter method taking a half-prepared array
ARRAY_METHODS = {"segment"}


def _sources() -> list[Path]:
    roots = [REPO / "src", REPO / "benchmarks", REPO / "tools"]
    return sorted(p for r in roots if r.is_dir() for p in r.rglob("*.py") if p != OWNER)


def internal_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of every use of an internal name or array method in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in INTERNAL_NAMES:
            found.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute) and (node.attr in INTERNAL_NAMES or node.attr in ARRAY_METHODS):
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.keyword) and node.arg in INTERNAL_NAMES:
            found.append((node.value.lineno, node.arg))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found.extend((node.lineno, a.name) for a in node.names if a.name.split(".")[-1] in INTERNAL_NAMES)
    return found


def test_the_scan_sees_a_second_path() -> None:
    """The scan itself: the old hand-assembled path is found (so an empty result below means something)."""
    old = ("from sijscan.anatomy.segment import recipe_input\n"
           "arr, scaled = recipe_input(r, seg.spec)\n"
           "labels, work = seg.segment(arr, already_scaled=scaled)\n")
    assert [name for _, name in internal_uses(ast.parse(old))].count("recipe_input") == 2
    assert {name for _, name in internal_uses(ast.parse(old))} == {"recipe_input", "segment", "already_scaled"}


def test_only_segment_py_prepares_the_segmenter_input() -> None:
    files = _sources()
    assert len(files) > 100 and OWNER.is_file()
    offenders = [f"{p.relative_to(REPO)}:{line}: {name}" for p in files
                 for line, name in internal_uses(ast.parse(p.read_text(encoding="utf-8")))]
    assert offenders == [], "segment through Segmenter.run (or prepare_input + finish):\n" + "\n".join(offenders)
