"""Strict JSON, Markdown and self-contained HTML output.

A report is a list of blocks, rendered both to Markdown (images linked by file name) and to HTML
(images embedded as base64 data URIs, so the file opens anywhere on its own).
"""
from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

UNDEFINED = "undefined (not a finite number)"


def strict(obj: Any) -> Any:
    """Plain JSON data: numpy -> Python, NaN/inf -> None, tuples -> lists.

    For every dict entry whose value is (or holds) NaN, a ``<key>_reason`` entry is added when
    the dict does not already have one, so a null never comes without a reason.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out[str(k)] = strict(v)
        for k, v in obj.items():
            if _has_nan(v) and f"{k}_reason" not in out:
                out[f"{k}_reason"] = UNDEFINED
        return out
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [strict(v) for v in obj.tolist()]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _has_nan(v: Any) -> bool:
    if isinstance(v, (float, np.floating)):
        return not math.isfinite(float(v))
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, (float, np.floating, int)) for x in v):
        return any(isinstance(x, (float, np.floating)) and not math.isfinite(float(x)) for x in v)
    return False


def write_json(path: Path, obj: Any) -> Path:
    path.write_text(json.dumps(strict(obj), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    return f"{float(value):.{digits}f}"


def fmt_p(p: float | None) -> str:
    if p is None or not math.isfinite(float(p)):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def fmt_ci(value: float, ci: tuple[float, float] | list[float], digits: int = 3) -> str:
    if not math.isfinite(float(value)):
        return "n/a"
    lo, hi = ci
    if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        return f"{fmt(value, digits)} (CI n/a)"
    return f"{fmt(value, digits)} ({fmt(lo, digits)}, {fmt(hi, digits)})"


@dataclass
class Report:
    title: str
    blocks: list[tuple] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(("h2", text))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, headers: list[str], rows: list[list[str]]) -> None:
        self.blocks.append(("table", headers, rows))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def image(self, path: Path, alt: str) -> None:
        self.blocks.append(("img", Path(path), alt))

    def image_row(self, images: list[tuple[Path, str]]) -> None:
        """Figures shown side by side (HTML: one flex row that wraps on narrow screens)."""
        self.blocks.append(("row", [(Path(p), alt) for p, alt in images]))

    def write(self, out_dir: Path, stem: str = "report") -> tuple[Path, Path]:
        md = out_dir / f"{stem}.md"
        page = out_dir / f"{stem}.html"
        md.write_text(self.markdown(), encoding="utf-8")
        page.write_text(self.html(), encoding="utf-8")
        return md, page

    def markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        for b in self.blocks:
            if b[0] == "h2":
                lines += [f"## {b[1]}", ""]
            elif b[0] == "p":
                lines += [b[1], ""]
            elif b[0] == "code":
                lines += ["```", b[1], "```", ""]
            elif b[0] == "table":
                lines += [markdown_table(b[1], b[2]), ""]
            elif b[0] == "img":
                lines += [f"![{b[2]}]({b[1].name})", ""]
            elif b[0] == "row":
                lines += [" ".join(f"![{alt}]({p.name})" for p, alt in b[1]), ""]
        return "\n".join(lines)

    def html(self) -> str:
        e = html.escape
        parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(self.title)}</title>",
                 "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;}"
                 "table{border-collapse:collapse;margin:1em 0;}td,th{border:1px solid #999;padding:3px 8px;}"
                 "th{background:#eee;}img{max-width:100%;margin:0.5em 0;}pre{background:#f4f4f4;padding:0.5em;"
                 "white-space:pre-wrap;}.row{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start;}"
                 ".row figure{flex:1 1 220px;margin:0;}figcaption{font-size:0.85em;color:#444;}</style>", "</head><body>", f"<h1>{e(self.title)}</h1>"]
        for b in self.blocks:
            if b[0] == "h2":
                parts.append(f"<h2>{e(b[1])}</h2>")
            elif b[0] == "p":
                parts.append(f"<p>{e(b[1])}</p>")
            elif b[0] == "code":
                parts.append(f"<pre>{e(b[1])}</pre>")
            elif b[0] == "table":
                head = "".join(f"<th>{e(h)}</th>" for h in b[1])
                body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in b[2])
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif b[0] == "img":
                parts.append(_figure(b[1], b[2]))
            elif b[0] == "row":
                parts.append('<div class="row">' + "".join(_figure(p, alt) for p, alt in b[1]) + "</div>")
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"


def _figure(path: Path, alt: str) -> str:
    e = html.escape
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{e(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{e(alt)}</figcaption></figure>")


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    def cell(x: object) -> str:
        return str(x).replace("|", "\\|")

    out = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(out)
