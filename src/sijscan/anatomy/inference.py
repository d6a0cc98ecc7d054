"""Executing a segmenter network on a preprocessed image: one pass, or sliding windows, exact or ``fast``.

:func:`infer_logits` is what :meth:`sijscan.anatomy.segment.Segmenter.logits` runs. The recipe's
``inference`` says how (``{"mode": "single"}`` or ``{"mode": "sliding_window", "window": [h, w],
"overlap": f, "sw_batch_size": n, "blend": "constant" | "gaussian"}``).

Exact mode (the default) computes the same numbers as MONAI ``sliding_window_inference``: the same
windows (start = i * int(window * (1 - overlap)), the last one flush with the border; image zero-padded
symmetrically when smaller than a window), each window's logits summed in the same order and divided by
the per-pixel window count (constant blending). Only how the windows are executed differs
(``torch.inference_mode``, ``chunk`` windows per network call, so peak memory stays bounded); the
resulting logits agree with MONAI's within float32 rounding and the argmax labels are identical
(tests/anatomy/test_inference.py; speed in benchmarks/bench_published.py, docs/performance.md).
Gaussian blending and other MONAI options are delegated to MONAI itself.

``fast=True`` (``sijscan predict --fast``) runs ONE pass over the whole working image instead of the
windows (768 x 768 for the published model: 2.25 window areas instead of 9, so about 4 x fewer
FLOPs). It is NOT the published arithmetic: the network sees the whole image at once, with different
context, border padding and instance-normalisation statistics. Measured on a (short-trained) network
of the published structure it agreed badly with exact mode (sacrum Dice 0.06 between the modes;
docs/performance.md): an explicit, non-equivalent option, never the default.

``mirror`` (recipe ``inference.mirror``; sijscan's own models) is test-time augmentation as nnU-Net
does it: the network also sees the image mirrored left-right, its output is mirrored back with the
two hip-bone channels (image-left, image-right: :data:`MIRROR_SWAP`) exchanged, and the two outputs'
logits are averaged (a geometric mean of the probabilities; argmax and confidence read the mean as
they read one pass). The result is exactly mirror-equivariant: a mirrored radiograph gets the
mirrored label map.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from sijscan.errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 1  # windows per network call in exact mode (benchmarks/bench_published.py)
MIRROR_SWAP = (2, 3)
"""Output channels that trade places in a left-right mirror: hip bone image-left, image-right
(sijscan.anatomy.networks.LABELS)."""


def _field(spec: Any, name: str, default: Any = None) -> Any:
    """Read ``name`` from a recipe section given as a mapping or as a (dataclass) object."""
    if isinstance(spec, Mapping):
        return spec.get(name, default)
    return getattr(spec, name, default)


def window_starts(size: int, window: int, overlap: float) -> list[int]:
    """Start offsets along one axis, as MONAI's ``dense_patch_slices`` places them."""
    if window >= size:
        return [0]
    interval = max(int(window * (1.0 - overlap)), 1)
    n = math.ceil((size - window) / interval) + 1
    starts = []
    for i in range(n):
        s = i * interval
        s = size - window if s + window > size else s
        if s not in starts:
            starts.append(s)
    return starts


@torch.inference_mode()
def sliding_window_logits(network: torch.nn.Module, x: torch.Tensor, *, window: tuple[int, int], overlap: float,
                          chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """(N, C_in, H, W) -> (N, C_out, H, W): constant-blended sliding windows, MONAI's arithmetic."""
    if x.shape[0] != 1:
        return torch.cat([sliding_window_logits(network, x[i:i + 1], window=window, overlap=overlap, chunk=chunk)
                          for i in range(x.shape[0])])
    h0, w0 = int(x.shape[-2]), int(x.shape[-1])
    wh, ww = int(window[0]), int(window[1])
    ph, pw = max(wh - h0, 0), max(ww - w0, 0)
    if ph or pw:  # MONAI pads symmetrically (extra pixel at the end) with zeros
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    h, w = int(x.shape[-2]), int(x.shape[-1])
    boxes = [(r, c) for r in window_starts(h, wh, overlap) for c in window_starts(w, ww, overlap)]
    out: torch.Tensor | None = None
    count = torch.zeros((1, 1, h, w), dtype=torch.float32, device=x.device)
    step = max(int(chunk), 1)
    for i in range(0, len(boxes), step):
        part = boxes[i:i + step]
        batch = torch.cat([x[..., r:r + wh, c:c + ww] for r, c in part])
        pred = network(batch)
        if out is None:
            out = torch.zeros((1, pred.shape[1], h, w), dtype=pred.dtype, device=x.device)
        for k, (r, c) in enumerate(part):
            out[..., r:r + wh, c:c + ww] += pred[k:k + 1]
            count[..., r:r + wh, c:c + ww] += 1.0
    if out is None:  # pragma: no cover - there is always one window
        raise RuntimeError("no windows")
    out = out / count
    return out[..., ph // 2:ph // 2 + h0, pw // 2:pw // 2 + w0]


def infer_logits(network: torch.nn.Module, x: torch.Tensor, inference: Any, *, fast: bool = False,
                 chunk: int = DEFAULT_CHUNK, mirror_axis: int = -1) -> torch.Tensor:
    """Logits of ``network`` on the preprocessed ``x`` (N, 1, h, w) as ``inference`` (recipe section) says.

    ``mirror_axis``: the axis of ``x`` that is the radiograph's left-right one (-2 for transposed recipes).
    """
    out = _one_pass(network, x, inference, fast=fast, chunk=chunk)
    if inference is None or not _field(inference, "mirror", False):
        return out
    a, b = MIRROR_SWAP
    if out.shape[1] <= max(a, b):
        raise ModelError(f"inference.mirror needs the hip-bone channels {a} and {b}; the network gives {out.shape[1]}")
    order = list(range(out.shape[1]))
    order[a], order[b] = b, a
    with torch.inference_mode():
        back = _one_pass(network, torch.flip(x, dims=(mirror_axis,)), inference, fast=fast, chunk=chunk)
        return (out + torch.flip(back, dims=(mirror_axis,))[:, order]) / 2


def _one_pass(network: torch.nn.Module, x: torch.Tensor, inference: Any, *, fast: bool, chunk: int) -> torch.Tensor:
    mode = _field(inference, "mode", "single") if inference is not None else "single"
    with torch.inference_mode():
        if mode == "single" or (fast and mode == "sliding_window"):
            return network(x)
    if mode != "sliding_window":
        raise ModelError(f"unknown inference mode {mode!r} in recipe")
    window = tuple(int(v) for v in _field(inference, "window"))
    overlap = float(_field(inference, "overlap", 0.25))
    blend = _field(inference, "blend", "constant")
    if blend == "constant":
        return sliding_window_logits(network, x, window=window, overlap=overlap, chunk=chunk)  # type: ignore[arg-type]
    from monai.inferers import sliding_window_inference

    with torch.inference_mode():
        return sliding_window_inference(x, roi_size=window, sw_batch_size=int(_field(inference, "sw_batch_size", 4)),
                                        predictor=network, overlap=overlap, mode=blend)
