"""One way to load a model folder's network for inference, whatever runs it: torch or ONNX Runtime.

``load_network(folder, backend=..., device=...)`` returns ``(network, card)``: the torch module
rebuilt from the folder's safetensors (:func:`sijscan.modelfolder.load_model`), or the folder's
exported ONNX graph behind the same ``nn.Module`` interface (:mod:`sijscan.onnx_backend`). The
segmenter and the classifier both load through here, so neither knows which backend it got.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sijscan.modelfolder import ModelCard, load_model
from sijscan.onnx_backend import check_backend, load_onnx_network

if TYPE_CHECKING:
    import torch


def load_network(folder: str | os.PathLike[str], *, backend: str = "torch",
                 device: str = "cpu") -> tuple["torch.nn.Module", ModelCard]:
    """The folder's network (eval mode) on ``device`` and its card; ``backend`` "torch" or "onnx"."""
    if check_backend(backend) == "onnx":
        return load_onnx_network(folder, device=device)
    network, card = load_model(folder, map_location=device)
    return network, card
