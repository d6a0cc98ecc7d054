"""One self-contained HTML page of a batch run: the table, overlay thumbnails and Grad-CAMs.

Everything is embedded (images as base64 data URIs, CSS inline): the page can be mailed or
archived alone and loads nothing from the network. Built from ``predictions.csv`` and the PNGs in
``images/``, so a resumed run's report covers every image.
"""
from __future__ import annotations

import html
import logging
import os
from pathlib import Path
from typing import Sequence

from sijscan import __version__
from sijscan.files import atomic_write
from sijscan.predict.explain import EMPTY_CAM, OVERLAY_LEGEND, SIDES_NOTE, agreement_note, model_line
from sijscan.predict.names import safe_stem
from sijscan.predict.outdir import OutputFolderError, os_reason
from sijscan.predict.overlay import data_uri
from sijscan.predict.table import CSV_NAME, read_rows

log = logging.getLogger(__name__)

THUMB = 260
_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top}
th{background:#f0f0f0}tr.err td{background:#fff0f0}tr.withheld td{background:#fffbe6}
img{max-width:%dpx;display:block}.note{color:#555;font-size:12px;max-width:60em}
""" % THUMB


def _thumb_uri(path: Path) -> str | None:
    if not path.is_file():
        return None
    import cv2
    import numpy as np

    # decode from bytes: cv2.imread crashes the process on a path that is not valid UTF-8
    data = np.fromfile(path, dtype=np.uint8)
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except cv2.error:
        img = None
    if img is None:
        return None
    return data_uri(img, longest=THUMB, jpeg_quality=85)


def _img(uri: str | None, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">' if uri else ""


def _model(out: Path) -> str:
    import json

    try:
        identity = json.loads((out / "run.json").read_text(encoding="utf-8")).get("identity", {})
    except (OSError, ValueError):
        return "unknown (no run.json)"
    return model_line(identity)


def _is_grey(path: Path) -> bool:
    import cv2
    import numpy as np

    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return img is not None and bool(np.all(img[..., 0] == img[..., 1]) and np.all(img[..., 1] == img[..., 2]))


def build_report(out_dir: str | os.PathLike[str], *, order: Sequence[str] | None = None) -> str:
    """The HTML text of the report for a batch output folder."""
    out = Path(out_dir)
    rows = read_rows(out / CSV_NAME)
    keys = [k for k in (order or []) if k in rows] + sorted(k for k in rows if k not in set(order or []))
    n_err = sum(1 for k in keys if rows[k].get("error"))
    n_pos = sum(1 for k in keys if rows[k].get("decision") == "1")
    n_withheld = sum(1 for k in keys if not rows[k].get("error") and rows[k].get("decision") == "")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>sijscan predictions</title><style>", _CSS, "</style></head><body>",
        f"<h1>sijscan predictions</h1><p class='note'>sijscan {html.escape(__version__)}. Research use only, "
        "not a medical device. Probabilities are of definite radiographic sacroiliitis (modified New York "
        "criteria); the decision is taken at the model's cut-off and withheld when input QC fails. Grad-CAM "
        "shows evidence for sacroiliitis (red = more).</p>",
        f"<p class='note'>Model: {html.escape(_model(out))}</p>",
        f"<p class='note'>{html.escape(OVERLAY_LEGEND)} {html.escape(SIDES_NOTE)}</p>",
        f"<p>{len(keys)} images: {n_pos} positive, {n_withheld} withheld by QC, {n_err} failed.</p>",
        "<table><thead><tr><th>image</th><th>probability (calibrated)</th><th>decision</th>"
        "<th>grades, patient's left / right</th><th>QC</th><th>overlay</th><th>Grad-CAM</th><th>error</th>"
        "</tr></thead><tbody>",
    ]
    for k in keys:
        r = rows[k]
        stem = safe_stem(k)
        images = out / "images"
        cls = "err" if r.get("error") else ("withheld" if r.get("decision") == "" else "")
        prob = f"{float(r['probability']):.3f} ({float(r['probability_calibrated']):.3f})" if r.get("probability") else ""
        decision = {"1": "positive", "0": "negative"}.get(r.get("decision", ""), "withheld" if not r.get("error") else "")
        grades = f"{r['grade_left']}/{r['grade_right']}" if r.get("grade_left") else ""
        qc = "ok" if r.get("qc_passed") == "true" else html.escape(r.get("qc_reasons") or r.get("qc_flags") or "")
        cam_file = images / f"{stem}_gradcam_crop.png"
        cam_file = cam_file if cam_file.is_file() else images / f"{stem}_gradcam.png"
        cam = _thumb_uri(cam_file)
        if cam and _is_grey(cam_file):  # cam_overlay colours only where the map is > 0
            cam = None
            cam_text = f"<small>{html.escape(EMPTY_CAM)}</small>"
        else:
            cam_text = ""
        note = agreement_note(decision=r.get("decision"), grade_left=r.get("grade_left"),
                              grade_right=r.get("grade_right"), mny=r.get("mny"))
        if note:
            grades += f"<br><small>{html.escape(note)}</small>"
        parts.append(
            f"<tr class='{cls}'><td>{html.escape(k)}</td><td>{prob}</td><td>{decision}"
            f"<br><small>cut-off {html.escape(r.get('cutoff', ''))}</small></td><td>{grades}</td><td>{qc}</td>"
            f"<td>{_img(_thumb_uri(images / f'{stem}_overlay.png'), 'overlay')}</td><td>{_img(cam, 'Grad-CAM')}{cam_text}</td>"
            f"<td>{html.escape(r.get('error', ''))}</td></tr>"
        )
    parts.append("</tbody></table></body></html>\n")
    return "".join(parts)


def write_report(out_dir: str | os.PathLike[str], *, order: Sequence[str] | None = None) -> Path:
    """Write ``report.html`` into ``out_dir`` (atomically) and return its path."""
    path = Path(out_dir) / "report.html"
    try:
        atomic_write(path, build_report(out_dir, order=order))
    except OSError as exc:
        raise OutputFolderError(f"cannot write {path} ({os_reason(exc)}); predictions.csv is complete") from exc
    log.info("wrote %s", path)
    return path

