"""Own models as one pipeline folder (issue 25 item 2): train-classifier writes it; predict, serve and
export-onnx take it, or --segmenter/--classifier."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from sijscan.cli.main import main
from sijscan.pipelinefolder import make_pipeline_folder
from sijscan.predict.pipeline import Pipeline
from test_standins import draw_pelvis

SRC = Path(__file__).resolve().parents[2] / "src"


def test_a_classifier_folder_becomes_a_movable_pipeline_folder(models: Path, tmp_path: Path) -> None:
    clf = tmp_path / "clf"
    shutil.copytree(models / "classifier", clf)
    (models / "segmenter" / "checkpoints").mkdir(exist_ok=True)
    (models / "segmenter" / "checkpoints" / "last.ckpt").write_bytes(b"x" * 10)
    make_pipeline_folder(clf, segmenter=models / "segmenter")
    assert json.loads((clf / "pipeline.json").read_text()) == {"format": "sijscan-pipeline", "classifier": ".",
                                                               "segmenter": "segmenter"}
    assert sorted(p.name for p in (clf / "segmenter").iterdir()) == ["model.json", "weights.safetensors"]
    moved = tmp_path / "elsewhere" / "pipe"
    shutil.move(str(clf), moved)  # self-contained: nothing points outside it
    img, _ = draw_pelvis(seed=4)
    a = Pipeline.from_folder(moved, device="cpu").predict(img)
    b = Pipeline.from_dirs(classifier=models / "classifier", segmenter=models / "segmenter", device="cpu").predict(img)
    assert a.probability == pytest.approx(b.probability, abs=1e-6) and a.sij_boxes == b.sij_boxes


def _cohort(root: Path, n: int = 12) -> Path:
    root.mkdir(parents=True)
    rows = []
    for i in range(n):
        img, _ = draw_pelvis(seed=i)
        if i % 2:  # positives: bright joints
            img = np.clip(img + 0.3 * (np.abs(np.linspace(-1, 1, img.shape[1]))[None, :] < 0.3), 0, 1)
        cv2.imwrite(str(root / f"c{i}.png"), (img * 255).astype(np.uint8))
        rows.append({"image": f"c{i}.png", "patient_id": f"p{i}", "label": i % 2})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_train_classifier_output_is_predicted_and_served_as_one_folder(models: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("gradio")
    manifest = _cohort(tmp_path / "data")
    out = tmp_path / "anatomy"
    assert main(["train-classifier", "--manifest", str(manifest), "--view", "sij", "--segmenter",
                 str(models / "segmenter"), "--recipe", "quick", "--arch", "tiny-resnet", "--init", "random",
                 "--accelerator", "cpu", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"pipeline folder (classifier + its segmenter): sijscan predict IMAGES --model {out}" in said
    assert json.loads((out / "pipeline.json").read_text())["segmenter"] == "segmenter"
    assert main(["predict", str(tmp_path / "data" / "c1.png"), "--model", str(out), "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "predictions.csv").is_file()
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "GRADIO_TEMP_DIR": str(tmp_path / "gradio"), "GRADIO_ANALYTICS_ENABLED": "False"}
    # the stand-in segmenter's architecture is registered by test_standins: import it, then run the real CLI
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_standins; "
              f"from sijscan.cli.main import main; sys.exit(main(['serve', '--model', {str(out)!r}, '--port', "
              f"'{port}', '--device', 'cpu']))")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    try:
        line = child.stdout.readline()
        url = re.search(r"open (http://\S+) in a browser", line)
        assert url and url.group(1) == f"http://127.0.0.1:{port}/", (line, child.stderr.read() if not line else "")
        with urllib.request.urlopen(url.group(1), timeout=30) as resp:
            assert resp.status == 200 and b"sijscan" in resp.read()
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.communicate(timeout=120)
        finally:
            child.kill()


def test_serve_takes_classifier_and_segmenter(models: Path, monkeypatch, capsys) -> None:
    pytest.importorskip("gradio")
    import sijscan.app.app as app

    seen = {}

    class Demo:
        def block_thread(self) -> None:
            seen["blocked"] = True

    monkeypatch.setattr(app, "build_app", lambda pipeline, max_upload_mb: seen.update(pipeline=pipeline) or Demo())
    monkeypatch.setattr(app, "launch_app", lambda demo, host, port, block: seen.update(block=block))
    port = _free_port()
    assert main(["serve", "--classifier", str(models / "classifier"), "--segmenter", str(models / "segmenter"),
                 "--port", str(port), "--device", "cpu"]) == 0
    assert seen["pipeline"].segmenter is not None and seen["block"] is False and seen["blocked"]
    assert f"open http://127.0.0.1:{port}/ in a browser" in capsys.readouterr().out
    assert main(["serve", "--model", str(models / "classifier"), "--port", str(port), "--device", "cpu"]) == 2
    assert "needs a segmenter model folder (--segmenter DIR" in capsys.readouterr().err  # the flag now exists


def test_export_onnx_takes_segmenter_and_classifier(models: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    copy = tmp_path / "m"
    shutil.copytree(models, copy)
    assert main(["export-onnx", "--segmenter", str(copy / "segmenter"), "--classifier", str(copy / "classifier"),
                 "--exporter", "torchscript"]) == 0
    said = capsys.readouterr().out
    assert said.startswith("segmenter: ") and "\nclassifier: " in said
    assert (copy / "segmenter" / "onnx" / "network.onnx").is_file() and (copy / "classifier" / "onnx" / "network.onnx").is_file()
    assert main(["export-onnx"]) == 2
