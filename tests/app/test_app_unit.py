"""The app's request handler without a browser: size limit, bad files, upload clean-up."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predict"))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    from sijscan.predict.pipeline import Pipeline
    from test_standins import make_models

    return Pipeline.from_folder(make_models(tmp_path_factory.mktemp("models")), device="cpu")


def _cached(tmp_path: Path, name: str, data: bytes, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    d = cache / "abc123"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)
    return d / name


def test_good_upload_gives_probability_and_images_and_is_deleted(pipeline, tmp_path, monkeypatch) -> None:
    from sijscan.app.app import analyse
    from test_standins import draw_pelvis

    ok, buf = cv2.imencode(".png", (draw_pelvis()[0] * 255).astype(np.uint8))
    path = _cached(tmp_path, "p.png", buf.tobytes(), monkeypatch)
    summary, images = analyse(pipeline, str(path), max_upload_mb=5)
    assert "Probability of sacroiliitis" in summary and "cut-off 0.500" in summary and "Decision" in summary
    assert "Per-side grades" in summary
    assert images.count("data:image/png;base64,") >= 3
    assert not path.exists()  # its folder stays until exit: another upload of the same content may be landing in it


def test_oversized_and_broken_uploads_get_clear_messages(pipeline, tmp_path, monkeypatch) -> None:
    from sijscan.app.app import analyse

    big = _cached(tmp_path, "big.png", b"\0" * (2 * 1024 * 1024 + 10), monkeypatch)
    summary, images = analyse(pipeline, str(big), max_upload_mb=2)
    assert "limited to 2 MB" in summary and images == "" and not big.exists()
    bad = _cached(tmp_path, "x.dcm", b"<html>not an image</html>", monkeypatch)
    summary, _ = analyse(pipeline, str(bad), max_upload_mb=2)
    assert summary.startswith("**Error:** cannot use this file") and "\n" not in summary
    assert str(tmp_path) not in summary and not bad.exists()


def test_shared_upload_path_is_kept_until_the_last_request(tmp_path, monkeypatch) -> None:
    from sijscan.app.app import UploadTracker

    path = _cached(tmp_path, "same.png", b"x", monkeypatch)
    tracker = UploadTracker()
    tracker.add([str(path), str(path)])  # two users uploaded the same content
    tracker.release(str(path))
    assert path.exists()
    tracker.release(str(path))
    assert not path.exists()
