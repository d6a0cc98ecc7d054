"""Grad-CAM of the classifier, and its exact inverse mapping onto the radiograph.

One forward pass (the same one that classifies) and one backward pass from the class score to the
output of the target layer (``layer4[-1]``, the last residual block); no eigen-smoothing, no
augmentation. The class score is the logit margin: ``z1 - z0`` is the evidence *for* definite
radiographic sacroiliitis (softmax index 1) whatever the decision, ``z0 - z1`` the evidence for
"negative". Gradients are taken with ``torch.autograd.grad`` with respect to the block's output
only, so no parameter gradient is computed or accumulated.

Grad-CAM (Selvaraju et al. 2017): ``alpha_k = mean_xy dS/dA_k``;
``cam = ReLU(sum_k alpha_k A_k)``, upsampled bilinearly to the network input and scaled to [0, 1]
by its maximum (an all-zero map stays zero: no evidence).

Inverse mapping (:func:`cam_to_radiograph`): the classifier input is ``pad_or_crop(resize_longest(
mirror?(crop)))`` (see :mod:`sijscan.classify.preprocess`); every crop pixel is carried through
the same geometry (bilinear ``align_corners=True`` scale, then the pad or crop offset) to a
sub-pixel position in the model input, the CAM is sampled there, un-mirrored and pasted into the
crop box on a radiograph-sized map.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from sijscan.classify.predict import forward_logits
from sijscan.classify.preprocess import longest_side_size
from sijscan.errors import ModelError

log = logging.getLogger(__name__)

CLASSES = {"positive": 1, "negative": 0}


class GradCAMError(ModelError):
    """The network has no layer Grad-CAM can hook (``layer4[-1]`` or the one named)."""


@dataclass
class ForwardWithCAM:
    """Outputs of one forward pass plus the CAMs asked for (input-sized, [0, 1])."""

    logits: torch.Tensor  # (N, 2), detached
    grade_logits: torch.Tensor | None  # (N, 2 sides, 4) cumulative, detached, or None
    cams: dict[str, np.ndarray]  # class name -> float32 (N, H, W)


def target_layer(network: torch.nn.Module, name: str | None = None) -> torch.nn.Module:
    """The module to hook: ``name`` (dotted, e.g. ``"layer4.1"``) or the last block of the network's last
    stage (``layer4``; a cut network's ``stages`` name its last one)."""
    if name:
        try:
            return network.get_submodule(name)
        except AttributeError as exc:
            raise GradCAMError(f"network has no submodule {name!r} for Grad-CAM") from exc
    stages = getattr(network, "stages", None)
    last = stages[-1] if stages else "layer4"
    stage = getattr(network, last, None)
    if stage is None:
        raise GradCAMError(f"network has no {last!r}; name the Grad-CAM target layer explicitly")
    if isinstance(stage, torch.nn.Sequential) and len(stage) > 0:
        return stage[-1]
    return stage


def target_layers(network: torch.nn.Module, name: str | None = None) -> list[torch.nn.Module]:
    """:func:`target_layer` of the network, or of each member of an ensemble (``network.members``):
    the ensemble's CAM is the sum of its members' Grad-CAMs of the averaged logit, normalised once."""
    members = getattr(network, "members", None)
    if members is not None and not name:
        return [target_layer(m) for m in members]
    return [target_layer(network, name)]


def forward_with_cam(
    network: torch.nn.Module,
    x: torch.Tensor,
    *,
    classes: Sequence[str] = ("positive",),
    layer: str | None = None,
) -> ForwardWithCAM:
    """Run ``network`` on ``x`` (N, 1, H, W) once; return logits and Grad-CAMs of ``classes``.

    Everything before the target layer runs without autograd; the target layer and the head
    record a graph, so the backward pass covers only the last block's output and the head.
    """
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise ValueError(f"Grad-CAM classes must be among {sorted(CLASSES)}, got {unknown}")
    modules = target_layers(network, layer)
    store: dict[int, torch.Tensor] = {}

    def pre_hook(_m: torch.nn.Module, _inp: Any) -> None:
        torch.set_grad_enabled(True)  # restored when the surrounding no_grad block exits

    def hooks(k: int) -> Any:
        def hook(_m: torch.nn.Module, _inp: Any, out: torch.Tensor) -> None:
            store[k] = out
        return hook

    handles = [h for k, module in enumerate(modules)
               for h in (module.register_forward_pre_hook(pre_hook), module.register_forward_hook(hooks(k)))]
    try:
        with torch.no_grad():
            logits, grades = forward_logits(network, x)
            acts = [store.get(k) for k in range(len(modules))]
            if any(a is None or not a.requires_grad for a in acts):
                raise GradCAMError("the Grad-CAM target layer was not part of the forward pass")
            margin = (logits[:, 1] - logits[:, 0]).float()
            cams: dict[str, np.ndarray] = {}
            for i, cls in enumerate(classes):
                score = margin if cls == "positive" else -margin
                grads = torch.autograd.grad(score.sum(), acts, retain_graph=i < len(classes) - 1)
                cams[cls] = _cam_from([a.detach() for a in acts], list(grads), size=(int(x.shape[-2]), int(x.shape[-1])))
    finally:
        for h in handles:
            h.remove()
    return ForwardWithCAM(logits=logits.detach(), grade_logits=None if grades is None else grades.detach(), cams=cams)


def _cam_from(acts: list[torch.Tensor], grads: list[torch.Tensor], *, size: tuple[int, int]) -> np.ndarray:
    """Grad-CAM (channel weights = spatially averaged gradients) of each target layer, input-sized, summed."""
    cam = 0
    for act, grad in zip(acts, grads):
        weights = grad.float().mean(dim=(2, 3), keepdim=True)
        one = torch.relu((weights * act.float()).sum(dim=1, keepdim=True))
        cam = cam + F.interpolate(one, size=size, mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
    cam = torch.where(peak > 1e-12, cam / peak, torch.zeros_like(cam))
    return cam.clamp(0, 1).cpu().numpy().astype(np.float32)


def cam_to_crop(cam: np.ndarray, *, crop_shape: Sequence[int], mirror: bool = False) -> np.ndarray:
    """Map an input-sized CAM (H, W) back onto the crop (h, w) it was computed from.

    Inverts :func:`sijscan.classify.preprocess.preprocess_view`'s geometry: longest side resized to
    W (rounded like MONAI), then symmetric zero pad (extra pixel after) or centred crop to H x W.
    Each crop pixel is followed through that geometry to a (sub-pixel) model-input position and
    the CAM is sampled there bilinearly; crop pixels a centred crop cut away get 0.
    """
    cam = np.asarray(cam, dtype=np.float32)
    if cam.ndim != 2:
        raise ValueError(f"cam must be 2-D, got shape {cam.shape}")
    height, width = cam.shape
    ch, cw = int(crop_shape[0]), int(crop_shape[1])
    rh, rw = longest_side_size((ch, cw), width)
    coords = []
    for n_crop, n_resized, target in ((ch, rh, height), (cw, rw, width)):
        # crop pixel -> resized pixel (bilinear, align_corners=True) -> model-input pixel (pad/crop offset)
        pos = np.arange(n_crop, dtype=np.float64) * ((n_resized - 1) / (n_crop - 1) if n_crop > 1 else 0.0)
        offset = (target - n_resized) // 2 if n_resized <= target else -((n_resized - target) // 2)
        coords.append(pos + offset)
    ys, xs = np.meshgrid(coords[0], coords[1], indexing="ij")
    inside = (ys >= -1e-6) & (ys <= height - 1 + 1e-6) & (xs >= -1e-6) & (xs <= width - 1 + 1e-6)
    grid = np.stack([2 * xs / max(width - 1, 1) - 1, 2 * ys / max(height - 1, 1) - 1], axis=-1)
    t = torch.from_numpy(cam)[None, None]
    g = torch.from_numpy(grid.astype(np.float32))[None]
    back = F.grid_sample(t, g, mode="bilinear", padding_mode="border", align_corners=True)[0, 0].numpy()
    back = np.where(inside, back, 0.0)
    if mirror:
        back = back[:, ::-1]
    return np.ascontiguousarray(back, dtype=np.float32)


def cam_to_radiograph(cam: np.ndarray, *, crop_box: Sequence[int], image_shape: Sequence[int],
                      mirror: bool = False) -> np.ndarray:
    """Map an input-sized CAM onto the whole radiograph through the crop box ``[x0, y0, x1, y1]``."""
    x0, y0, x1, y1 = (int(v) for v in crop_box)
    full = np.zeros((int(image_shape[0]), int(image_shape[1])), dtype=np.float32)
    full[y0:y1, x0:x1] = cam_to_crop(cam, crop_shape=(y1 - y0, x1 - x0), mirror=mirror)
    return full


def cam_tiles_to_radiograph(cam: np.ndarray, *, tiles: Sequence[tuple[Sequence[int], bool]], crop_shape: Sequence[int],
                            image_shape: Sequence[int], mirror: bool = False) -> np.ndarray:
    """Map an input-sized CAM of a joint-pair crop (tiles side by side, see
    :func:`sijscan.anatomy.crop.joint_pair_crop`) back onto the whole radiograph, tile by tile
    (mirrored tiles mirrored back; where tiles overlap, the larger value)."""
    on_crop = cam_to_crop(cam, crop_shape=crop_shape, mirror=mirror)
    full = np.zeros((int(image_shape[0]), int(image_shape[1])), dtype=np.float32)
    x = 0
    for box, mirrored in tiles:
        x0, y0, x1, y1 = (int(v) for v in box)
        part = on_crop[:, x:x + (x1 - x0)]
        x += x1 - x0
        if mirrored:
            part = part[:, ::-1]
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x1, full.shape[1]), min(y1, full.shape[0])
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        sub = part[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        np.maximum(full[cy0:cy1, cx0:cx1], sub, out=full[cy0:cy1, cx0:cx1])
    return full
