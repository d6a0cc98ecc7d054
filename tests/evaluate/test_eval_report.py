"""Strict JSON (no NaN, a reason for every null) and the Markdown/HTML report."""
import json

import numpy as np

from sijscan.evaluate.report import Report, fmt_ci, fmt_p, strict, write_json


def test_strict_turns_nan_into_null_with_reason(tmp_path):
    data = {"auc": float("nan"), "auc_ci": [np.float64(np.nan), 0.5], "ppv": 0.5, "npv": np.nan,
            "npv_reason": "no case predicted negative", "n": np.int64(3), "nested": {"x": np.inf},
            "arr": np.array([1.0, np.nan]), "t": (1, 2)}
    out = strict(data)
    assert out["auc"] is None and out["auc_reason"]
    assert out["auc_ci"] == [None, 0.5] and out["auc_ci_reason"]
    assert out["npv_reason"] == "no case predicted negative"
    assert out["n"] == 3 and isinstance(out["n"], int)
    assert out["nested"] == {"x": None, "x_reason": out["nested"]["x_reason"]}
    assert out["arr"] == [1.0, None] and out["t"] == [1, 2]
    assert "ppv_reason" not in out
    write_json(tmp_path / "x.json", data)
    text = (tmp_path / "x.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text)


def test_floats_keep_full_precision_in_json(tmp_path):
    write_json(tmp_path / "x.json", {"auc": 0.123456789012345})
    assert json.loads((tmp_path / "x.json").read_text())["auc"] == 0.123456789012345


def test_formatting():
    assert fmt_ci(0.8534, [0.81, 0.9]) == "0.853 (0.810, 0.900)"
    assert fmt_ci(float("nan"), [0.1, 0.2]) == "n/a"
    assert fmt_ci(0.5, [float("nan"), 0.2]) == "0.500 (CI n/a)"
    assert fmt_p(0.00001) == "< 0.0001" and fmt_p(0.0047) == "0.0047" and fmt_p(float("nan")) == "n/a"


def test_report_html_escapes_and_embeds(tmp_path):
    png = tmp_path / "f.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nabc")
    rep = Report(title="t <x>")
    rep.para("a < b")
    rep.table(["h|1"], [["v"]])
    rep.image(png, "fig")
    md, page = rep.write(tmp_path)
    html = page.read_text()
    assert "t &lt;x&gt;" in html and "a &lt; b" in html and "data:image/png;base64,iVBORw0KGg" in html
    assert "h\\|1" in md.read_text() and "![fig](f.png)" in md.read_text()
