"""Export a model folder's network to ONNX and record the file, its hash and its fidelity in the card.

``export_model(DIR)`` writes ``DIR/onnx/network.onnx`` (or ``out_dir/network.onnx``) with a
dynamic batch axis and, where the network allows, dynamic height and width; then it runs the ONNX
file in onnxruntime and the torch network on the same fixed random input (seed 0) at batch sizes
2 and 1 and records the largest absolute difference of any output, with the file's sha256, the
opset, the exporter and the weights hash it was made from, in ``model.json`` under
``extra["onnx"]`` (via :func:`sijscan.modelfolder.update_card`).

Outputs follow the torch call sites: a segmenter has one output ``logits`` (N, C, H, W); a
classifier has ``logits`` (N, 2) and, when it has the per-side grade head, ``grade_logits``
(N, 2 sides, 4 cumulative), exactly what ``sijscan.predict.gradcam._run`` returns.

Exporter: ``"dynamo"`` (``torch.onnx.export(..., dynamo=True)``, the torch.export-based exporter
and torch's default; dynamic axes given as ``Dim.AUTO`` so a dimension the graph cannot keep
dynamic is specialised instead of failing) is the default and works for ``unet-default``,
``unet-paper`` and the classifier ResNets. ``"torchscript"`` (the legacy tracer, deprecated by
torch) gives the same graph about 20x faster on this CPU and is kept as an option for tests and
networks the dynamo exporter rejects.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

import sijscan.anatomy.networks  # noqa: F401 - registers the architectures load_model rebuilds
import sijscan.classify.networks  # noqa: F401
from sijscan.classify.predict import forward_logits
from sijscan.classify.preprocess import PreprocessSpec
from sijscan.errors import ModelError
from sijscan.files import atomic_path, file_digest
from sijscan.modelfolder import ModelCard, load_model, update_card
from sijscan.onnx_backend import make_session
from sijscan.outfolder import check_out_dir
from sijscan.pipelinefolder import PIPELINE_FILE, pipeline_dirs

log = logging.getLogger(__name__)

DEFAULT_OPSET = 20
ONNX_DIR, ONNX_FILE = "onnx", "network.onnx"
Exporter = Literal["dynamo", "torchscript"]


class OnnxExportError(ModelError):
    """torch could not export the network, or onnxruntime could not run what it wrote."""


@dataclass
class OnnxExport:
    """What one export wrote and measured."""

    model_dir: Path
    kind: str
    path: Path
    sha256: str
    opset: int
    exporter: str
    outputs: list[str]
    dynamic_axes: dict[str, list[int]]
    check_shape: list[int]
    max_abs_diff: float


class _SegmenterGraph(torch.nn.Module):
    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.network(image)


class _ClassifierGraph(torch.nn.Module):
    """Binary logits, plus the cumulative grade logits when the network has a grade head."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, image: torch.Tensor) -> Any:
        logits, grades = forward_logits(self.network, image)
        return logits if grades is None else (logits, grades)


def example_shape(card: ModelCard) -> tuple[int, int]:
    """(H, W) the network sees in use: the segmenter's window or working size, the classifier's input."""
    if card.kind == "segmenter":
        inf = card.recipe.get("inference", {}) or {}
        size = inf["window"] if inf.get("mode") == "sliding_window" else card.recipe["working_size"]
        return int(size[0]), int(size[1])

    spec = PreprocessSpec.from_json(dict(card.recipe.get("preprocess", {})))
    return int(spec.height), int(spec.width)


def _torch_export(graph: torch.nn.Module, x: torch.Tensor, path: Path, *, outputs: list[str], opset: int,
                  exporter: Exporter) -> None:
    if exporter == "dynamo":
        from torch.export import Dim

        auto = {0: Dim.AUTO, 2: Dim.AUTO, 3: Dim.AUTO}
        with contextlib.redirect_stdout(io.StringIO()) as chatter:  # the exporter prints its progress
            torch.onnx.export(graph, (x,), str(path), input_names=["image"], output_names=outputs,
                              opset_version=opset, dynamo=True, external_data=False,
                              dynamic_shapes={"image": auto}, verbose=False)
        log.debug("torch.onnx (dynamo): %s", chatter.getvalue().strip())
    else:
        axes = {"image": {0: "batch", 2: "height", 3: "width"}, **{name: {0: "batch"} for name in outputs}}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*",
                                    category=DeprecationWarning)
            torch.onnx.export(graph, (x,), str(path), input_names=["image"], output_names=outputs,
                              opset_version=opset, dynamo=False, dynamic_axes=axes)


def _dynamic_axes(path: Path) -> tuple[int, dict[str, list[int]]]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    axes = {}
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        axes[value.name] = [i for i, d in enumerate(dims) if d.dim_param or not d.HasField("dim_value")]
    return int(opset), axes


