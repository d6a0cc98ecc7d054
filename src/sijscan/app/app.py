"""The sijscan web app (Gradio): upload a radiograph, see the anatomy, the SIJ crop, the probability
and decision at the cut-off, per-side grades, Grad-CAM and QC warnings. Research use only.

Nothing is stored: the uploaded file (which Gradio writes into its upload cache) is deleted as soon
as it has been read, results are sent as one HTML block with embedded images (no result files), and
Gradio's cache lives in a private (0700) temporary folder (``GRADIO_TEMP_DIR``) that is swept every
``UNANALYSED_MAX_S`` seconds of uploads never analysed (``delete_cache``), and removed at exit:
normal exit (``atexit``) and SIGTERM/SIGINT (:func:`remove_on_signals`, installed by ``sijscan
serve``). Uploads over ``max_upload_mb`` are refused by Gradio at upload time and again here.
"""
from __future__ import annotations

import atexit
import html
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from sijscan.anatomy.outputs import to_uint8
from sijscan.errors import InputError, SijscanError, one_line
from sijscan.predict.explain import (EMPTY_CAM, OVERLAY_LEGEND, agreement_note, cam_is_empty, model_line,
                                     pipeline_identity)
from sijscan.predict.overlay import cam_overlay, data_uri, segmentation_overlay
from sijscan.predict.pipeline import to_radiograph

log = logging.getLogger(__name__)

NOTICE = ("**Research use only - not a medical device.** sijscan estimates the probability of definite "
          "radiographic sacroiliitis (modified New York criteria) on AP pelvis radiographs. Do not use it "
          "for diagnosis. Uploads are processed in memory and deleted at once; nothing is stored.")


#: An upload not analysed within this many seconds (a closed tab, a dropped request) is deleted.
UNANALYSED_MAX_S = 60
_OWNED_ENV = "SIJSCAN_PRIVATE_GRADIO_DIR"


class ServeError(InputError):
    """The web app cannot start (port in use, address not available)."""


class UploadTooLargeError(InputError):
    """An upload over ``--max-upload-mb``."""


def private_temp_dir() -> Path:
    """Point ``GRADIO_TEMP_DIR`` at a new private (0700) folder this process removes at exit; return it.

    A ``GRADIO_TEMP_DIR`` set by the user is used as the parent of that folder (never removed itself).
    Calling again in the same process returns the same folder.
    """
    owned = os.environ.get(_OWNED_ENV)
    if owned and os.environ.get("GRADIO_TEMP_DIR") == owned and Path(owned).is_dir():
        return Path(owned)
    parent = os.environ.get("GRADIO_TEMP_DIR") or None
    if parent:
        Path(parent).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="sijscan-gradio-", dir=parent))
    os.environ["GRADIO_TEMP_DIR"] = os.environ[_OWNED_ENV] = str(path)
    atexit.register(shutil.rmtree, path, True)
    return path


