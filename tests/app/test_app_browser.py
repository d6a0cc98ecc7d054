"""The web app end-to-end in headless Chromium (Debian's chromium, driven by Playwright).

Skipped only when chromium (or playwright/gradio) is absent outside CI; in CI (``CI=true``) a
missing browser or package is a failure.
"""
from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import pytest

_PRIVATE = tempfile.mkdtemp(prefix="sijscan-test-gradio-")
os.environ.setdefault("GRADIO_TEMP_DIR", _PRIVATE)
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "predict"))

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _need(what: str, ok: bool) -> None:
    if not ok:
        if IN_CI:
            pytest.fail(f"{what} is missing in CI")
        pytest.skip(f"{what} is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_upload_dicom_and_broken_file_in_chromium(tmp_path: Path) -> None:
    _need("chromium", CHROMIUM is not None)
    try:
        import gradio  # noqa: F401
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _need(f"python package {exc.name}", False)
        return
    import torch

    torch.set_num_threads(1)
    from sijscan.app.app import build_app, launch_app
    from sijscan.phantom.writers import write_display_dicom
    from sijscan.predict.pipeline import Pipeline
    from test_standins import draw_pelvis, make_models

    pipeline = Pipeline.from_folder(make_models(tmp_path / "models"), device="cpu")
    img, _ = draw_pelvis(192, 256)
    write_display_dicom(tmp_path / "pelvis.dcm", img)
    (tmp_path / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage")
    demo = build_app(pipeline, max_upload_mb=5)
    port = _free_port()
    launch_app(demo, host="127.0.0.1", port=port, block=False)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded", timeout=60_000)
            page.wait_for_selector("input[type=file]", state="attached", timeout=60_000)
            assert "Research use only" in page.content()
            page.set_input_files("input[type=file]", str(tmp_path / "pelvis.dcm"))
            page.wait_for_selector("text=Probability of sacroiliitis", timeout=90_000)
            summary = page.inner_text("#summary")
            assert "cut-off" in summary and "Decision" in summary
            page.wait_for_selector("#sijscan-images img", timeout=30_000)
            assert page.locator("#sijscan-images img").count() >= 3  # overlay, crop, Grad-CAM
            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
            page.wait_for_selector("input[type=file]", state="attached", timeout=60_000)
            page.set_input_files("input[type=file]", str(tmp_path / "broken.dcm"))
            page.wait_for_selector("text=cannot use this file", timeout=90_000)
            assert "Traceback" not in page.content()
            browser.close()
    finally:
        demo.close()
    cache = Path(os.environ["GRADIO_TEMP_DIR"])
    leftovers = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert not leftovers, leftovers
    if cache == Path(_PRIVATE):
        shutil.rmtree(cache, ignore_errors=True)