def _max_abs_diff(graph: torch.nn.Module, path: Path, x: torch.Tensor) -> float:
    """Largest |onnx - torch| over every output, at x's batch size and at batch size 1."""
    session = make_session(path, device="cpu")
    worst = 0.0
    for batch in (x, x[:1]):
        with torch.inference_mode():
            ref = graph(batch)
        ref_list = [ref] if isinstance(ref, torch.Tensor) else list(ref)
        got = session.run(None, {session.get_inputs()[0].name: batch.numpy()})
        if len(got) != len(ref_list):
            raise OnnxExportError(f"{path}: ONNX graph has {len(got)} outputs, torch {len(ref_list)}")
        for g, r in zip(got, ref_list):
            if tuple(g.shape) != tuple(r.shape):
                raise OnnxExportError(f"{path}: ONNX output shape {tuple(g.shape)} != torch {tuple(r.shape)}")
            worst = max(worst, float(np.max(np.abs(g.astype(np.float64) - r.double().numpy()))))
    return worst


def export_model(model_dir: str | os.PathLike[str], *, out_dir: str | os.PathLike[str] | None = None,
                 opset: int = DEFAULT_OPSET, exporter: Exporter = "dynamo", seed: int = 0) -> OnnxExport:
    """Export one model folder (segmenter or classifier); update its card; return what was done."""
    if exporter not in ("dynamo", "torchscript"):
        raise ValueError(f"exporter must be 'dynamo' or 'torchscript', got {exporter!r}")
    _require(["onnx", "onnxruntime"] + (["onnxscript"] if exporter == "dynamo" else []))
    folder = Path(model_dir)
    target_dir = Path(out_dir) if out_dir is not None else folder / ONNX_DIR
    check_out_dir(target_dir, flag="--out" if out_dir is not None else "ONNX folder")  # before any work
    check_out_dir(folder, flag="model folder (its model.json records the export)")
    network, card = load_model(folder, map_location="cpu")
    network = network.float().eval()
    if card.kind == "segmenter":
        graph: torch.nn.Module = _SegmenterGraph(network).eval()
        outputs = ["logits"]
    else:
        graph = _ClassifierGraph(network).eval()
        outputs = ["logits", "grade_logits"] if getattr(network, "grade_head", None) is not None else ["logits"]
    h, w = example_shape(card)
    # batch 2: an example of batch 1 would let the exporter specialise the batch axis to 1
    x = torch.randn(2, 1, h, w, generator=torch.Generator().manual_seed(seed))
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / ONNX_FILE
    with atomic_path(target) as tmp:
        try:
            _torch_export(graph, x, tmp, outputs=outputs, opset=int(opset), exporter=exporter)
        except Exception as exc:  # torch.export / onnxscript raise many unrelated types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise OnnxExportError(f"{folder}: torch.onnx.export ({exporter}) failed: {first}") from exc
        diff = _max_abs_diff(graph, tmp, x)
        real_opset, axes = _dynamic_axes(tmp)
    digest = file_digest(target)
    rel = os.path.relpath(target.resolve(), folder.resolve())
    entry: dict[str, Any] = {
        "file": rel, "sha256": digest, "opset": real_opset, "exporter": exporter, "outputs": outputs,
        "input": "image", "dynamic_axes": axes, "check_input": {"shape": [2, 1, h, w], "distribution": "normal",
                                                                 "seed": seed, "batch_sizes": [2, 1]},
        "max_abs_diff": diff, "weights_sha256": card.sha256, "torch": torch.__version__,
        "onnxruntime": _ort_version(),
    }
    update_card(folder, extra={**card.extra, "onnx": entry})
    if diff > 1e-3:
        log.warning("%s: ONNX and torch outputs differ by up to %.3g on the check input", folder, diff)
    log.info("exported %s (%s) to %s, max |onnx - torch| %.3g", folder, card.kind, target, diff)
    return OnnxExport(model_dir=folder, kind=card.kind, path=target, sha256=digest, opset=real_opset,
                      exporter=exporter, outputs=outputs, dynamic_axes=axes, check_shape=[2, 1, h, w],
                      max_abs_diff=diff)


def export_any(folder: str | os.PathLike[str], *, out_dir: str | os.PathLike[str] | None = None,
               opset: int = DEFAULT_OPSET, exporter: Exporter = "dynamo") -> list[OnnxExport]:
    """Export a segmenter folder, a classifier folder, or both models a ``pipeline.json`` folder names.

    With ``out_dir`` and a pipeline folder, the files go to ``out_dir/segmenter`` and ``out_dir/classifier``.
    """
    root = Path(folder)
    if (root / PIPELINE_FILE).is_file():
        dirs = pipeline_dirs(root)
        return [export_model(d, out_dir=None if out_dir is None else Path(out_dir) / role, opset=opset,
                             exporter=exporter) for role, d in sorted(dirs.items(), key=lambda kv: kv[0] != "segmenter")]
    return [export_model(root, out_dir=out_dir, opset=opset, exporter=exporter)]


def _require(modules: list[str]) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise OnnxExportError(f"ONNX export needs {', '.join(missing)} (pip install 'sijscan[onnx]' onnxscript)")


def _ort_version() -> str | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    return str(onnxruntime.__version__)
