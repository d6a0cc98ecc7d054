"""The ONNX Runtime backend: an exported ``network.onnx`` behind the ``nn.Module`` interface.

:class:`OnnxNetwork` wraps an ``onnxruntime.InferenceSession`` so that the code around the network
(``Segmenter`` preprocessing, MONAI ``sliding_window_inference``, localisation, QC, the
classifier's outputs) is the same code with either backend: ``forward(x)`` returns the first
output (segmenter logits, classifier binary logits) as a tensor on ``x``'s device, and
``forward_all(x)`` returns ``(logits, grade_logits or None)`` like the torch classifier.

The ONNX file is found through the model card (``extra["onnx"]``, written by
:func:`sijscan.export.onnx_export.export_model`); its sha256 is checked before the session is
created, and the card's weights hash must be the one the file was exported from (else the export
is stale). Sessions use the CPU execution provider with ``torch.get_num_threads()`` intra-op
threads, or the CUDA provider when the device is CUDA and ``onnxruntime-gpu`` provides it.

Grad-CAM needs gradients, which an inference session does not give: the pipeline refuses
``gradcam=True`` with this backend (:class:`OnnxGradCAMError`).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sijscan.errors import InputError, ModelError
from sijscan.files import file_digest
from sijscan.modelfolder import ModelCard, read_card

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx")
CARD_KEY = "onnx"
"""Key in ``ModelCard.extra`` under which the export is recorded."""


class BackendError(InputError):
    """An unknown backend name, or a request the backend cannot serve (Grad-CAM with ONNX)."""


class OnnxGradCAMError(BackendError):
    """Grad-CAM asked for with the ONNX backend (an inference session has no gradients)."""


class OnnxModelError(ModelError):
    """The model folder's ONNX export is missing, changed, stale or unreadable."""


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise BackendError(f"backend must be 'torch' or 'onnx', got {backend!r}")
    return backend


class GradeOutput:
    """Stands where the torch classifier has its ``grade_head``: the ONNX graph has a grade output.

    ``predict.gradcam._run`` and ``classify.predict.classify_views`` test ``grade_head is not
    None`` before asking for ``forward_all``; this marker answers that test for an ONNX graph.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"GradeOutput({self.name!r})"


class OnnxNetwork(torch.nn.Module):
    """An ONNX Runtime session called like the torch network it was exported from (inference only)."""

    def __init__(self, session: Any, *, path: Path) -> None:
        super().__init__()
        self.session = session
        self.path = path
        self.input_name = session.get_inputs()[0].name
        self.output_names = [o.name for o in session.get_outputs()]
        # A parameter-free module has no device; callers ask ``next(network.parameters()).device``.
        self.device_anchor = torch.nn.Parameter(torch.empty(0), requires_grad=False)
        self.grade_head: GradeOutput | None = GradeOutput(self.output_names[1]) if len(self.output_names) > 1 else None

    def _outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        feed = {self.input_name: np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())}
        outs = self.session.run(self.output_names, feed)
        return [torch.from_numpy(np.asarray(o)).to(x.device) for o in outs]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._outputs(x)[0]

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        outs = self._outputs(x)
        return outs[0], (outs[1] if len(outs) > 1 else None)

    def extra_repr(self) -> str:
        return f"path={str(self.path)!r}, providers={self.session.get_providers()}"


def onnx_entry(card: ModelCard) -> dict[str, Any]:
    """The card's record of its ONNX export; :class:`OnnxModelError` naming the fix when absent."""
    entry = card.extra.get(CARD_KEY) if isinstance(card.extra, dict) else None
    if not isinstance(entry, dict) or not entry.get("file"):
        raise OnnxModelError(f"{card.path}: no ONNX export recorded in model.json; "
                             f"run `sijscan export-onnx --model {card.path}` first")
    return entry


def onnx_path(card: ModelCard) -> Path:
    """Where the card says its ONNX file is (relative paths are relative to the model folder)."""
    p = Path(onnx_entry(card)["file"])
    return p if p.is_absolute() else Path(card.path or ".") / p


def providers_for(device: str) -> list[str]:
    """ONNX Runtime execution providers for a torch device string (CPU always last, as fallback)."""
    import onnxruntime as ort

    if str(device).startswith("cuda"):
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        log.warning("device %s asked for, but this onnxruntime has no CUDA provider (install onnxruntime-gpu); "
                    "running ONNX on the CPU", device)
    return ["CPUExecutionProvider"]


def make_session(path: str | os.PathLike[str], *, device: str = "cpu", threads: int | None = None) -> Any:
    """An ``InferenceSession`` for ``path`` with ``threads`` (default ``torch.get_num_threads()``) intra-op threads."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BackendError("the ONNX backend needs onnxruntime (pip install 'sijscan[onnx]')") from exc
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads or torch.get_num_threads())
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3  # errors only: the session's own warnings go nowhere useful
    # No pre-planned memory patterns: they cost ~50 MB of peak RSS per pipeline (measured: 1008 vs 960 MB
    # over 12 phantom radiographs, default models, 2-core CPU) for no measurable speed here.
    opts.enable_mem_pattern = False
    providers = providers_for(device)
    options: list[dict[str, Any]] = []
    for name in providers:
        dev = str(device)
        options.append({"device_id": int(dev.split(":", 1)[1]) if ":" in dev else 0} if name == "CUDAExecutionProvider" else {})
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=providers, provider_options=options)
    except Exception as exc:  # onnxruntime raises its own (Fail, InvalidProtobuf, ...) without a common base
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OnnxModelError(f"{path}: onnxruntime cannot load it ({first})") from exc


def load_onnx_network(model_dir: str | os.PathLike[str], *, device: str = "cpu") -> tuple[OnnxNetwork, ModelCard]:
    """The folder's exported network as an :class:`OnnxNetwork`, after checking file and hashes."""
    card = read_card(model_dir)
    entry = onnx_entry(card)
    path = onnx_path(card)
    fix = f"run `sijscan export-onnx --model {model_dir}`"
    if not path.is_file():
        raise OnnxModelError(f"{path}: ONNX file named in model.json is missing; {fix}")
    if file_digest(path) != entry.get("sha256"):
        raise OnnxModelError(f"{path}: sha256 does not match model.json (file changed or corrupt); {fix}")
    if entry.get("weights_sha256") and card.sha256 and entry["weights_sha256"] != card.sha256:
        raise OnnxModelError(f"{path}: exported from other weights than the folder now holds (stale); {fix}")
    network = OnnxNetwork(make_session(path, device=device), path=path)
    log.info("%s: ONNX backend, %s, providers %s", model_dir, path.name, network.session.get_providers())
    return network.to(device).eval(), card
