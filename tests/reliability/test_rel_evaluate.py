"""Issue 14, row 8: ``evaluate``/``compare`` read predict's own CSV; failed rows are excluded. Issue 25 item 7:
QC-withheld rows are analysed with their probability (as the study does), and beside them the analysis
without them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rel_helpers import rows, write_png
from sijscan.cli.main import main


def _predict_outputs(models: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A real predict run: 6 good images, one broken file, one noise image (QC withholds it)."""
    import cv2

    folder = tmp_path / "in"
    for i in range(6):
        write_png(folder / f"case{i}.png", seed=i)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    noise = (np.random.default_rng(0).random((96, 128)) * 255).astype(np.uint8)
    cv2.imwrite(str(folder / "noise.png"), noise)
    out = tmp_path / "pred"
    assert main(["predict", str(folder), "--model", str(models), "--out", str(out), "--device", "cpu"]) == 1
    got = rows(out)
    assert got["broken.png"]["error"] and not got["noise.png"]["error"] and got["noise.png"]["decision"] == ""
    manifest = tmp_path / "manifest.csv"
    lines = ["image,label"] + [f"in/case{i}.png,{i % 2}" for i in range(6)] + ["in/broken.png,1", "in/noise.png,0"]
    manifest.write_text("\n".join(lines) + "\n")
    return out / "predictions.csv", manifest


def test_row8_evaluate_excludes_failed_rows_and_analyses_withheld_ones_with_the_exclusion_beside(
        models: Path, tmp_path: Path, capsys) -> None:
    preds, manifest = _predict_outputs(models, tmp_path)
    out = tmp_path / "eval"
    assert main(["evaluate", "--predictions", str(preds), "--manifest", str(manifest), "--cutoff", "0.5",
                 "--bootstrap", "20", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 7  # the six good images and the QC-withheld one (its probability >= cut-off decides)
    data = metrics["data"]
    assert data["n_failed_excluded"] == 1 and data["excluded"] == {"failed": ["broken.png"]}
    assert data["n_qc_withheld"] == 1 and [Path(p).name for p in data["qc_withheld"]] == ["noise.png"]
    q = metrics["qc_excluded"]
    assert q["n"] == 6 and q["n_qc_withheld_excluded"] == 1 and q["n"] + 1 == metrics["n"]
    assert metrics["qc_rule"].startswith("all images with a probability are analysed")
    notes = " ".join(metrics["warnings"])
    assert "broken.png" in notes and "noise.png" in notes
    said = capsys.readouterr()
    assert "noise.png" in said.err  # named in the command's own summary too
    assert "QC-withheld images excluded: n=6 (1 left out)" in said.out
    report = (out / "report.md").read_text()
    assert "All images vs QC-withheld images excluded" in report and "| 7 (" in report and "| 6 (" in report
    cmp_out = tmp_path / "cmp"
    assert main(["compare", "--a", str(preds), "--b", str(preds), "--manifest", str(manifest), "--cutoff-a", "0.5",
                 "--cutoff-b", "0.5", "--bootstrap", "20", "--out", str(cmp_out)]) == 0


def test_row8_a_foreign_csv_with_an_empty_decision_is_still_an_error(tmp_path: Path) -> None:
    import pytest

    from sijscan.evaluate.errors import PredictionsError
    from sijscan.evaluate.predictions import read_predictions

    p = tmp_path / "p.csv"
    p.write_text("image,probability,decision\na.png,0.2,0\nb.png,0.7,\n")
    with pytest.raises(PredictionsError, match="decision must be 0 or 1"):
        read_predictions(p)
    q = tmp_path / "q.csv"
    q.write_text("image,probability,decision,error\na.png,,,boom\nb.png,,,bang\n")
    with pytest.raises(PredictionsError, match="no usable rows: 2 failed of 2"):
        read_predictions(q)
