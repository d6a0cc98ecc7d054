"""Run any segmenter model folder (sijscan's own or an imported published one) from its card alone.

The card's ``recipe`` (see :mod:`sijscan.anatomy.recipes`) says how to preprocess, infer and
postprocess; nothing here is specific to one model. :func:`segment_and_locate` is the one call a
pipeline needs: mask at the input size, mask at the working size (display orientation), the SIJ
location on the working mask, and timings.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from sijscan.anatomy.localize import SIJLocation, locate_sij
from sijscan.errors import InputError, ModelError
from sijscan.modelfolder import ModelCard, load_model

log = logging.getLogger(__name__)

_PIL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


@dataclass
class Segmentation:
    """A segmentation of one radiograph, in display orientation."""

    labels: np.ndarray  # uint8, the input's (H, W)
    working_labels: np.ndarray  # uint8, working size, what localisation runs on
    location: SIJLocation
    timings: dict[str, float] = field(default_factory=dict)


class Segmenter:
    """A loaded segmenter model folder: network + card; call :meth:`segment` on grey arrays."""

    def __init__(self, network: torch.nn.Module, card: ModelCard, *, device: str = "cpu", fast: bool = False) -> None:
        if card.kind != "segmenter":
            raise ModelError(f"{card.path}: model kind is {card.kind!r}, expected 'segmenter'")
        self.card = card
        self.recipe: dict[str, Any] = dict(card.recipe)
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        self.fast = bool(fast)  # one pass instead of sliding windows: see sijscan.anatomy.inference

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str], *, device: str = "cpu", backend: str = "torch",
             fast: bool = False) -> "Segmenter":
        """``backend="onnx"``: the folder's exported ONNX file in onnxruntime. ``fast``: one pass, not windows."""
        if backend != "torch":
            from sijscan.predict.onnx_backend import check_backend, load_onnx_network

            check_backend(backend)
            network, card = load_onnx_network(model_dir, device=device)
            return cls(network, card, device=device, fast=fast)
        network, card = load_model(model_dir, map_location="cpu")
        return cls(network, card, device=device, fast=fast)

    # --- preprocessing -------------------------------------------------------------------------
    def preprocess(self, pixels: np.ndarray, *, already_scaled: bool = False) -> torch.Tensor:
        """Grey (H, W) array -> (1, 1, h, w) float32 tensor at the working size, per the recipe."""
        return preprocess_array(pixels, recipe=self.recipe, already_scaled=already_scaled)

    # --- inference -----------------------------------------------------------------------------
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        from sijscan.anatomy.inference import infer_logits  # execution (exact or --fast) lives there

        return infer_logits(self.network, x.to(self.device), self.recipe.get("inference"), fast=self.fast)

    def postprocess(self, logits: torch.Tensor) -> np.ndarray:
        """(1, C, h, w) logits -> uint8 (h, w) labels in the NETWORK's frame (maybe transposed)."""
        lab = torch.argmax(logits[0].float(), dim=0).cpu().numpy().astype(np.int64)
        if self.recipe.get("postprocess", {}).get("largest_component", True):
            lab = keep_largest_components(lab)
        return lab.astype(np.uint8)

    def resize_back(self, lab: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Working-frame labels -> input size (H, W), display orientation."""
        transposed = bool(self.recipe.get("transposed", False))
        target = (shape[1], shape[0]) if transposed else shape
        mode = self.recipe.get("resize_back", "nearest")
        if mode == "nearest":
            import cv2

            out = cv2.resize(lab, (target[1], target[0]), interpolation=cv2.INTER_NEAREST)
        elif mode == "area_truncate":
            t = torch.as_tensor(lab, dtype=torch.float32)[None, None]
            out = F.interpolate(t, size=target, mode="area")[0, 0].to(torch.uint8).numpy()
        else:
            raise ModelError(f"unknown resize_back {mode!r} in recipe")
        return np.ascontiguousarray(out.T if transposed else out)

    def segment(self, pixels: np.ndarray, *, already_scaled: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(labels at input size, labels at working size)``, both display orientation."""
        arr = np.asarray(pixels)
        if arr.ndim != 2 or min(arr.shape) < 2:
            raise InputError(f"expected a 2-D grey image, got shape {arr.shape}")
        return self.labels_from_logits(self.logits(self.preprocess(arr, already_scaled=already_scaled)),
                                       shape=(int(arr.shape[0]), int(arr.shape[1])))

    def labels_from_logits(self, logits: torch.Tensor, *, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(1, C, h, w) logits -> ``(labels at input size shape, labels at working size)``, display orientation."""
        work = self.postprocess(logits)
        full = self.resize_back(work, shape)
        work_disp = np.ascontiguousarray(work.T) if self.recipe.get("transposed", False) else work
        return full, work_disp


def preprocess_array(pixels: np.ndarray, *, recipe: dict[str, Any], already_scaled: bool = False) -> torch.Tensor:
    """Grey (H, W) array -> (1, 1, h, w) float32 tensor at the recipe's working size.

    Order: input scale, optional transposition, resize (``resize_mode``), z-score over the whole
    image (population std; 0 -> 1, as MONAI ``NormalizeIntensity``), optional Gaussian smoothing
    (MONAI ``GaussianSmooth``), optional linear rescale to ``rescale`` (as MONAI ``ScaleIntensity``).
    """
    rec = recipe
    x = torch.as_tensor(np.ascontiguousarray(pixels), dtype=torch.float32)
    if not already_scaled and float(rec.get("input_scale", 1.0)) != 1.0:
        x = x * float(rec["input_scale"])
    if rec.get("transposed", False):
        x = x.T.contiguous()
    size = tuple(int(v) for v in rec["working_size"])
    mode = rec.get("resize_mode", "area")
    if mode == "cv2_area":  # OpenCV INTER_AREA: the same box average, several times faster on CPU
        import cv2

        x = torch.from_numpy(cv2.resize(x.numpy(), (size[1], size[0]), interpolation=cv2.INTER_AREA))[None, None]
    else:
        x = F.interpolate(x[None, None], size=size, mode=mode)
    if rec.get("normalisation", "zscore") == "zscore":
        mean = torch.mean(x).item()
        std = torch.std(x, unbiased=False).item()
        x = (x - mean) / (std if std != 0.0 else 1.0)
    elif rec.get("normalisation") not in (None, "none"):
        raise ModelError(f"unknown normalisation {rec.get('normalisation')!r} in recipe")
    if rec.get("gaussian_sigma"):
        from monai.transforms import GaussianSmooth

        x = torch.as_tensor(GaussianSmooth(sigma=float(rec["gaussian_sigma"]))(x[0]), dtype=torch.float32)[None]
    if rec.get("rescale"):
        lo, hi = (float(v) for v in rec["rescale"])
        mn, mx = x.min(), x.max()
        x = x * lo if mn == mx else (x - mn) / (mx - mn) * (hi - lo) + lo
    return torch.as_tensor(x).float()


def keep_largest_components(lab: np.ndarray) -> np.ndarray:
    """Keep the largest 8-connected component of every non-zero class; the rest becomes 0."""
    out = lab.copy()
    full = np.ones((3, 3), bool)
    for cls in np.unique(lab):
        if cls == 0:
            continue
        mask = lab == cls
        cc, n = ndimage.label(mask, structure=full)
        if n > 1:
            sizes = np.bincount(cc.ravel())
            sizes[0] = 0
            out[mask & (cc != int(np.argmax(sizes)))] = 0
    return out


def read_for_recipe(path: str | os.PathLike[str], recipe: dict[str, Any]) -> tuple[np.ndarray, bool]:
    """Read a radiograph as the recipe expects; return ``(grey array, already_scaled)``.

    With ``grey_weights`` in the recipe (the published model), PNG/JPG/BMP are read with PIL and
    converted with exactly those weights at their stored 8-bit scale, as the authors' app does.
    Everything else goes through :func:`sijscan.io.read_radiograph` (display pixels in [0, 1]).
    """
    p = Path(path)
    if recipe.get("grey_weights") and p.suffix.lower() in _PIL_SUFFIXES:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(p) as im:
                arr = np.asarray(im)
        except (OSError, UnidentifiedImageError) as exc:
            raise InputError(f"{p}: cannot read image ({exc})") from exc
        arr = arr.astype(np.float32)
        if arr.ndim == 3:
            wr, wg, wb = (float(w) for w in recipe["grey_weights"])
            arr = arr[..., 0] * wr + arr[..., 1] * wg + arr[..., 2] * wb
        return arr, True
    try:
        from sijscan.io import read_radiograph  # type: ignore[attr-defined]
    except ImportError:
        read_radiograph = None
    if read_radiograph is not None:
        return np.asarray(read_radiograph(p).pixels, dtype=np.float32), False
    return _read_plain(p), False


def _read_plain(p: Path) -> np.ndarray:
    """Fallback reader while :mod:`sijscan.io` is not available: 8/16-bit grey or RGB via OpenCV."""
    import cv2

    if not p.is_file():
        raise InputError(f"{p}: file not found")
    img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputError(f"{p}: cannot read image")
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2GRAY)
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    return img.astype(np.float32) / scale


def segment_and_locate(segmenter: Segmenter, pixels: np.ndarray, *, already_scaled: bool = False,
                       **locate_kwargs: Any) -> Segmentation:
    """Segment one grey image and locate its SIJs on the working-size mask."""
    t0 = time.perf_counter()
    full, work = segmenter.segment(pixels, already_scaled=already_scaled)
    t1 = time.perf_counter()
    kwargs = {**segmenter.recipe.get("localize", {}), **locate_kwargs}
    location = locate_sij(work, **kwargs)
    t2 = time.perf_counter()
    return Segmentation(labels=full, working_labels=work, location=location,
                        timings={"segment_s": round(t1 - t0, 4), "locate_s": round(t2 - t1, 4)})