def remove_on_signals(path: Path, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
    """On each of ``signals``: delete ``path`` (the upload cache) at once, then stop as that signal asks.

    SIGINT then raises ``KeyboardInterrupt`` (Gradio closes its server), SIGTERM ``SystemExit(143)``.
    Call from the main thread (Python delivers signals there).
    """
    def handler(signum: int, frame: Any) -> None:
        shutil.rmtree(path, ignore_errors=True)
        log.info("signal %d: removed the upload cache %s", signum, path)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    for sig in signals:
        signal.signal(sig, handler)


def check_port(host: str, port: int) -> None:
    """Raise :class:`ServeError` (one line) when ``host:port`` cannot be bound (in use, no such address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ServeError(f"--host {host}: not an address of this machine ({exc.strerror})") from exc
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is fine
        try:
            sock.bind(addr)
        except OSError as exc:
            if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
                raise ServeError(f"port {port} on {host} is already in use (another sijscan serve?); "
                                 "choose another with --port") from exc
            raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from exc


class UploadTracker:
    """How many uploads point at each cached file, and what the last read of each path gave.

    Gradio stores an upload under the hash of its content, so two users uploading the same file
    share one path; it may only be deleted once every request that uploaded it has been served.
    The count is only a fast path: an upload renamed onto the path before its response reaches
    :class:`UploadCounter` is not counted yet, and the request served first deletes its file. So
    :meth:`read` keeps the result of reading each path (the radiograph, or the error) for
    ``RECENT_S`` seconds (at most ``RECENT_MAX`` paths, in memory): a request whose file a request
    of the same content has already consumed gets that result (same path = same content).
    """

    RECENT_S = UNANALYSED_MAX_S
    RECENT_MAX = 4

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._recent: dict[str, tuple[float, Any]] = {}

    def read(self, path: str, reader: Callable[[str], Any]) -> Any:
        """``reader(path)``, or the result of the last read of this path when another request of the
        same content has deleted it meanwhile; an ``InputError``/``OSError`` is raised again each time."""
        key = os.path.realpath(path)
        with self._lock:
            now = time.monotonic()
            for k in [k for k, (t, _) in self._recent.items() if now - t > self.RECENT_S]:
                del self._recent[k]
            if not os.path.exists(key) and key in self._recent:
                result = self._recent[key][1]
            else:
                try:
                    result = reader(key)
                except (InputError, OSError) as exc:
                    result = exc
                self._recent.pop(key, None)
                self._recent[key] = (now, result)
                while len(self._recent) > self.RECENT_MAX:
                    del self._recent[next(iter(self._recent))]
        if isinstance(result, BaseException):
            raise result
        return result

    def add(self, paths: list[str]) -> None:
        with self._lock:
            for p in paths:
                key = os.path.realpath(p)
                self._counts[key] = self._counts.get(key, 0) + 1

    def release(self, path: str) -> None:
        """One request is done with ``path``: delete the file when no other request needs it."""
        key = os.path.realpath(path)
        with self._lock:
            left = self._counts.get(key, 1) - 1
            if left > 0:
                self._counts[key] = left
                return
            self._counts.pop(key, None)
            # the file only: its folder (named by the content's hash) may be receiving another upload of
            # the same content right now (mkdir, then rename into it); empty folders go with the cache
            Path(key).unlink(missing_ok=True)


class UploadCounter:
    """ASGI middleware: record the paths Gradio's ``/upload`` route returns in an ``UploadTracker``."""

    def __init__(self, app: Any, tracker: UploadTracker) -> None:
        self.app, self.tracker = app, tracker

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or not str(scope.get("path", "")).rstrip("/").endswith("/upload"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def send_and_record(message: dict) -> None:
            if message.get("type") == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    try:
                        paths = json.loads(b"".join(chunks))
                    except ValueError:
                        paths = None
                    if isinstance(paths, list):
                        self.tracker.add([str(p) for p in paths])
            await send(message)

        await self.app(scope, receive, send_and_record)


def _figure(uri: str | None, caption: str) -> str:
    if not uri:
        return ""
    return (f"<figure style='display:inline-block;margin:4px;vertical-align:top'><img src='{uri}' "
            f"style='max-width:420px;max-height:420px' alt='{html.escape(caption)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def render_result(pred: Any, *, model: str | None = None) -> tuple[str, str]:
    """(markdown summary, HTML with the images embedded) for one ``Prediction``; ``model`` names the model."""
    lines = [f"Model: {model}"] if model else []
    if pred.probability is not None:
        lines.append(f"**Probability of sacroiliitis: {pred.probability:.3f}** "
                     f"(calibrated {pred.probability_calibrated:.3f}; cut-off {pred.cutoff:.3f})")
    if pred.decision is None:
        lines.append("**Decision: withheld** - " + "; ".join(pred.qc_reasons or ["no SIJ crop could be taken"]))
    else:
        lines.append(f"**Decision: {'positive' if pred.decision else 'negative'}** "
                     f"(probability {'>=' if pred.decision else '<'} cut-off {pred.cutoff:.3f})")
    if pred.grades:
        lines.append(f"Per-side grades (patient left / right): {pred.grades['left']} / {pred.grades['right']}; "
                     f"modified New York from grades: {'positive' if pred.mny else 'negative'}")
        note = agreement_note(decision=pred.decision, grade_left=pred.grades.get("left"),
                              grade_right=pred.grades.get("right"), mny=pred.mny)
        if note:
            lines.append(note)
    if pred.qc_warnings:
        lines.append("QC warnings: " + "; ".join(pred.qc_warnings))
    im = pred.images
    figs = []
    if im is not None:
        figs.append(_figure(data_uri(segmentation_overlay(im.pixels, im.labels, box=pred.sij_box,
                                                          side_boxes=pred.sij_boxes), longest=640),
                            "segmentation and SIJ box. " + OVERLAY_LEGEND))
        if im.crop is not None:
            figs.append(_figure(data_uri(to_uint8(im.crop), longest=640), "SIJ crop" if pred.view == "sij" else "view"))
        cam_crop = pred.cam_on_crop("positive")
        if cam_crop is not None and im.crop is not None:
            figs.append(_figure(data_uri(cam_overlay(im.crop, cam_crop), longest=640),
                                "Grad-CAM: " + (EMPTY_CAM if cam_is_empty(cam_crop) else "evidence for sacroiliitis")))
        cam_full = pred.cam_on_radiograph("positive")
        if cam_full is not None and pred.view == "sij":
            figs.append(_figure(data_uri(cam_overlay(im.pixels, cam_full, longest=640), longest=640), "Grad-CAM on the radiograph"))
    return "\n\n".join(lines), "<div id='sijscan-images'>" + "".join(figs) + "</div>"


def analyse(pipeline: Any, path: str | None, *, max_upload_mb: float,
            tracker: UploadTracker | None = None) -> tuple[str, str]:
    """The request handler: read, predict, render; the upload is deleted whatever happens."""
    if not path:
        return "Upload a radiograph (DICOM, PNG, JPEG, TIFF or NIfTI).", ""
    tracker = tracker or UploadTracker()

    def read(p: str) -> Any:
        size = Path(p).stat().st_size
        if size > max_upload_mb * 1024 * 1024:
            raise UploadTooLargeError(f"the file is {size / 1024 / 1024:.1f} MB; uploads are limited to "
                                      f"{max_upload_mb:g} MB.")

        return to_radiograph(p)

    try:
        radiograph = tracker.read(path, read)
    except UploadTooLargeError as exc:
        return f"**Error:** {exc}", ""
    except SijscanError as exc:
        return f"**Error:** cannot use this file: {html.escape(one_line(exc).replace(str(path), 'upload'))}", ""
    except OSError as exc:
        return f"**Error:** cannot read the upload ({html.escape(type(exc).__name__)})", ""
    finally:
        tracker.release(path)
    try:
        pred = pipeline.predict(radiograph, gradcam=True, name="upload")
    except SijscanError as exc:
        return f"**Error:** {html.escape(one_line(exc))}", ""

    return render_result(pred, model=model_line(pipeline_identity(pipeline)))


def build_app(pipeline: Any, *, max_upload_mb: float = 50.0) -> Any:
    """The Gradio ``Blocks`` of the app (launch it with :func:`launch_app`)."""
    private_temp_dir()
    import gradio as gr

    tracker = UploadTracker()
    with gr.Blocks(title="sijscan", delete_cache=(UNANALYSED_MAX_S, UNANALYSED_MAX_S), analytics_enabled=False) as demo:
        gr.Markdown("# sijscan - radiographic sacroiliitis (research use only)")
        gr.Markdown(NOTICE, elem_id="notice")
        upload = gr.File(label=f"Radiograph (DICOM, PNG, JPEG, TIFF, NIfTI; at most {max_upload_mb:g} MB)",
                         type="filepath", elem_id="upload")
        # Gradio's File.preprocess leaves an empty temporary file in its cache per request; hand over
        # the upload's own path instead.
        upload._process_single_file = lambda f: gr.utils.NamedString(f.path)  # type: ignore[method-assign]
        summary = gr.Markdown(elem_id="summary")
        images = gr.HTML(elem_id="images")

        def handler(path: str | None) -> tuple[str, str]:
            return analyse(pipeline, path, max_upload_mb=max_upload_mb, tracker=tracker)

        upload.upload(handler, inputs=upload, outputs=[summary, images], api_name="analyse")
    demo.queue(default_concurrency_limit=1, max_size=256)
    demo.sijscan_max_upload_mb = max_upload_mb  # type: ignore[attr-defined]
    demo.sijscan_upload_tracker = tracker  # type: ignore[attr-defined]
    return demo


def launch_app(demo: Any, *, host: str = "127.0.0.1", port: int = 7860, block: bool = True) -> Any:
    """Launch ``demo`` (no share link, no analytics); ``block=False`` returns at once (tests)."""
    from starlette.middleware import Middleware

    mb = float(getattr(demo, "sijscan_max_upload_mb", 50.0))
    tracker = getattr(demo, "sijscan_upload_tracker", None) or UploadTracker()
    return demo.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=not block,
                       max_file_size=f"{mb:g}mb", quiet=True, show_error=False, footer_links=[],
                       app_kwargs={"middleware": [Middleware(UploadCounter, tracker=tracker)]})
